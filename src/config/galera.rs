//! The `[galera]` section: how the local Galera node is polled, as whom, and which states the
//! check accepts. The credentials (keys here and the `defaults_file`) are resolved once, at load,
//! into [`GaleraConfig::endpoint`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::endpoint::{self, ClientKeys, DbAddress, DbEndpoint};
use super::poll::PollFloors;
use super::{clustercheck_env, ConfigError, Secret};

/// What the check answers in its body: our own one-line reasons, or Percona clustercheck's exact
/// texts for load balancers and scripts that match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    Native,
    Percona,
}

/// A wsrep status query is cheap, so the poll may be fast; below these the poller would mostly
/// measure itself.
const FLOORS: PollFloors = PollFloors {
    interval: Duration::from_millis(100),
    timeout: Duration::from_millis(50),
};

/// The longest post-outage hold-down that can be configured: a node kept out for longer than
/// an hour after it is Synced again is an outage of our own making.
pub const MAX_RECOVERY_HOLD: Duration = Duration::from_secs(3600);

poll_section! {
    /// `[galera]`: on by default (clustercheck's replacement is the reason this daemon exists);
    /// polled every second with a one-second timeout.
    pub struct GaleraConfig {
        /// How many nodes the cluster should have; exported for alerting on a shrunken cluster.
        pub expected_nodes: u32,
        /// my.cnf-style file with a `[client]` section (user, password, socket, host, port), as
        /// clustercheck's DEFAULTS_EXTRA_FILE; its `!include`/`!includedir` are followed. Keys set
        /// below win over the file. Read once at load into `endpoint`.
        pub defaults_file: Option<PathBuf>,
        /// Source of `endpoint.user`; code reads `endpoint`, not this.
        pub user: Option<String>,
        /// Source of `endpoint.password`; code reads `endpoint`, not this.
        pub password: Option<Secret>,
        /// clustercheck's shell variables file (`/etc/sysconfig/clustercheck` style):
        /// MYSQL_USERNAME, MYSQL_PASSWORD, MYSQL_HOST, MYSQL_PORT. Keys set here win over it; it
        /// wins over `defaults_file`. Read once at load into `endpoint`.
        pub clustercheck_env_file: Option<PathBuf>,
        /// Unix socket of the local server; used when set.
        pub socket: Option<PathBuf>,
        /// When no socket or host is configured anywhere: the sockets tried in order at each
        /// connect (Debian's, then RHEL's by default); the first whose server reports
        /// wsrep_on=ON is used, and the log names it.
        pub socket_candidates: Vec<PathBuf>,
        pub host: Option<String>,
        pub port: Option<u16>,
        /// Donor/Desynced (state 2) counts as healthy, unless the node rejects queries while
        /// donor (wsrep_sst_donor_rejects_queries). clustercheck's AVAILABLE_WHEN_DONOR.
        pub available_when_donor: bool,
        /// read_only=ON counts as healthy. clustercheck's AVAILABLE_WHEN_READONLY (default 1).
        pub available_when_readonly: bool,
        /// While this file exists the node reports 503, so an operator can drain it from HAProxy.
        pub maintenance_file: PathBuf,
        /// After an outage longer than evs.suspect_timeout, the node stays 503 until it reports
        /// a new cluster configuration while Synced and Primary, or has stayed Synced, Primary
        /// and wsrep_evs_state OPERATIONAL in its old one for evs.suspect_timeout + 0.75 s, or
        /// at most this long (<= 1h). See src/collectors/galera/recovery.rs.
        #[serde(with = "humantime_serde")]
        pub recovery_max_hold: Duration,
        /// Also read mysql.wsrep_cluster_members (needs SELECT on it; skipped when not granted).
        pub read_members: bool,
        pub compat: Compat,
        /// A unix datagram socket the daemon creates (mode 0666, so mysqld's user can write to
        /// it) for `clustercheckd notify`, run by Galera as `wsrep_notify_cmd`: each event makes
        /// the poller poll at once (at most one such poll per 100 ms). A notification never
        /// decides a verdict by itself; the poll it triggers does. Unset (the default): off.
        pub notify_socket: Option<PathBuf>,
        /// Galera's data directory (where grastate.dat and gvwstate.dat live, e.g.
        /// /var/lib/mysql). When set, both files are read at every poll, so /status, /metrics
        /// and the check's reason say the last committed seqno and safe_to_bootstrap also while
        /// mysqld is down. Unset (the default): not read. The daemon needs read access to just
        /// these two files (README: an ACL, not the mysql group).
        pub data_dir: Option<PathBuf>,
        /// Where and as whom to connect: the keys above merged over `defaults_file`, resolved
        /// once by `Config::load`. `Some` exactly when the section is enabled (a disabled
        /// section's defaults file is never read).
        #[serde(skip)]
        pub endpoint: Option<DbEndpoint>,
    }
}

