//! Pacemaker: watches the cluster manager of the controllers (quorum, nodes, resources, failures)
//! and, for the VIP checks, this host's interface addresses.
//!
//! Every `interval` the poller runs `crm_mon -1 --output-as=xml` (falling back once, for good, to
//! the deprecated `--as-xml` when crm_mon does not know the option: Pacemaker 1.1),
//! `cibadmin --query --scope constraints`, `cibadmin --query --scope resources` (the IPaddr2
//! parameters, when VIPs are watched) and, when `node_name` is unset, `crm_node -n` (this node's
//! name as the cluster knows it) side by side, each as a plain subprocess (no shell) killed with
//! its process group after `timeout`; `CIB_file` makes the first three read a CIB file instead of
//! the live cluster. The output is parsed with quick-xml ([`crm_mon`], [`constraints`],
//! [`resources`]) and published as an immutable snapshot; getifaddrs(3) gives the local
//! addresses ([`local`]). Each snapshot carries the one before it (without its own predecessor),
//! so a decision may ask "seen in two consecutive polls".
//!
//! The collector is up when crm_mon answered with the cluster's state. A missing, failing, hung or
//! garbage-printing crm_mon makes it down with a one-line reason; an unreadable constraints
//! section only blanks the colocation results. "Healthy" is decided in
//! [`crate::health::pacemaker`] and [`crate::health::vip`]; this module only observes.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::collectors::{publisher, CollectorStats, Feed, Publisher, Ticker};
use crate::config::PacemakerConfig;

pub mod command;
pub mod constraints;
pub mod crm_mon;
pub mod local;
pub mod resources;
pub mod xml;

use command::{Output, ToolError};
use constraints::Constraints;
use crm_mon::{ClusterState, CrmMonError, OutputFormat};
use local::LocalAddress;
use resources::IpAddr2;
use serde::Serialize;

/// crm_mon's exit status for a command-line usage error (CRM_EX_USAGE).
const CRM_EX_USAGE: i32 = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollError {
    #[error("{0}")]
    Tool(#[from] ToolError),
    /// crm_mon exited non-zero without a report we could read.
    #[error("crm_mon exited with {}{}: {parse}", .code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into()), if .stderr.is_empty() { String::new() } else { format!(" ({})", .stderr) })]
    Exited {
        code: Option<i32>,
        stderr: String,
        parse: CrmMonError,
    },
    #[error("{0}")]
    CrmMon(#[from] CrmMonError),
    #[error("no poll has completed yet")]
    NeverPolled,
}

/// What one successful poll saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Polled {
    pub cluster: ClusterState,
    /// The constraints section, or why it could not be read.
    pub constraints: Result<Constraints, String>,
    /// The IPaddr2 primitives' parameters (read only when VIPs are watched), or why they could
    /// not be read.
    pub ipaddr2: Result<Vec<IpAddr2>, String>,
}

/// This node's name in the Pacemaker cluster, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", content = "value", rename_all = "snake_case")]
pub enum LocalNode {
    /// `node_name` in the configuration.
    Configured(String),
    /// `crm_node -n`, asked in this poll.
    CrmNode(String),
    /// `crm_node -n` failed: why. Pacemaker's view of this node is unknown.
    Unknown(String),
}

impl LocalNode {
    pub fn name(&self) -> Option<&str> {
        match self {
            LocalNode::Configured(n) | LocalNode::CrmNode(n) => Some(n),
            LocalNode::Unknown(_) => None,
        }
    }

    /// Where the name came from, for reasons: `node_name` or `crm_node -n`.
    pub fn source(&self) -> &'static str {
        match self {
            LocalNode::Configured(_) => "node_name",
            LocalNode::CrmNode(_) | LocalNode::Unknown(_) => "crm_node -n",
        }
    }
}

/// The latest observation, published after every poll. Immutable once published.
#[derive(Debug, Clone)]
pub struct PacemakerSnapshot {
    /// When the poll that produced this finished; `None` before the first poll.
    pub taken_at: Option<Instant>,
    pub outcome: Result<Arc<Polled>, PollError>,
    /// This host's addresses, read on every poll when VIPs are watched (`None` otherwise). Kept
    /// apart from `outcome`: whether this host holds an address is known even when crm_mon fails,
    /// and must still be exported so "two hosts hold the VIP" stays visible.
    pub local_addresses: Option<Result<Vec<LocalAddress>, String>>,
    /// This node's Pacemaker name for this poll.
    pub node: LocalNode,
    /// The snapshot published before this one (its own `previous` dropped), for rules that need
    /// a condition seen in two consecutive polls (a VIP address left behind).
    pub previous: Option<Arc<PacemakerSnapshot>>,
    pub format: OutputFormat,
    pub stats: CollectorStats,
}

