//! RabbitMQ: watches the local node and the cluster as that node sees it, through the node's
//! management API and its AMQP port.
//!
//! Two loops publish into one snapshot:
//! - every `interval` (10 s): /api/overview, /api/nodes, /api/policies and
//!   /api/health/checks/alarms, concurrently, each under `timeout`; then the AMQP round-trip
//!   probe (see [`probe`]) under `probe_timeout`. This is the state the check decides on.
//! - every `queue_interval` (30 s or more): one streamed scan of the queue listing (see
//!   [`queues`]), summarised into counts. Kept apart because listing every queue is the most
//!   expensive thing we ask of the broker and nothing in the check depends on it.
//!
//! The local node is the one that answers /api/overview (`node`). A stopped app (`rabbitmqctl
//! stop_app`) takes the management listener down with it, so the local view then is "management
//! API unreachable"; the other nodes' collectors see the node as not running.
//!
//! Version matters: on 3.x, `ha-mode` policies mirror classic queues; 4.x removed mirroring and
//! ignores `ha-mode`, so there an HA policy is reported as ineffective and quorum queues are what
//! protects messages. "Healthy" (and whether the expected policies hold) is decided in
//! [`crate::health::rabbitmq`]; this module only observes and publishes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::collectors::{publisher, CollectorStats, Feed, Publisher, Ticker};
use crate::config::{RabbitmqConfig, RabbitmqCredentials};

pub mod api;
pub mod probe;
pub mod queues;

use api::{timed, Alarm, ApiError, CallStats, Client, Node, Overview, Policy};
use probe::{Probe, ProbeOutcome};
use queues::{QueueSummary, Rules, Scan};

/// What one successful node/policy poll saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterState {
    pub overview: Overview,
    pub nodes: Vec<Node>,
    pub policies: Vec<Policy>,
    /// Alarms in effect anywhere in the cluster.
    pub alarms: Vec<Alarm>,
    /// Where the alarms came from: `health_check` (immediate) or `nodes` (statistics, lagging
    /// a few seconds; used on servers without /api/health/checks).
    pub alarms_source: &'static str,
}

impl ClusterState {
    pub fn local_node(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == self.overview.node)
    }

    /// 4.x dropped classic queue mirroring.
    pub fn mirroring_supported(&self) -> bool {
        let major = self.overview.major_version();
        major == 0 || major < 4
    }

    pub fn local_alarms(&self) -> impl Iterator<Item = &Alarm> {
        self.alarms
            .iter()
            .filter(move |a| a.node == self.overview.node)
    }
}

/// The node/policy side of the snapshot.
#[derive(Debug, Clone)]
pub struct ClusterPart {
    /// When the poll that produced this finished; `None` before the first poll.
    pub taken_at: Option<Instant>,
    pub outcome: Result<Arc<ClusterState>, ApiError>,
    pub stats: CollectorStats,
}

#[derive(Debug, Clone)]
pub struct QueuePart {
    pub taken_at: Option<Instant>,
    pub outcome: Result<Arc<QueueSummary>, ApiError>,
    pub stats: CollectorStats,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeCounts {
    pub success: u64,
    pub blocked: u64,
    pub failed: u64,
}

#[derive(Debug, Clone)]
pub struct ProbePart {
    pub taken_at: Option<Instant>,
    pub outcome: Option<ProbeOutcome>,
    pub duration: Duration,
    pub counts: ProbeCounts,
}

/// The latest observation, published after every poll of either loop. Immutable once published.
#[derive(Debug, Clone)]
pub struct RabbitSnapshot {
    pub cluster: ClusterPart,
    pub queues: QueuePart,
    pub probe: ProbePart,
    /// Per management API call (see [`api::CALLS`]).
    pub api_calls: BTreeMap<&'static str, CallStats>,
}

impl RabbitSnapshot {
    pub fn initial() -> Self {
        let not_yet = || ApiError::Unreachable("no poll has completed yet".into());
        Self {
            cluster: ClusterPart {
                taken_at: None,
                outcome: Err(not_yet()),
                stats: CollectorStats::new(),
            },
            queues: QueuePart {
                taken_at: None,
                outcome: Err(not_yet()),
                stats: CollectorStats::new(),
            },
            probe: ProbePart {
                taken_at: None,
                outcome: None,
                duration: Duration::ZERO,
                counts: ProbeCounts::default(),
            },
            api_calls: BTreeMap::new(),
        }
    }