impl Default for GaleraConfig {
    fn default() -> Self {
        let mut config = Self {
            enabled: true,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_staleness: None,
            expected_nodes: 3,
            defaults_file: None,
            clustercheck_env_file: None,
            user: None,
            password: None,
            socket: None,
            socket_candidates: DEFAULT_SOCKET_CANDIDATES
                .iter()
                .map(PathBuf::from)
                .collect(),
            host: None,
            port: None,
            available_when_donor: false,
            available_when_readonly: true,
            maintenance_file: PathBuf::from("/var/tmp/clustercheck.disabled"),
            recovery_max_hold: Duration::from_secs(30),
            read_members: true,
            compat: Compat::Native,
            notify_socket: None,
            data_dir: None,
            endpoint: None,
        };
        // Enabled by default, so resolved by default: with no defaults file and no keys, the
        // endpoint needs no file (clustercheck@ the local socket), and `Config::default()`
        // keeps the rule "`endpoint` is `Some` exactly when enabled".
        config.endpoint = Some(config.merge(
            ClientKeys::default(),
            clustercheck_env::ClustercheckEnv::default(),
        ));
        config
    }
}

/// The server sockets of the two families the deployment meets: Debian/Ubuntu, then
/// CentOS/RHEL (whose my.cnf puts it in the data directory).
pub const DEFAULT_SOCKET_CANDIDATES: [&str; 2] =
    ["/run/mysqld/mysqld.sock", "/var/lib/mysql/mysql.sock"];

