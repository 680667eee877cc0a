//! Peers: the other controllers' clustercheckd daemons, polled for their /status.
//!
//! Every `peers.interval` (2 s) one round asks every peer at once (`GET URL`, with the peers'
//! CA and basic auth when configured), each under `peers.timeout` (which is below the interval,
//! so a round always ends before the next starts). A peer that does not answer, answers an
//! error status or a body that is not a /status document is reported as unreachable with a
//! one-line error; nothing else changes: peer failures are reported, never fatal. The poll runs
//! in the background: no check ever waits on a peer. [`client`] and [`get_page`] are also how
//! `clustercheckd recover` reads the daemons' pages, with the same CA and credentials.
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
use crate::config::{PeerCredentials, PeersConfig};

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
    let client = client(&config, config.timeout)?;
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

/// Errors are cut to this many characters: they go into every round's snapshot and /cluster.
const MAX_ERROR_CHARS: usize = 300;

/// The one HTTP client for peers' pages, the poller's and `clustercheckd recover`'s: no proxy, no
/// redirects (a /status URL that redirects is misconfigured), `timeout` on everything, and TLS
/// trusting only `peers.ca_file`'s CAs (config validation requires it for https:// peers; no
/// roots at all without it). Send requests with [`get_page`], which adds the basic auth.
pub fn client(config: &PeersConfig, timeout: Duration) -> Result<reqwest::Client, StartError> {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(1)
        .user_agent(concat!(
            "clustercheckd/",
            env!("CARGO_PKG_VERSION"),
            " peers"
        ));
    // reqwest's `rustls-no-provider` panics on a client built without our TLS config.
    let tls = crate::collectors::http_tls(&config.ca_certificates)
        .map_err(|e| StartError::Tls(format!("peers.ca_file: {e}")))?;
    builder
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| StartError::Client(one_line(&e)))
}

/// GET one peer page with [`client`]'s client: the request and the body under one deadline
/// (`timeout`), the body under [`MAX_BODY_BYTES`], `credentials` as basic auth when given. Every
/// failure is one line (a refused connection, a certificate the CA did not sign, "answered HTTP
/// 401" for a wrong password).
pub async fn get_page(
    client: &reqwest::Client,
    url: &str,
    credentials: Option<&PeerCredentials>,
    timeout: Duration,
) -> Result<Vec<u8>, PeerError> {
    let fetch = async {
        let mut request = client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(credentials) = credentials {
            request =
                request.basic_auth(&credentials.username, Some(credentials.password.expose()));
        }
        let error = |e: reqwest::Error| match e.is_timeout() {
            true => PeerError::Timeout(timeout),
            false => PeerError::Unreachable(one_line(&e)),
        };
        let mut response = request.send().await.map_err(error)?;
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
        while let Some(chunk) = response.chunk().await.map_err(error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(PeerError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    match tokio::time::timeout(timeout, fetch).await {
        Ok(outcome) => outcome,
        Err(_) => Err(PeerError::Timeout(timeout)),
    }
}

/// [`crate::collectors::error_chain`], cut to [`MAX_ERROR_CHARS`].
fn one_line(error: &dyn std::error::Error) -> String {
    crate::collectors::error_chain(error)
        .chars()
        .take(MAX_ERROR_CHARS)
        .collect()
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
        let credentials = self.config.credentials.as_ref();
        let outcome = get_page(&self.client, url, credentials, self.config.timeout)
            .await
            .and_then(|body| Ok(status::parse(&body)?));
        (url.to_owned(), outcome, sent, sent.elapsed())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_and_capped() {
        let long = std::io::Error::other(format!("refused\n{}", "x".repeat(400)));
        let text = one_line(&long);
        assert_eq!(text.chars().count(), MAX_ERROR_CHARS);
        assert!(text.starts_with("refused xxx"), "{text}");
    }

    /// recover and the poller share one client; building it needs our TLS config (reqwest's
    /// `rustls-no-provider` panics otherwise) and fails in one line on a bad CA.
    #[test]
    fn the_client_is_built_with_the_peers_ca() {
        client(&PeersConfig::default(), Duration::from_secs(1)).expect("a client");
        let bad = PeersConfig {
            ca_certificates: vec![b"not DER".to_vec()],
            ..PeersConfig::default()
        };
        let err = client(&bad, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("peers: peers.ca_file: "), "{err}");
    }
}
