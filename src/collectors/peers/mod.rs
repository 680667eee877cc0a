//! Peers: the other controllers' clustercheckd daemons, polled for their /status.
//!
//! Every `peers.interval` (2 s) one round asks every peer at once (`GET URL`, with the peers'
//! CA and basic auth when configured), each under `peers.timeout` (which is below the interval,
//! so a round always ends before the next starts). A peer that does not answer, answers an
//! error status or a body that is not a /status document is reported as unreachable with a
//! one-line error; nothing else changes: peer failures are reported, never fatal. The poll runs
//! in the background: no check ever waits on a peer.
//!
//! Each round is published with the one before it ([`PeersSnapshot::latest`],
//! [`PeersSnapshot::previous`]), because the stale-view rule needs two rounds in a row. What the
//! answers mean (do the views agree, is this node stale) is decided in
//! [`crate::health::cluster`]; this module only observes. The collector counts as up when at
//! least one peer answered the last round (`clustercheckd_peer_up` says which ones did).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::collectors::{publisher, CollectorStats, Feed, Publisher, Ticker};
use crate::config::PeersConfig;

pub mod status;

pub use status::{PeerGalera, PeerMember, PeerStatus, WriterClaim};

/// A /status document is a few KiB (tens with Pacemaker); a bigger answer is not one.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why one peer gave no usable answer. One line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("no answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("{0}")]
    Unreachable(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answer larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("{0}")]
    Document(#[from] status::StatusDocError),
}

/// One peer's answer in one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerAnswer {
    pub url: String,
    #[serde(skip)]
    pub outcome: Result<PeerStatus, PeerError>,
    /// When the request was sent.
    #[serde(skip)]
    pub sent: Instant,
    /// The earliest moment the peer's Galera answer can have been observed at: `sent` minus the
    /// age of the peer's snapshot. Evidence about the cluster "after X" must be observed after X.
    #[serde(skip)]
    pub observed_at: Option<Instant>,
    #[serde(serialize_with = "crate::collectors::seconds")]
    pub duration: Duration,
    /// Rounds in a row this peer failed (0 when it answered).
    pub consecutive_failures: u64,
    #[serde(skip)]
    pub last_success_wall: Option<SystemTime>,
}

impl PeerAnswer {
    pub fn galera(&self) -> Option<&PeerGalera> {
        self.outcome.as_ref().ok().and_then(|s| s.galera.as_ref())
    }
}

/// Every peer's answer in one round, in the configured order.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub started: Instant,
    pub finished: Instant,
    pub answers: Vec<PeerAnswer>,
}

/// The latest observation, published after every round. Immutable once published.
#[derive(Debug, Clone, Default)]
pub struct PeersSnapshot {
    /// When the latest round finished; `None` before the first one.
    pub taken_at: Option<Instant>,
    pub latest: Option<Arc<Round>>,
    /// The round before `latest`.
    pub previous: Option<Arc<Round>>,
    pub stats: CollectorStats,
}

pub type PeersWatch = watch::Receiver<Arc<PeersSnapshot>>;

/// Why the collector could not start (the HTTP client cannot be built).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("peers: {0}")]
    Tls(String),
    #[error("peers: HTTP client: {0}")]
    Client(String),
}

/// Start the poll loop; it stops when `shutdown` is cancelled.
pub fn spawn(
    config: PeersConfig,
    shutdown: CancellationToken,
) -> Result<(Feed<PeersSnapshot>, tokio::task::JoinHandle<()>), StartError> {
    let client = client(&config)?;
    let (tx, feed) = publisher(PeersSnapshot::default());
    let poller = Poller {
        failures: vec![0; config.urls.len()],
        last_success: vec![None; config.urls.len()],
        logged: vec![None; config.urls.len()],
        config,
        client,
        stats: CollectorStats::new(),
        latest: None,
    };
    Ok((feed, tokio::spawn(poller.run(tx, shutdown))))
}

/// The one HTTP client: no proxy, no redirects (a /status URL that redirects is misconfigured),
/// the timeout on everything, and TLS trusting only `peers.ca_file` when it is set.
fn client(config: &PeersConfig) -> Result<reqwest::Client, StartError> {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .pool_max_idle_per_host(1)
        .user_agent(concat!(
            "clustercheckd/",
            env!("CARGO_PKG_VERSION"),
            " peers"
        ));
    // Roots: only `peers.ca_file`'s (config validation requires it for https:// peers).
    let tls = crate::collectors::http_tls(&config.ca_certificates)
        .map_err(|e| StartError::Tls(format!("peers.ca_file: {e}")))?;
    builder
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| StartError::Client(one_line(&e)))
}