impl PacemakerSnapshot {
    pub fn initial() -> Self {
        Self {
            taken_at: None,
            outcome: Err(PollError::NeverPolled),
            local_addresses: None,
            node: LocalNode::Unknown("no poll yet".to_owned()),
            previous: None,
            format: OutputFormat::Xml,
            stats: CollectorStats::new(),
        }
    }

    pub fn cluster(&self) -> Option<&ClusterState> {
        self.outcome.as_ref().ok().map(|p| &p.cluster)
    }
}

pub type PacemakerWatch = watch::Receiver<Arc<PacemakerSnapshot>>;

/// Start the poll loop; it stops when `shutdown` is cancelled. `read_addresses`: also read this
/// host's interface addresses and the IPaddr2 parameters (the VIP checks need them).
/// `node_name`: the configured name of this node; `None` asks `crm_node -n` on every poll.
pub fn spawn(
    config: PacemakerConfig,
    node_name: Option<String>,
    read_addresses: bool,
    shutdown: CancellationToken,
) -> (Feed<PacemakerSnapshot>, tokio::task::JoinHandle<()>) {
    let (tx, feed) = publisher(PacemakerSnapshot::initial());
    let poller = Poller {
        config,
        node_name,
        read_addresses,
        format: OutputFormat::Xml,
        stats: CollectorStats::new(),
        last_node: None,
        last: None,
    };
    let handle = tokio::spawn(poller.run(tx, shutdown));
    (feed, handle)
}

struct Poller {
    config: PacemakerConfig,
    node_name: Option<String>,
    read_addresses: bool,
    /// The crm_mon output format in use; switches to Legacy once if crm_mon rejects the other.
    format: OutputFormat,
    stats: CollectorStats,
    /// The node name of the last poll, to log it when it changes.
    last_node: Option<LocalNode>,
    /// The last published snapshot (without its predecessor).
    last: Option<Arc<PacemakerSnapshot>>,
}

impl Poller {
    async fn run(mut self, tx: Publisher<PacemakerSnapshot>, shutdown: CancellationToken) {
        tracing::info!(crm_mon = %self.config.crm_mon_path.display(),
            cib_file = ?self.config.cib_file, interval = ?self.config.interval,
            timeout = ?self.config.timeout, node_name = ?self.node_name,
            "pacemaker poller started");
        let mut ticker = Ticker::new(self.config.interval);
        while ticker.tick(&shutdown).await {
            let snapshot = tokio::select! {
                snapshot = self.poll() => snapshot,
                // Dropping the poll kills its children (kill_on_drop).
                _ = shutdown.cancelled() => break,
            };
            self.log_node(&snapshot.node);
            self.last = Some(Arc::new(PacemakerSnapshot {
                previous: None,
                ..snapshot.clone()
            }));
            tx.publish(snapshot);
        }
        tracing::info!("pacemaker poller stopped");
    }

    async fn poll(&mut self) -> PacemakerSnapshot {
        let started = Instant::now();
        // Side by side: a poll costs the slower of the two, not their sum.
        let (cluster, constraints, ipaddr2, node) = tokio::join!(
            crm_mon(&self.config, &mut self.format),
            read_constraints(&self.config),
            read_ipaddr2(&self.config, self.read_addresses),
            local_node(&self.config, self.node_name.as_deref()),
        );
        let local_addresses = self.read_addresses.then(local::addresses);
        let finished = Instant::now();
        self.stats
            .record(cluster.is_ok(), finished - started, finished);
        let outcome = cluster.map(|cluster| {
            Arc::new(Polled {
                cluster,
                constraints,
                ipaddr2,
            })
        });
        PacemakerSnapshot {
            taken_at: Some(finished),
            outcome,
            local_addresses,
            node,
            // One step back only: the chain must not grow with every poll.
            previous: self.last.clone(),
            format: self.format,
            stats: self.stats.clone(),
        }
    }

