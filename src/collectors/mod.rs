//! One module per watched system. Each runs its own poll loop on its own interval with a hard
//! timeout, and publishes an immutable snapshot through a [`Publisher`]. HTTP handlers only ever
//! read the latest snapshot: no request waits on a database, a broker or a subprocess.
//!
//! Collectors observe and never judge: "healthy" is decided in [`crate::health`], above them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

pub mod galera;
pub mod pacemaker;
pub mod peers;
pub mod rabbitmq;
pub mod writer;

/// What every collector reports about itself, exported as the shared
/// `clustercheckd_collector_*{collector="..."}` series so one failing collector is visible
/// without failing the others.
#[derive(Debug, Clone, Serialize)]
pub struct CollectorStats {
    /// Whether the last poll succeeded.
    pub up: bool,
    /// How long the last poll took, success or not.
    #[serde(serialize_with = "seconds")]
    pub last_poll_duration: Duration,
    pub errors_total: u64,
    /// Wall-clock time of the last successful poll, for `*_last_success_timestamp_seconds`.
    #[serde(skip)]
    pub last_success_wall: Option<SystemTime>,
    /// Monotonic time of the last successful poll, for ages and hold-downs.
    #[serde(skip)]
    pub last_success: Option<Instant>,
}

impl CollectorStats {
    pub fn new() -> Self {
        Self {
            up: false,
            last_poll_duration: Duration::ZERO,
            errors_total: 0,
            last_success_wall: None,
            last_success: None,
        }
    }

    pub fn record(&mut self, ok: bool, duration: Duration, finished: Instant) {
        self.up = ok;
        self.last_poll_duration = duration;
        if ok {
            self.last_success = Some(finished);
            self.last_success_wall = Some(SystemTime::now());
        } else {
            self.errors_total += 1;
        }
    }

    pub fn last_success_unix_seconds(&self) -> Option<f64> {
        self.last_success_wall
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    }
}

impl Default for CollectorStats {
    fn default() -> Self {
        Self::new()
    }
}

/// How a poller publishes its snapshots, to two kinds of readers: the latest one for checks,
/// metrics and pages (a `watch`: a reader never waits and never sees an old value), and every one
/// in order for the transition log (a `watch` alone would merge a 503 -> 200 -> 503 within one
/// read into no change at all).
pub struct Publisher<S> {
    latest: watch::Sender<Arc<S>>,
    history: mpsc::UnboundedSender<Arc<S>>,
}

/// The reading ends of a [`Publisher`]. Drop `history` when nobody logs transitions: the
/// publisher then stops queueing.
pub struct Feed<S> {
    pub latest: watch::Receiver<Arc<S>>,
    pub history: mpsc::UnboundedReceiver<Arc<S>>,
}

pub fn publisher<S>(initial: S) -> (Publisher<S>, Feed<S>) {
    let (latest_tx, latest) = watch::channel(Arc::new(initial));
    let (history_tx, history) = mpsc::unbounded_channel();
    (
        Publisher {
            latest: latest_tx,
            history: history_tx,
        },
        Feed { latest, history },
    )
}

impl<S: Clone> Publisher<S> {
    pub fn publish(&self, snapshot: S) {
        let snapshot = Arc::new(snapshot);
        self.latest.send_replace(snapshot.clone());
        // Fails only when nobody reads the history, which is fine.
        let _ = self.history.send(snapshot);
    }

    /// A reader of the latest snapshot, for a second loop of the same collector.
    pub fn subscribe(&self) -> watch::Receiver<Arc<S>> {
        self.latest.subscribe()
    }

    /// Publish a copy of the latest snapshot with one part replaced (for subsystems whose parts
    /// are polled by separate loops).
    pub fn update(&self, change: impl FnOnce(&mut S)) {
        let mut published = None;
        self.latest.send_modify(|current| {
            let mut next = (**current).clone();
            change(&mut next);
            let next = Arc::new(next);
            published = Some(next.clone());
            *current = next;
        });
        if let Some(snapshot) = published {
            let _ = self.history.send(snapshot);
        }
    }
}