struct Poller {
    config: PeersConfig,
    client: reqwest::Client,
    stats: CollectorStats,
    latest: Option<Arc<Round>>,
    /// Per peer, in the configured order: rounds failed in a row, last success, and the error
    /// last logged (a peer's state change is logged once, not every round).
    failures: Vec<u64>,
    last_success: Vec<Option<SystemTime>>,
    logged: Vec<Option<String>>,
}

impl Poller {
    async fn run(mut self, tx: Publisher<PeersSnapshot>, shutdown: CancellationToken) {
        tracing::info!(peers = self.config.urls.len(), interval = ?self.config.interval,
            timeout = ?self.config.timeout, "peers poller started");
        let mut ticker = Ticker::new(self.config.interval);
        while ticker.tick(&shutdown).await {
            let snapshot = tokio::select! {
                snapshot = self.round() => snapshot,
                () = shutdown.cancelled() => break,
            };
            tx.publish(snapshot);
        }
        tracing::info!("peers poller stopped");
    }

    async fn round(&mut self) -> PeersSnapshot {
        let started = Instant::now();
        let requests = self.config.urls.iter().map(|url| self.ask(url));
        let results = futures_util::future::join_all(requests).await;
        let finished = Instant::now();
        let mut answers = Vec::with_capacity(results.len());
        for (i, (url, outcome, sent, duration)) in results.into_iter().enumerate() {
            let observed_at = outcome.as_ref().ok().and_then(|s| {
                let age = s.galera.as_ref()?.snapshot_age_seconds?;
                sent.checked_sub(Duration::try_from_secs_f64(age).ok()?)
            });
            match &outcome {
                Ok(_) => {
                    self.failures[i] = 0;
                    self.last_success[i] = Some(SystemTime::now());
                }
                Err(_) => self.failures[i] += 1,
            }
            self.log_change(i, &url, &outcome);
            answers.push(PeerAnswer {
                url: url.clone(),
                outcome,
                sent,
                observed_at,
                duration,
                consecutive_failures: self.failures[i],
                last_success_wall: self.last_success[i],
            });
        }
        let any = answers.iter().any(|a| a.outcome.is_ok());
        self.stats.record(any, finished - started, finished);
        let round = Arc::new(Round {
            started,
            finished,
            answers,
        });
        let previous = self.latest.replace(round.clone());
        PeersSnapshot {
            taken_at: Some(finished),
            latest: Some(round),
            previous,
            stats: self.stats.clone(),
        }
    }

    /// One peer: the request and the body under one deadline, the body under a byte cap.
    async fn ask(&self, url: &str) -> (String, Result<PeerStatus, PeerError>, Instant, Duration) {
        let sent = Instant::now();
        let outcome = match tokio::time::timeout(self.config.timeout, self.fetch(url)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(PeerError::Timeout(self.config.timeout)),
        };
        (url.to_owned(), outcome, sent, sent.elapsed())
    }

    async fn fetch(&self, url: &str) -> Result<PeerStatus, PeerError> {
        let mut request = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(credentials) = &self.config.credentials {
            request =
                request.basic_auth(&credentials.username, Some(credentials.password.expose()));
        }
        let mut response = request.send().await.map_err(|e| self.error(&e))?;
        if !response.status().is_success() {
            return Err(PeerError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(PeerError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(&e))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(PeerError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(status::parse(&body)?)
    }

    fn error(&self, error: &reqwest::Error) -> PeerError {
        if error.is_timeout() {
            PeerError::Timeout(self.config.timeout)
        } else {
            PeerError::Unreachable(one_line(error))
        }
    }

    /// A peer going away or coming back is logged once per change.
    fn log_change(&mut self, i: usize, url: &str, outcome: &Result<PeerStatus, PeerError>) {
        let now = outcome.as_ref().err().map(|e| e.to_string());
        if self.logged[i] == now {
            return;
        }
        match &now {
            Some(error) => {
                tracing::warn!(peer = %url, %error, "peer unreachable (logged when this changes)")
            }
            None => tracing::info!(peer = %url, "peer answers"),
        }
        self.logged[i] = now;
    }
}

/// An error and its causes on one line ("error sending request: ...: Connection refused").
fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}
