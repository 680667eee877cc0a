//! The `[listen]` section: the addresses the daemon serves on and the limits that keep a slow or
//! hostile client from starving HAProxy's checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// The most connections one listener may serve at once. Each one holds a file descriptor (the
/// systemd unit allows 4096 in all), and the semaphore that enforces the limit panics above
/// `Semaphore::MAX_PERMITS`; no health-check port needs more than this.
pub const MAX_CONNECTIONS: usize = 65_536;

// The cap must stay below what the semaphore accepts, whatever either number becomes.
const _: () = assert!(MAX_CONNECTIONS <= tokio::sync::Semaphore::MAX_PERMITS);

/// The longest a client may take to send its request head. HAProxy sends it at once; minutes
/// only ever mean a stuck or hostile client holding a slot.
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// The health-check listener HAProxy polls (`check port 9200`).
    pub check: SocketAddr,
    /// Optional separate listener for /metrics, /status and /ui. When set, the check listener
    /// serves only checks, so a heavy scrape can never queue in front of a health check.
    pub metrics: Option<SocketAddr>,
    /// Optional HAProxy agent-check listener (`agent-check agent-port 9300`): one line per
    /// connection (`up 100%`, `down #reason`, ...), decided by [`crate::health::agent`] and
    /// shaped by `[agent]`. Unset: no agent listener.
    pub agent: Option<SocketAddr>,
    /// A web config file (`--web.config.file`, the YAML format Prometheus exporters share: TLS
    /// and basic auth) for the metrics listener, which it therefore requires: the check port
    /// stays plain, unauthenticated HTTP because that is what HAProxy's `option httpchk` speaks.
    /// Read at start (a bad file stops start-up) and again on change or SIGHUP (a bad new file
    /// is logged and the old one kept). See [`super::web`].
    pub web_config_file: Option<PathBuf>,
    /// A client must send its whole request head within this time, or it is disconnected: a
    /// slow or hostile client cannot hold a connection slot that HAProxy needs. At most 5 min.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// At most this many connections are served at once per listener; further clients wait in
    /// the kernel's accept queue instead of exhausting file descriptors or memory. 1 to 65536.
    pub max_connections: usize,
    /// At most this many of those connections from one source address; its further connections
    /// are closed at once. One address holding slow or idle connections (slowloris) then cannot
    /// starve the load balancers' checks. 1 to 65536; a value above `max_connections` means
    /// no per-source limit.
    pub max_connections_per_source: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            check: SocketAddr::from(([0, 0, 0, 0], 9200)),
            metrics: None,
            agent: None,
            web_config_file: None,
            header_read_timeout: Duration::from_secs(2),
            max_connections: 512,
            max_connections_per_source: 64,
        }
    }
}

impl ListenConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "listen.max_connections",
                "must be at least 1",
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections_per_source) {
            return Err(ConfigError::invalid(
                "listen.max_connections_per_source",
                format!("must be between 1 and {MAX_CONNECTIONS}"),
            ));
        }
        if self.max_connections > MAX_CONNECTIONS {
            return Err(ConfigError::invalid(
                "listen.max_connections",
                format!("must be at most {MAX_CONNECTIONS}"),
            ));
        }
        if self.header_read_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "listen.header_read_timeout",
                "must be greater than zero",
            ));
        }
        if self.header_read_timeout > MAX_HEADER_READ_TIMEOUT {
            return Err(ConfigError::invalid(
                "listen.header_read_timeout",
                "must be at most 5m",
            ));
        }
        // Port 0 twice is two ports the system picks, so only a fixed port can clash.
        if self.check.port() != 0 && self.metrics == Some(self.check) {
            return Err(ConfigError::invalid(
                "listen.metrics",
                "must differ from listen.check (leave it unset to serve everything on one port)",
            ));
        }
        if let Some(agent) = self.agent {
            if agent.port() != 0 && (agent == self.check || Some(agent) == self.metrics) {
                return Err(ConfigError::invalid(
                    "listen.agent",
                    "must differ from listen.check and listen.metrics (it speaks HAProxy's agent \
                     protocol, not HTTP)",
                ));
            }
        }
        if self.web_config_file.is_some() && self.metrics.is_none() {
            return Err(ConfigError::invalid(
                "listen.web_config_file",
                "needs listen.metrics (--metrics-listen): TLS and basic auth apply to the \
                 metrics listener, and the check port stays plain HTTP for HAProxy",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a `max_connections` above `Semaphore::MAX_PERMITS` panicked when the listener
    /// started; it is now a configuration error.
    #[test]
    fn max_connections_is_capped() {
        for too_many in [
            MAX_CONNECTIONS + 1,
            tokio::sync::Semaphore::MAX_PERMITS + 1,
            usize::MAX,
        ] {
            let listen = ListenConfig {
                max_connections: too_many,
                ..ListenConfig::default()
            };
            let err = listen.validate().unwrap_err().to_string();
            assert!(err.contains("listen.max_connections"), "{err}");
            assert!(err.contains("at most 65536"), "{err}");
        }
        ListenConfig {
            max_connections: MAX_CONNECTIONS,
            ..ListenConfig::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn header_read_timeout_is_bounded() {
        for bad in [Duration::ZERO, Duration::from_secs(301), Duration::MAX] {
            let listen = ListenConfig {
                header_read_timeout: bad,
                ..ListenConfig::default()
            };
            let err = listen.validate().unwrap_err().to_string();
            assert!(err.contains("listen.header_read_timeout"), "{err}");
        }
    }
}
