//! One module per watched system. Each runs its own poll loop on its own interval with a hard
//! timeout, and publishes an immutable snapshot through a `tokio::sync::watch` channel. HTTP
//! handlers only ever read the latest snapshot: no request waits on a database, a broker or a
//! subprocess.

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

pub mod galera;
pub mod pacemaker;
pub mod rabbitmq;

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

pub(crate) fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
