//! The `[writer]` section: the single-writer lease (`/writer`, docs/writer.md). Off by default.
//!
//! The lease is one row in the Galera cluster itself (`clustercheckd.writer_lease`), renewed by
//! its holder with a conditional UPDATE; the timing keys below are the whole safety argument's
//! parameters, so their bounds are checked here: the holder must be able to renew well within
//! `lease - margin`, and the handover gap must outlast HAProxy's `inter x (fall + 1)` (from the
//! `[haproxy]` section, which `drain --wait` reads too).
//!
//! The lease has its own database user (SELECT and UPDATE on that one table, nothing else), read
//! like `[galera]`'s: keys here over a `defaults_file`'s `[client]` section. When neither names a
//! socket or a host, the lease connection goes where the Galera poller's does (the local node).

use std::path::PathBuf;
use std::time::Duration;

use humantime_serde::re::humantime::format_duration;
use serde::Deserialize;

use super::endpoint::{self, ClientKeys, DbAddress, DbEndpoint, DEFAULT_SOCKET};
use super::{ConfigError, HaproxyConfig, Secret};

/// The lease user's name when neither the section nor its defaults file names one.
pub const DEFAULT_LEASE_USER: &str = "clustercheckd_writer";

/// The schema and table of the lease row (created by the operator, docs/writer.md).
pub const LEASE_TABLE: &str = "clustercheckd.writer_lease";

/// Renewing more often than this costs the cluster write-sets for nothing.
const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(100);
const MIN_TIMEOUT: Duration = Duration::from_millis(50);
/// The margin covers clock-rate differences between hosts and the time a check's answer takes
/// to leave the daemon: below this it covers nothing real.
const MIN_MARGIN: Duration = Duration::from_millis(100);
/// No lease longer than a minute: a dead writer would keep the role (and the writes on the
/// backups) for that long.
const MAX_LEASE: Duration = Duration::from_secs(60);

/// `[writer]`: at most one node answers 200 on `/writer` at any moment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    /// Take part in the writer lease. Needs `[galera]` enabled: only a healthy node may hold it.
    pub enabled: bool,
    /// my.cnf-style file with a `[client]` section for the lease user (as `galera.defaults_file`).
    pub defaults_file: Option<PathBuf>,
    /// Source of `endpoint.user` (default `clustercheckd_writer`); code reads `endpoint`.
    pub user: Option<String>,
    /// Source of `endpoint.password`; code reads `endpoint`.
    pub password: Option<Secret>,
    /// Unix socket of the local server; unset with no host: the Galera poller's address.
    pub socket: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The lease's row (`id`) in the lease table. Every daemon behind one HAProxy writer backend
    /// uses the same row; another row is an independent lease (the sandbox's demo daemons use 2,
    /// so tests can run their own daemons on 1 beside them).
    pub lease_row: u8,
    /// The lease duration T: the holder answers 200 only while its last successful renewal was
    /// issued less than `lease - margin` ago; another node takes over only after the row has not
    /// changed for `lease + margin` by its own clock.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    #[serde(with = "humantime_serde")]
    pub margin: Duration,
    /// How often the holder renews (one UPDATE, one write-set) and every node reads the row.
    #[serde(with = "humantime_serde")]
    pub renew_interval: Duration,
    /// Hard limit on one lease statement (connect included).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long a node that just acquired the lease waits before its first 200, so every
    /// HAProxy has marked the previous writer down. Must exceed `haproxy.inter x (haproxy.fall
    /// + 1)`; default that plus one second.
    #[serde(with = "humantime_serde")]
    pub handover_gap: Option<Duration>,
    /// HAProxy's check timing, the `[haproxy]` section as loaded: `Config::load` copies it here
    /// so the lease collector, which gets this section only, waits out the same timing that
    /// `drain --wait` does.
    #[serde(skip)]
    pub haproxy: HaproxyConfig,
    /// Where and as whom the lease connection goes, resolved once by `Config::load`; `Some`
    /// exactly when the section is enabled.
    #[serde(skip)]
    pub endpoint: Option<DbEndpoint>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            defaults_file: None,
            user: None,
            password: None,
            socket: None,
            host: None,
            port: None,
            lease_row: 1,
            lease: Duration::from_secs(5),
            margin: Duration::from_secs(1),
            renew_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            handover_gap: None,
            haproxy: HaproxyConfig::default(),
            endpoint: None,
        }
    }
}

impl WriterConfig {
    /// How long HAProxy may keep routing to a writer that stopped answering 200
    /// ([`HaproxyConfig::down_after`]).
    pub fn haproxy_delay(&self) -> Duration {
        self.haproxy.down_after()
    }

    /// How long after another node took the lease this node's `/writer/backup` stays 503: the
    /// new holder's gap, then HAProxy's `inter x (rise + 1)` to take it up, plus the margin for
    /// clock rates. Counted from this daemon's read that showed the new generation, which is
    /// after the acquisition: waiting longer, never shorter, than HAProxy needs.
    pub fn backup_hold(&self) -> Duration {
        self.handover_gap() + self.haproxy.up_after() + self.margin
    }

    /// The handover gap: configured, or HAProxy's delay plus one second.
    pub fn handover_gap(&self) -> Duration {
        self.handover_gap
            .unwrap_or_else(|| self.haproxy_delay() + Duration::from_secs(1))
    }

    /// How long the holder's last issued renewal keeps it the writer: `lease - margin`.
    pub fn validity(&self) -> Duration {
        self.lease.saturating_sub(self.margin)
    }

    /// How long the row must stay unchanged before another node takes over: `lease + margin`.
    pub fn takeover_after(&self) -> Duration {
        self.lease.saturating_add(self.margin)
    }