impl GaleraConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.poll().validate("galera", FLOORS)?;
        if self.expected_nodes == 0 {
            return Err(ConfigError::invalid(
                "galera.expected_nodes",
                "must be at least 1",
            ));
        }
        if self.socket_candidates.is_empty() {
            return Err(ConfigError::invalid(
                "galera.socket_candidates",
                "must list at least one socket (or set galera.socket or galera.host)",
            ));
        }
        if let Some(path) = &self.notify_socket {
            // Relative to what? The daemon's working directory is not mysqld's, and
            // wsrep_notify_cmd must name the same file.
            if !path.is_absolute() || path.file_name().is_none() {
                return Err(ConfigError::invalid(
                    "galera.notify_socket",
                    "must be an absolute path to a file",
                ));
            }
        }
        if self.data_dir.as_ref().is_some_and(|d| !d.is_absolute()) {
            // Relative to what? The daemon's working directory is the service manager's choice.
            return Err(ConfigError::invalid(
                "galera.data_dir",
                "must be an absolute path",
            ));
        }
        if self.recovery_max_hold > MAX_RECOVERY_HOLD {
            return Err(ConfigError::invalid(
                "galera.recovery_max_hold",
                "must be at most 1h",
            ));
        }
        Ok(())
    }

    /// Merge the defaults file (if any) under the keys of this section. Called once, by
    /// `Config::load`; reading the file then makes a missing or broken one a start-up error.
    /// Every file a password was read from is added to `secret_files`, with the key that
    /// names it, for the "readable by others" warning.
    pub(super) fn resolve_endpoint(
        &self,
        secret_files: &mut Vec<(PathBuf, &'static str)>,
    ) -> Result<DbEndpoint, ConfigError> {
        let file = endpoint::read_defaults_file(
            self.defaults_file.as_deref(),
            "galera.defaults_file",
            secret_files,
        )?;
        let env = match &self.clustercheck_env_file {
            Some(path) => clustercheck_env::read(path).map_err(ConfigError::ClustercheckEnvFile)?,
            None => clustercheck_env::ClustercheckEnv::default(),
        };
        if let (Some(path), Some(_)) = (&self.clustercheck_env_file, &env.password) {
            secret_files.push((path.clone(), "galera.clustercheck_env_file"));
        }
        Ok(self.merge(file, env))
    }

    /// The keys of this section over clustercheck's variables, over the defaults file's
    /// options, over the built-in defaults; with no socket or host anywhere, the socket
    /// candidates.
    fn merge(&self, file: ClientKeys, env: clustercheck_env::ClustercheckEnv) -> DbEndpoint {
        ClientKeys::section(
            &self.user,
            &self.password,
            &self.socket,
            &self.host,
            self.port,
        )
        .over(env.into())
        .over(file)
        .resolve("clustercheck", || {
            DbAddress::SocketCandidates(self.socket_candidates.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn endpoint_merges_defaults_file_under_section_keys() {
        let mut cnf = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            cnf,
            "[client]\nuser=fromfile\npassword=\"p w\"\nsocket=/tmp/x.sock"
        )
        .unwrap();
        let galera = GaleraConfig {
            defaults_file: Some(cnf.path().to_owned()),
            user: Some("fromconfig".into()),
            ..GaleraConfig::default()
        };
        let endpoint = galera.resolve_endpoint(&mut Vec::new()).unwrap();
        assert_eq!(endpoint.user, "fromconfig");
        assert_eq!(endpoint.password.expose(), "p w");
        assert_eq!(endpoint.address, DbAddress::Socket("/tmp/x.sock".into()));
    }

    #[test]
    fn endpoint_tcp_when_host_named() {
        let galera = GaleraConfig {
            host: Some("127.0.0.1".into()),
            port: Some(13301),
            ..GaleraConfig::default()
        };
        assert_eq!(
            galera.resolve_endpoint(&mut Vec::new()).unwrap().address,
            DbAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 13301
            }
        );
        let default = GaleraConfig::default()
            .resolve_endpoint(&mut Vec::new())
            .unwrap();
        assert_eq!(
            default.address,
            DbAddress::SocketCandidates(vec![
                "/run/mysqld/mysqld.sock".into(),
                "/var/lib/mysql/mysql.sock".into()
            ])
        );
        assert_eq!(default.user, "clustercheck");
        assert_eq!(GaleraConfig::default().endpoint, Some(default));
    }

    #[test]
    fn recovery_hold_is_capped() {
        let galera = GaleraConfig {
            recovery_max_hold: Duration::from_secs(3601),
            ..GaleraConfig::default()
        };
        let err = galera.validate().unwrap_err().to_string();
        assert!(err.contains("galera.recovery_max_hold"), "{err}");
    }

    /// clustercheck's variables replace a credentials file; the section's keys still win, and
    /// MYSQL_HOST=localhost keeps the socket candidates' job to the default socket.
    #[test]
    fn clustercheck_env_file_supplies_credentials() {
        let mut env = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            env,
            "MYSQL_USERNAME=\"ccuser\"\nMYSQL_PASSWORD='s3cr#t'\nMYSQL_HOST=\"10.0.0.5\"\nMYSQL_PORT=3307"
        )
        .unwrap();
        let galera = GaleraConfig {
            clustercheck_env_file: Some(env.path().to_owned()),
            ..GaleraConfig::default()
        };
        let endpoint = galera.resolve_endpoint(&mut Vec::new()).unwrap();
        assert_eq!(endpoint.user, "ccuser");
        assert_eq!(endpoint.password.expose(), "s3cr#t");
        assert_eq!(
            endpoint.address,
            DbAddress::Tcp {
                host: "10.0.0.5".into(),
                port: 3307
            }
        );
        let galera = GaleraConfig {
            user: Some("fromconfig".into()),
            host: Some("localhost".into()),
            port: None,
            ..galera
        };
        let endpoint = galera.resolve_endpoint(&mut Vec::new()).unwrap();
        assert_eq!(endpoint.user, "fromconfig");
        assert_eq!(endpoint.password.expose(), "s3cr#t");
    }

    #[test]
    fn broken_env_file_names_key_file_and_line() {
        let mut env = tempfile::NamedTempFile::new().unwrap();
        writeln!(env, "MYSQL_USERNAME=ok\nMYSQL_PASSWORD=$(cat /x)").unwrap();
        let galera = GaleraConfig {
            clustercheck_env_file: Some(env.path().to_owned()),
            ..GaleraConfig::default()
        };
        let err = galera
            .resolve_endpoint(&mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("galera.clustercheck_env_file"), "{err}");
        assert!(
            err.contains(&format!("{}:2:", env.path().display())),
            "{err}"
        );
    }

    #[test]
    fn relative_notify_socket_is_refused() {
        let galera = GaleraConfig {
            notify_socket: Some("run/notify.sock".into()),
            ..GaleraConfig::default()
        };
        let err = galera.validate().unwrap_err().to_string();
        assert!(err.contains("galera.notify_socket"), "{err}");
        let galera = GaleraConfig {
            notify_socket: Some("/run/clustercheckd/notify.sock".into()),
            ..GaleraConfig::default()
        };
        assert!(galera.validate().is_ok());
    }

    #[test]
    fn data_dir_is_off_by_default_and_must_be_absolute() {
        assert_eq!(GaleraConfig::default().data_dir, None);
        let galera = GaleraConfig {
            data_dir: Some("var/lib/mysql".into()),
            ..GaleraConfig::default()
        };
        let err = galera.validate().unwrap_err().to_string();
        assert!(err.contains("galera.data_dir"), "{err}");
        let galera = GaleraConfig {
            data_dir: Some("/var/lib/mysql".into()),
            ..GaleraConfig::default()
        };
        assert!(galera.validate().is_ok());
    }

    #[test]
    fn empty_candidate_list_is_refused() {
        let galera = GaleraConfig {
            socket_candidates: Vec::new(),
            ..GaleraConfig::default()
        };
        let err = galera.validate().unwrap_err().to_string();
        assert!(err.contains("galera.socket_candidates"), "{err}");
    }
}