    /// Log the node name at the first poll and whenever it changes (or cannot be read).
    fn log_node(&mut self, node: &LocalNode) {
        if self.last_node.as_ref() == Some(node) {
            return;
        }
        let host = hostname::get()
            .ok()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        match node {
            LocalNode::Unknown(why) => {
                tracing::warn!(host = %host, error = %why, "pacemaker: cannot tell this node's name (crm_node -n)")
            }
            LocalNode::Configured(name) | LocalNode::CrmNode(name) => match &self.last_node {
                Some(LocalNode::Configured(old) | LocalNode::CrmNode(old)) => {
                    tracing::warn!(host = %host, old = %old, node = %name, source = node.source(),
                        "pacemaker: this node's name changed")
                }
                _ => tracing::info!(host = %host, node = %name, source = node.source(),
                    "pacemaker: this node's name"),
            },
        }
        self.last_node = Some(node.clone());
    }
}

/// This node's name: the configured one, else what `crm_node -n` says now.
async fn local_node(config: &PacemakerConfig, configured: Option<&str>) -> LocalNode {
    if let Some(name) = configured {
        return LocalNode::Configured(name.to_owned());
    }
    let output = match command::run(&config.crm_node_path, &["-n"], &[], config.timeout).await {
        Ok(output) => output,
        Err(e) => return LocalNode::Unknown(e.to_string()),
    };
    let name = output.stdout.trim();
    if !output.status.success() || name.is_empty() || name.contains(char::is_whitespace) {
        let stderr = output.stderr_line();
        return LocalNode::Unknown(format!(
            "{} -n exited with {}{}",
            config.crm_node_path.display(),
            output.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!(" ({})", stderr.chars().take(200).collect::<String>())
            }
        ));
    }
    LocalNode::CrmNode(name.to_owned())
}

fn envs(config: &PacemakerConfig) -> Vec<(&'static str, &OsStr)> {
    match &config.cib_file {
        Some(path) => vec![("CIB_file", path.as_os_str())],
        None => Vec::new(),
    }
}

/// Run crm_mon in `format`; switch `format` to Legacy for good if crm_mon rejects the option.
async fn crm_mon(
    config: &PacemakerConfig,
    format: &mut OutputFormat,
) -> Result<ClusterState, PollError> {
    let output = run_crm_mon(config, *format).await?;
    if *format == OutputFormat::Xml && rejects_output_as(&output) {
        tracing::warn!(
            stderr = output.stderr_line(),
            "crm_mon does not know --output-as=xml (Pacemaker 1.1?); using --as-xml from now on"
        );
        *format = OutputFormat::Legacy;
        return interpret(run_crm_mon(config, *format).await?);
    }
    interpret(output)
}

async fn run_crm_mon(config: &PacemakerConfig, format: OutputFormat) -> Result<Output, ToolError> {
    command::run(
        &config.crm_mon_path,
        format.args(),
        &envs(config),
        config.timeout,
    )
    .await
}

/// The IPaddr2 parameters; an empty list when VIPs are not watched (no cibadmin run).
async fn read_ipaddr2(config: &PacemakerConfig, wanted: bool) -> Result<Vec<IpAddr2>, String> {
    if !wanted {
        return Ok(Vec::new());
    }
    let xml = query_cib(config, "resources").await?;
    resources::parse(&xml).map_err(|e| e.to_string())
}

async fn read_constraints(config: &PacemakerConfig) -> Result<Constraints, String> {
    let xml = query_cib(config, "constraints").await?;
    constraints::parse(&xml).map_err(|e| e.to_string())
}

/// One section of the CIB (`cibadmin --query --scope SCOPE`), or why it could not be read.
async fn query_cib(config: &PacemakerConfig, scope: &str) -> Result<String, String> {
    let output = command::run(
        &config.cibadmin_path,
        &["--query", "--scope", scope],
        &envs(config),
        config.timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "cibadmin exited with {}: {}",
            output.status,
            output.stderr_line()
        ));
    }
    Ok(output.stdout)
}

/// crm_mon refused `--output-as`: a usage error with nothing on stdout.
fn rejects_output_as(output: &Output) -> bool {
    let stderr = output.stderr.to_ascii_lowercase();
    output.stdout.trim().is_empty()
        && !output.status.success()
        && (output.status.code() == Some(CRM_EX_USAGE)
            || stderr.contains("output-as")
            || stderr.contains("unrecognized option")
            || stderr.contains("unknown option"))
}

/// crm_mon's report decides; its exit status only explains output we could not read.
fn interpret(output: Output) -> Result<ClusterState, PollError> {
    match crm_mon::parse(&output.stdout) {
        Ok(state) => Ok(state),
        Err(e @ CrmMonError::Reported { .. }) => Err(e.into()),
        Err(parse) if !output.status.success() => Err(PollError::Exited {
            code: output.status.code(),
            stderr: output.stderr_line().chars().take(200).collect(),
            parse,
        }),
        Err(e) => Err(e.into()),
    }
}