    pub fn cluster(&self) -> Option<&ClusterState> {
        self.cluster.outcome.as_ref().ok().map(|s| s.as_ref())
    }
}

pub type RabbitWatch = watch::Receiver<Arc<RabbitSnapshot>>;

/// Start both loops; they stop when `shutdown` is cancelled.
pub fn spawn(
    config: RabbitmqConfig,
    credentials: RabbitmqCredentials,
    shutdown: CancellationToken,
) -> Result<(Feed<RabbitSnapshot>, Vec<tokio::task::JoinHandle<()>>), ApiError> {
    let client = Client::new(&config, credentials.clone())?;
    let probe = config.probe.then(|| Probe::new(&config, &credentials));
    let (tx, feed) = publisher(RabbitSnapshot::initial());
    let tx = Arc::new(tx);
    let mut tasks = vec![tokio::spawn(
        ClusterPoller {
            config: config.clone(),
            client: client.clone(),
            probe,
            stats: CollectorStats::new(),
            calls: BTreeMap::new(),
            probe_counts: ProbeCounts::default(),
            auth_failed: false,
            local_node: None,
        }
        .run(tx.clone(), shutdown.clone()),
    )];
    if config.scan_queues {
        tasks.push(tokio::spawn(queue_loop(config, client, tx, shutdown)));
    }
    Ok((feed, tasks))
}

struct ClusterPoller {
    config: RabbitmqConfig,
    client: Client,
    probe: Option<Probe>,
    stats: CollectorStats,
    calls: BTreeMap<&'static str, CallStats>,
    probe_counts: ProbeCounts,
    /// Whether the last poll failed on credentials (logged once per change, with a hint).
    auth_failed: bool,
    /// The node name the local management API answered as last (logged at first and on change:
    /// it is the RabbitMQ name of this node, whatever `node_name` says).
    local_node: Option<String>,
}

impl ClusterPoller {
    async fn run(mut self, tx: Arc<Publisher<RabbitSnapshot>>, shutdown: CancellationToken) {
        tracing::info!(management_url = %self.config.management_url,
            amqp = %format!("{}:{}", self.config.amqp_host, self.config.amqp_port),
            interval = ?self.config.interval, probe = self.config.probe, "rabbitmq poller started");
        let mut ticker = Ticker::new(self.config.interval);
        while ticker.tick(&shutdown).await {
            let started = Instant::now();
            let outcome = self.poll().await;
            let finished = Instant::now();
            self.stats
                .record(outcome.is_ok(), finished - started, finished);
            let cluster = ClusterPart {
                taken_at: Some(finished),
                outcome: outcome.map(Arc::new),
                stats: self.stats.clone(),
            };
            // The probe runs even when the API fails: "AMQP works, the API does not" is worth
            // knowing, and the verdict needs a fresh probe when the API comes back.
            let probe = match &self.probe {
                Some(probe) => {
                    let probe_started = Instant::now();
                    let outcome = tokio::select! {
                        outcome = probe.run() => outcome,
                        _ = shutdown.cancelled() => break,
                    };
                    match &outcome {
                        ProbeOutcome::Success { .. } => self.probe_counts.success += 1,
                        ProbeOutcome::Blocked { .. } => self.probe_counts.blocked += 1,
                        ProbeOutcome::Failed { .. } => self.probe_counts.failed += 1,
                    }
                    Some(ProbePart {
                        taken_at: Some(Instant::now()),
                        outcome: Some(outcome),
                        duration: probe_started.elapsed(),
                        counts: self.probe_counts.clone(),
                    })
                }
                None => None,
            };
            let calls = self.calls.clone();
            self.log_credentials(&cluster);
            self.log_local_node(&cluster);
            tx.update(|next| {
                next.cluster = cluster;
                if let Some(probe) = probe {
                    next.probe = probe;
                }
                next.api_calls.extend(calls);
            });
        }
        tracing::info!("rabbitmq poller stopped");
    }

    /// Log this node's RabbitMQ name (what the local management API answers as) when first seen
    /// and when it changes.
    fn log_local_node(&mut self, cluster: &ClusterPart) {
        let Ok(state) = &cluster.outcome else { return };
        let node = &state.overview.node;
        if self.local_node.as_ref() == Some(node) {
            return;
        }
        match self.local_node.replace(node.clone()) {
            None => tracing::info!(node = %node, "rabbitmq: this node's name"),
            Some(old) => {
                tracing::warn!(old = %old, node = %node, "rabbitmq: this node's name changed")
            }
        }
    }