    pub(super) fn validate(&self, galera_enabled: bool) -> Result<(), ConfigError> {
        let d = |v: Duration| format_duration(v).to_string();
        if self.enabled && !galera_enabled {
            return Err(ConfigError::invalid(
                "writer.enabled",
                "needs [galera] enabled: only a healthy Galera node may hold the writer lease",
            ));
        }
        if self.renew_interval < MIN_RENEW_INTERVAL {
            return Err(ConfigError::invalid(
                "writer.renew_interval",
                format!("must be at least {}", d(MIN_RENEW_INTERVAL)),
            ));
        }
        if self.timeout < MIN_TIMEOUT {
            return Err(ConfigError::invalid(
                "writer.timeout",
                format!("must be at least {}", d(MIN_TIMEOUT)),
            ));
        }
        if self.margin < MIN_MARGIN {
            return Err(ConfigError::invalid(
                "writer.margin",
                format!("must be at least {}", d(MIN_MARGIN)),
            ));
        }
        if self.lease > MAX_LEASE {
            return Err(ConfigError::invalid(
                "writer.lease",
                format!("must be at most {}", d(MAX_LEASE)),
            ));
        }
        // The holder must get at least two renewal attempts (each up to `timeout`) in before its
        // own deadline, or one slow statement makes the writer flap.
        let needed = self
            .renew_interval
            .saturating_mul(2)
            .saturating_add(self.timeout);
        if self.validity() <= needed {
            return Err(ConfigError::invalid(
                "writer.lease",
                format!(
                    "lease - margin must exceed 2 x renew_interval + timeout ({})",
                    d(needed)
                ),
            ));
        }
        if let Some(gap) = self.handover_gap {
            if gap <= self.haproxy_delay() || gap > Duration::from_secs(600) {
                return Err(ConfigError::invalid(
                    "writer.handover_gap",
                    format!(
                        "must exceed haproxy.inter x (haproxy.fall + 1) ({}) and be at most 10m",
                        d(self.haproxy_delay())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The lease user's endpoint: the section's keys over its defaults file; the address falls
    /// back to the Galera poller's (`galera`) when neither names a socket or host.
    pub(super) fn resolve_endpoint(
        &self,
        galera: Option<&DbEndpoint>,
        secret_files: &mut Vec<(PathBuf, &'static str)>,
    ) -> Result<DbEndpoint, ConfigError> {
        let file = endpoint::read_defaults_file(
            self.defaults_file.as_deref(),
            "writer.defaults_file",
            secret_files,
        )?;
        let section = ClientKeys::section(
            &self.user,
            &self.password,
            &self.socket,
            &self.host,
            self.port,
        );
        Ok(section
            .over(file)
            .resolve(DEFAULT_LEASE_USER, || match galera {
                Some(endpoint) => endpoint.address.clone(),
                None => DbAddress::Socket(PathBuf::from(DEFAULT_SOCKET)),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn defaults_are_valid_and_the_gap_outlasts_haproxy() {
        let writer = WriterConfig {
            enabled: true,
            ..WriterConfig::default()
        };
        writer.validate(true).unwrap();
        assert_eq!(writer.haproxy_delay(), Duration::from_secs(6));
        assert_eq!(writer.handover_gap(), Duration::from_secs(7));
        assert_eq!(writer.validity(), Duration::from_secs(4));
        assert_eq!(writer.takeover_after(), Duration::from_secs(6));
        let err = writer.validate(false).unwrap_err().to_string();
        assert!(err.contains("writer.enabled"), "{err}");
    }

    #[test]
    fn timing_bounds_name_their_key() {
        let base = WriterConfig::default();
        for (writer, key) in [
            (
                WriterConfig {
                    lease: Duration::from_secs(3),
                    ..base.clone()
                },
                "writer.lease",
            ),
            (
                WriterConfig {
                    margin: Duration::ZERO,
                    ..base.clone()
                },
                "writer.margin",
            ),
            (
                WriterConfig {
                    handover_gap: Some(Duration::from_secs(6)),
                    ..base.clone()
                },
                "writer.handover_gap",
            ),
            (
                WriterConfig {
                    renew_interval: Duration::from_millis(10),
                    ..base.clone()
                },
                "writer.renew_interval",
            ),
        ] {
            let err = writer.validate(true).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }

    #[test]
    fn endpoint_falls_back_to_the_galera_address_with_its_own_user() {
        let galera = DbEndpoint {
            user: "clustercheck".into(),
            password: Secret::new("x"),
            address: DbAddress::Socket("/tmp/g.sock".into()),
        };
        let writer = WriterConfig::default();
        let endpoint = writer
            .resolve_endpoint(Some(&galera), &mut Vec::new())
            .unwrap();
        assert_eq!(endpoint.user, DEFAULT_LEASE_USER);
        assert_eq!(endpoint.address, galera.address);
        assert_eq!(endpoint.password.expose(), "");

        let mut cnf = tempfile::NamedTempFile::new().unwrap();
        writeln!(cnf, "[client]\nuser=lease\npassword=pw\nsocket=/tmp/w.sock").unwrap();
        let writer = WriterConfig {
            defaults_file: Some(cnf.path().to_owned()),
            ..WriterConfig::default()
        };
        let endpoint = writer
            .resolve_endpoint(Some(&galera), &mut Vec::new())
            .unwrap();
        assert_eq!(endpoint.user, "lease");
        assert_eq!(endpoint.password.expose(), "pw");
        assert_eq!(endpoint.address, DbAddress::Socket("/tmp/w.sock".into()));
    }
}