/// The poll schedule every collector shares: one tick per interval, where a slow poll delays the
/// next tick instead of bunching several up, until shutdown.
pub struct Ticker(tokio::time::Interval);

impl Ticker {
    pub fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(interval)
    }

    /// Wait for the next tick; `false` once shutdown has been requested.
    pub async fn tick(&mut self, shutdown: &tokio_util::sync::CancellationToken) -> bool {
        tokio::select! {
            _ = self.0.tick() => true,
            _ = shutdown.cancelled() => false,
        }
    }
}

/// The TLS configuration every reqwest client of ours is built with (reqwest's
/// `rustls-no-provider`: it must be handed one, or building a client panics): ring, the safe
/// default protocol versions, and only the CA certificates given (DER) as roots — none for the
/// loopback HTTP clients, `peers.ca_file`'s for the peers.
pub(crate) fn http_tls(ca_certificates: &[Vec<u8>]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for der in ca_certificates {
        roots
            .add(rustls_pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An error and its causes on one line, for a log field, a JSON string or an operator's
/// terminal: "error sending request for url (...): client error (Connect): tcp connect error:
/// Connection refused (os error 111)". A cause whose text the line already holds is left out
/// (many errors repeat their source's message in their own), and every run of whitespace, line
/// breaks included, becomes one space. The one helper for this: the peers, the RabbitMQ API and
/// probe, and `clustercheckd recover` all report errors through it.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
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
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with reqwest's `rustls-no-provider`, a client built without a TLS config
    /// panicked at start-up ("No rustls crypto provider is configured").
    #[test]
    fn clients_build_with_our_tls_config() {
        let tls = http_tls(&[]).expect("a TLS config");
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .expect("a client");
        assert!(http_tls(&[b"not DER".to_vec()]).is_err());
    }

    /// A test error with a message and an optional cause.
    #[derive(Debug)]
    struct Chained(&'static str, Option<Box<Chained>>);

    impl std::fmt::Display for Chained {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Chained {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    fn chain(messages: &[&'static str]) -> Chained {
        let (last, rest) = messages.split_last().expect("a message");
        rest.iter().rev().fold(Chained(last, None), |cause, m| {
            Chained(m, Some(Box::new(cause)))
        })
    }

    #[test]
    fn error_chains_are_one_line_without_repeats() {
        assert_eq!(error_chain(&chain(&["alone"])), "alone");
        assert_eq!(
            error_chain(&chain(&[
                "error sending request for url (http://127.0.0.1:9/status)",
                "client error (Connect)",
                "tcp connect error",
                "Connection refused (os error 111)",
            ])),
            "error sending request for url (http://127.0.0.1:9/status): client error (Connect): \
             tcp connect error: Connection refused (os error 111)"
        );
        // A cause the message already quotes is not repeated; a later one still comes.
        assert_eq!(
            error_chain(&chain(&[
                "body cut short: unexpected EOF",
                "unexpected EOF",
                "reset"
            ])),
            "body cut short: unexpected EOF: reset"
        );
        // Line breaks and runs of spaces (a server's text, a multi-line cause) become one space.
        assert_eq!(
            error_chain(&chain(&[
                "bad answer:\n  line one\r\n\tline two",
                "cause\nsplit"
            ])),
            "bad answer: line one line two: cause split"
        );
        assert_eq!(error_chain(&chain(&[""])), "");
    }

    #[tokio::test]
    async fn history_keeps_every_snapshot_while_latest_keeps_the_last() {
        let (publisher, mut feed) = publisher(0u32);
        publisher.publish(1);
        publisher.update(|n| *n += 1);
        publisher.publish(3);
        assert_eq!(**feed.latest.borrow(), 3);
        for expected in [1, 2, 3] {
            assert_eq!(feed.history.recv().await.as_deref(), Some(&expected));
        }
        // Without a history reader, publishing still works.
        drop(feed.history);
        publisher.publish(4);
        assert_eq!(**feed.latest.borrow(), 4);
    }
}