    async fn poll(&mut self) -> Result<ClusterState, ApiError> {
        let mut overview_stats = self.calls.remove("overview").unwrap_or_default();
        let mut nodes_stats = self.calls.remove("nodes").unwrap_or_default();
        let mut policies_stats = self.calls.remove("policies").unwrap_or_default();
        let mut alarms_stats = self.calls.remove("alarms").unwrap_or_default();
        // Concurrently: a hung API costs one timeout per poll, not four.
        let (overview, nodes, policies, alarms) = tokio::join!(
            timed(&mut overview_stats, self.client.overview()),
            timed(&mut nodes_stats, self.client.nodes()),
            timed(&mut policies_stats, self.client.policies()),
            timed(&mut alarms_stats, self.client.alarms()),
        );
        self.calls.insert("overview", overview_stats);
        self.calls.insert("nodes", nodes_stats);
        self.calls.insert("policies", policies_stats);
        self.calls.insert("alarms", alarms_stats);
        let overview = overview?;
        let nodes = nodes?;
        let policies = policies?;
        let (alarms, alarms_source) = match alarms? {
            Some(alarms) => (alarms, "health_check"),
            None => (alarms_from_nodes(&nodes), "nodes"),
        };
        Ok(ClusterState {
            overview,
            nodes,
            policies,
            alarms,
            alarms_source,
        })
    }

    /// Wrong credentials need an operator, not a retry: say so once, with where to look. (The
    /// verdict's transitions are logged by [`crate::transitions`] like every subsystem's.)
    fn log_credentials(&mut self, cluster: &ClusterPart) {
        let failed = matches!(cluster.outcome, Err(ApiError::AuthenticationFailed(_)));
        if failed && !self.auth_failed {
            if let Err(error) = &cluster.outcome {
                tracing::error!(%error,
                    "rabbitmq: authentication failed; check rabbitmq.user/password or the credentials file");
            }
        }
        self.auth_failed = failed;
    }
}

/// Old servers (no health-check endpoints): alarms as the node statistics show them. They have
/// no file-descriptor alarm flag.
fn alarms_from_nodes(nodes: &[Node]) -> Vec<Alarm> {
    let mut alarms = Vec::new();
    for node in nodes {
        if node.mem_alarm {
            alarms.push(Alarm {
                node: node.name.clone(),
                resource: api::alarm_resource("mem_alarm"),
            });
        }
        if node.disk_free_alarm {
            alarms.push(Alarm {
                node: node.name.clone(),
                resource: api::alarm_resource("disk_free_alarm"),
            });
        }
    }
    alarms
}

async fn queue_loop(
    config: RabbitmqConfig,
    client: Client,
    tx: Arc<Publisher<RabbitSnapshot>>,
    shutdown: CancellationToken,
) {
    let mut rx = tx.subscribe();
    let mut stats = CollectorStats::new();
    let mut call = CallStats::default();
    let mut last_error: Option<String> = None;
    let mut ticker = Ticker::new(config.queue_interval);
    while ticker.tick(&shutdown).await {
        // Which policies mirror and whether this version mirrors at all come from the node
        // poll: wait for its first success rather than guess.
        let rules = loop {
            let rules = rx.borrow_and_update().cluster().map(|state| Rules {
                ha_policies: state
                    .policies
                    .iter()
                    .filter(|p| p.definition.get("ha-mode").is_some())
                    .map(|p| (p.vhost.clone(), p.name.clone()))
                    .collect(),
                mirroring_supported: state.mirroring_supported(),
            });
            if let Some(rules) = rules {
                break Some(rules);
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break None },
                _ = shutdown.cancelled() => break None,
            }
        };
        let Some(rules) = rules else { break };
        let started = Instant::now();
        let outcome = timed(&mut call, scan(&client, &config, &rules)).await;
        let finished = Instant::now();
        stats.record(outcome.is_ok(), finished - started, finished);
        match &outcome {
            Ok(summary) => {
                if last_error.take().is_some() {
                    tracing::info!("rabbitmq queue scan works again");
                }
                tracing::debug!(
                    queues = summary.total,
                    bytes = summary.bytes,
                    seconds = (finished - started).as_secs_f64(),
                    "rabbitmq queue scan done"
                );
            }
            Err(error) => {
                let text = error.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "rabbitmq queue scan failed");
                    last_error = Some(text);
                }
            }
        }
        let part = QueuePart {
            taken_at: Some(finished),
            outcome: outcome.map(Arc::new),
            stats: stats.clone(),
        };
        let call = call.clone();
        tx.update(|next| {
            next.queues = part;
            next.api_calls.insert("queues", call);
        });
    }
}

/// One queue scan under the caps and the call timeout (reqwest's covers the whole body).
async fn scan(
    client: &Client,
    config: &RabbitmqConfig,
    rules: &Rules,
) -> Result<QueueSummary, ApiError> {
    let path = format!("/api/queues?disable_stats=true&columns={}", queues::COLUMNS);
    let response = client.get("queues", &path, false).await?;
    let mut scan = Scan::new(rules, config.max_queues, config.max_queue_bytes);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| client.body_error("queues", e))?;
        scan.feed(&chunk)?;
    }
    scan.finish()
}
