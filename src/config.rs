//! Configuration: one typed tree, loaded from defaults < TOML file < `CLUSTERCHECKD_*` environment
//! variables < command-line flags, and validated completely before any port is bound.
//!
//! Every key is documented here, on the field that holds it, and in the commented example
//! `config/clustercheckd.toml` (a unit test checks that the example loads and names every key).
//! Unknown keys are errors: a typo such as `avaliable_when_donor` must not silently fall back to
//! the default on a production controller.
//!
//! The shape is shared by every watched system: one section per system (`[galera]`, ...), each with
//! `enabled`, `interval` and `timeout`, plus its own expected size where it has one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

pub mod mycnf;
mod rabbitmq;

pub use rabbitmq::{ExpectedPolicy, RabbitmqConfig, RabbitmqCredentials};

/// Prefix of the environment variables; nesting uses a double underscore:
/// `CLUSTERCHECKD_GALERA__INTERVAL=2s` sets `[galera] interval`.
pub const ENV_PREFIX: &str = "CLUSTERCHECKD_";

/// Where the daemon looks for its file when `--config` is not given. A missing file at this
/// default path is not an error (defaults + environment + flags may be enough); a missing file
/// named explicitly is.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/clustercheckd/clustercheckd.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("configuration: file {path}: cannot read it: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: key `rabbitmq.credentials_file`: {0}")]
    CredentialsFile(String),
    #[error("configuration: key `galera.defaults_file`: {0}")]
    DefaultsFile(#[from] mycnf::MyCnfError),
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub node_name: Option<String>,
    pub check_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name of this node as the clusters know it (Galera's wsrep_node_name, the Pacemaker
    /// node name). Default: the host name.
    pub node_name: String,
    pub log: LogConfig,
    pub listen: ListenConfig,
    pub galera: GaleraConfig,
    pub pacemaker: PacemakerConfig,
    pub vip: VipConfig,
    pub rabbitmq: RabbitmqConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_name: default_node_name(),
            log: LogConfig::default(),
            listen: ListenConfig::default(),
            galera: GaleraConfig::default(),
            pacemaker: PacemakerConfig::default(),
            vip: VipConfig::default(),
            rabbitmq: RabbitmqConfig::default(),
        }
    }
}

fn default_node_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `plain` (human-readable, the default) or `json` (one object per line, for log shippers).
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `clustercheckd=debug,info`, ... `RUST_LOG` is not read:
    /// use `CLUSTERCHECKD_LOG__LEVEL` so all settings follow one precedence.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Plain,
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// The health-check listener HAProxy polls (`check port 9200`).
    pub check: SocketAddr,
    /// Optional separate listener for /metrics, /status and /ui. When set, the check listener
    /// serves only checks, so a heavy scrape can never queue in front of a health check.
    pub metrics: Option<SocketAddr>,
    /// A client must send its whole request head within this time, or it is disconnected: a
    /// slow or hostile client cannot hold a connection slot that HAProxy needs.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// At most this many connections are served at once per listener; further clients wait in
    /// the kernel's accept queue instead of exhausting file descriptors or memory.
    pub max_connections: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            check: SocketAddr::from(([0, 0, 0, 0], 9200)),
            metrics: None,
            header_read_timeout: Duration::from_secs(2),
            max_connections: 512,
        }
    }
}

/// What the check answers in its body: our own one-line reasons, or Percona clustercheck's exact
/// texts for load balancers and scripts that match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compat {
    Native,
    Percona,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GaleraConfig {
    pub enabled: bool,
    /// How often wsrep status is polled.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Hard limit on one poll, connect and query included: a hung server is seen within
    /// interval + timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A snapshot older than this counts as unknown (the poller itself is stuck). Default: 3 x
    /// interval.
    #[serde(with = "humantime_serde")]
    pub max_staleness: Option<Duration>,
    /// How many nodes the cluster should have; exported for alerting on a shrunken cluster.
    pub expected_nodes: u32,
    /// my.cnf-style file with a `[client]` section (user, password, socket, host, port), as
    /// clustercheck's DEFAULTS_EXTRA_FILE. Keys set below win over the file.
    pub defaults_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Unix socket of the local server; used when set (or when nothing else is).
    pub socket: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Donor/Desynced (state 2) counts as healthy, unless the node rejects queries while donor
    /// (wsrep_sst_donor_rejects_queries). clustercheck's AVAILABLE_WHEN_DONOR.
    pub available_when_donor: bool,
    /// read_only=ON counts as healthy. clustercheck's AVAILABLE_WHEN_READONLY (default 1).
    pub available_when_readonly: bool,
    /// While this file exists the node reports 503, so an operator can drain it from HAProxy.
    pub maintenance_file: PathBuf,
    /// After an outage longer than evs.suspect_timeout, the node stays 503 until it reports a new
    /// cluster configuration while Synced and Primary, or at most this long.
    #[serde(with = "humantime_serde")]
    pub recovery_max_hold: Duration,
    /// Also read mysql.wsrep_cluster_members (needs SELECT on it; skipped when not granted).
    pub read_members: bool,
    pub compat: Compat,
}

impl Default for GaleraConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            max_staleness: None,
            expected_nodes: 3,
            defaults_file: None,
            user: None,
            password: None,
            socket: None,
            host: None,
            port: None,
            available_when_donor: false,
            available_when_readonly: true,
            maintenance_file: PathBuf::from("/var/tmp/clustercheck.disabled"),
            recovery_max_hold: Duration::from_secs(30),
            read_members: true,
            compat: Compat::Native,
        }
    }
}

impl GaleraConfig {
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness.unwrap_or(self.interval * 3)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacemakerConfig {
    /// Off by default: a Galera-only node has no Pacemaker to ask.
    pub enabled: bool,
    /// How often crm_mon and cibadmin are run. Each run costs a few milliseconds of CPU in
    /// crm_mon and in the CIB manager, so not every second.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Hard limit on each tool run; the child (and its process group) is killed after it.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A snapshot older than this counts as unknown. Default: 3 x interval.
    #[serde(with = "humantime_serde")]
    pub max_staleness: Option<Duration>,
    pub crm_mon_path: PathBuf,
    pub cibadmin_path: PathBuf,
    /// Read this CIB file instead of the live cluster (sets `CIB_file` for both tools; a
    /// `CIB_file` in the daemon's own environment is passed through as well).
    pub cib_file: Option<PathBuf>,
    /// /pacemaker answers 503 when the partition has no quorum.
    pub require_quorum: bool,
    /// /pacemaker answers 503 unless this node (`node_name`) is online, not standby and not in
    /// maintenance.
    pub require_local_node_online: bool,
    /// /pacemaker answers 503 while any resource is marked failed.
    pub fail_on_failed_resources: bool,
    /// /pacemaker answers 503 while any failed action is recorded (they stay until
    /// `crm_resource --cleanup`, so this is off by default).
    pub fail_on_failed_actions: bool,
}

impl Default for PacemakerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(4),
            max_staleness: None,
            crm_mon_path: PathBuf::from("/usr/sbin/crm_mon"),
            cibadmin_path: PathBuf::from("/usr/sbin/cibadmin"),
            cib_file: None,
            require_quorum: true,
            require_local_node_online: true,
            fail_on_failed_resources: true,
            fail_on_failed_actions: false,
        }
    }
}

impl PacemakerConfig {
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness.unwrap_or(self.interval * 3)
    }
}

/// The virtual IPs this node may hold. Read from the Pacemaker snapshot and the kernel's
/// interface addresses, so it needs `[pacemaker] enabled`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VipConfig {
    pub enabled: bool,
    /// The VIPs (`[[vip.vips]]`); empty means one VIP named `vip`, the resource `vip`.
    pub vips: Vec<VipEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VipEntry {
    /// The `vip` label of its series and the path of its check (`/vip/NAME`). Default: the
    /// resource id, else the address.
    pub name: Option<String>,
    /// The Pacemaker resource managing the address (an IPaddr2 primitive). Default `vip` when no
    /// address is given.
    pub resource: Option<String>,
    /// The address itself, looked up on this host's interfaces. Without it, "held locally"
    /// can only repeat what Pacemaker says.
    pub address: Option<std::net::IpAddr>,
}

impl VipEntry {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.resource.clone())
            .or_else(|| self.address.map(|a| a.to_string()))
            .unwrap_or_else(|| "vip".to_owned())
    }

    pub fn resource(&self) -> Option<&str> {
        match (&self.resource, &self.address) {
            (Some(r), _) => Some(r),
            (None, Some(_)) => None,
            (None, None) => Some("vip"),
        }
    }
}

impl VipConfig {
    /// The configured VIPs, or the default one.
    pub fn entries(&self) -> Vec<VipEntry> {
        if self.vips.is_empty() {
            vec![VipEntry {
                name: None,
                resource: Some("vip".to_owned()),
                address: None,
            }]
        } else {
            self.vips.clone()
        }
    }
}

/// A password: deserialised like a string, but never printed by `{:?}` and never serialised, so
/// it cannot leak into logs, /status or metrics.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where and as whom the Galera poller connects, resolved from the config and the defaults file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbEndpoint {
    pub user: String,
    pub password: Secret,
    pub address: DbAddress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbAddress {
    Socket(PathBuf),
    Tcp { host: String, port: u16 },
}

impl std::fmt::Display for DbAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbAddress::Socket(path) => write!(f, "unix:{}", path.display()),
            DbAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// The Debian/Ubuntu server socket: what a local check connects to when nothing else is said.
const DEFAULT_SOCKET: &str = "/run/mysqld/mysqld.sock";

impl GaleraConfig {
    /// Merge the defaults file (if any) under the keys of this section.
    pub fn endpoint(&self) -> Result<DbEndpoint, ConfigError> {
        let file = match &self.defaults_file {
            Some(path) => mycnf::read_client_section(path)?,
            None => mycnf::ClientSection::default(),
        };
        let user = self
            .user
            .clone()
            .or(file.user)
            .unwrap_or_else(|| "clustercheck".to_owned());
        let password = self
            .password
            .clone()
            .or(file.password.map(Secret::new))
            .unwrap_or_else(|| Secret::new(""));
        let socket = self.socket.clone().or(file.socket);
        let host = self.host.clone().or(file.host);
        let port = self.port.or(file.port);
        // As the mysql client does: a socket wins unless a host other than localhost is named.
        let address = match (socket, host) {
            (Some(socket), None) => DbAddress::Socket(socket),
            (Some(socket), Some(host)) if host == "localhost" => DbAddress::Socket(socket),
            (None, Some(host)) if host == "localhost" && port.is_none() => {
                DbAddress::Socket(PathBuf::from(DEFAULT_SOCKET))
            }
            (_, Some(host)) => DbAddress::Tcp {
                host,
                port: port.unwrap_or(3306),
            },
            (None, None) => DbAddress::Socket(PathBuf::from(DEFAULT_SOCKET)),
        };
        Ok(DbEndpoint {
            user,
            password,
            address,
        })
    }
}

impl Config {
    /// Load and validate. `path` is the `--config` flag: `None` means the default path, which may
    /// be absent.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(path, overrides, Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn load_from(
        path: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        let file = path.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
        // Read it once ourselves to tell "absent at the default path" from "unreadable"; figment
        // then reads it by name so its errors say which file.
        match std::fs::metadata(file).and_then(|_| std::fs::File::open(file)) {
            Ok(_) => figment = figment.merge(Toml::file_exact(file)),
            Err(e) if path.is_none() && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ConfigError::Unreadable {
                    path: file.to_owned(),
                    source,
                })
            }
        }
        figment = figment.merge(env);
        let pairs = [
            ("node_name", &overrides.node_name),
            ("listen.check", &overrides.check_listen),
            ("listen.metrics", &overrides.metrics_listen),
            ("log.format", &overrides.log_format),
            ("log.level", &overrides.log_level),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                figment = figment.merge((key, value.as_str()));
            }
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(one_line(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, message: &str) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        }
        if self.node_name.trim().is_empty() {
            return invalid("node_name", "must not be empty");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return invalid("log.level", &format!("not a valid filter: {e}"));
        }
        if self.listen.max_connections == 0 {
            return invalid("listen.max_connections", "must be at least 1");
        }
        if self.listen.header_read_timeout.is_zero() {
            return invalid("listen.header_read_timeout", "must be greater than zero");
        }
        // Port 0 twice is two ports the system picks, so only a fixed port can clash.
        if self.listen.check.port() != 0 && self.listen.metrics == Some(self.listen.check) {
            return invalid(
                "listen.metrics",
                "must differ from listen.check (leave it unset to serve everything on one port)",
            );
        }
        let g = &self.galera;
        if g.interval < Duration::from_millis(100) {
            return invalid("galera.interval", "must be at least 100ms");
        }
        if g.timeout < Duration::from_millis(50) {
            return invalid("galera.timeout", "must be at least 50ms");
        }
        if g.max_staleness() < g.interval {
            return invalid("galera.max_staleness", "must be at least galera.interval");
        }
        if g.expected_nodes == 0 {
            return invalid("galera.expected_nodes", "must be at least 1");
        }
        let p = &self.pacemaker;
        if p.interval < Duration::from_millis(500) {
            return invalid("pacemaker.interval", "must be at least 500ms");
        }
        if p.timeout < Duration::from_millis(100) {
            return invalid("pacemaker.timeout", "must be at least 100ms");
        }
        if p.max_staleness() < p.interval {
            return invalid(
                "pacemaker.max_staleness",
                "must be at least pacemaker.interval",
            );
        }
        if p.crm_mon_path.as_os_str().is_empty() {
            return invalid("pacemaker.crm_mon_path", "must not be empty");
        }
        if p.cibadmin_path.as_os_str().is_empty() {
            return invalid("pacemaker.cibadmin_path", "must not be empty");
        }
        if self.vip.enabled {
            if !p.enabled {
                return invalid(
                    "vip.enabled",
                    "needs pacemaker.enabled = true (the VIP holder comes from Pacemaker)",
                );
            }
            let mut names = std::collections::HashSet::new();
            for entry in self.vip.entries() {
                let name = entry.name();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
                {
                    return invalid(
                        "vip.vips.name",
                        &format!("`{name}`: use letters, digits, `-`, `_`, `.` or `:`"),
                    );
                }
                if entry.resource.as_deref() == Some("") {
                    return invalid("vip.vips.resource", "must not be empty");
                }
                if !names.insert(name.clone()) {
                    return invalid("vip.vips.name", &format!("`{name}` is used twice"));
                }
            }
        }
        if g.enabled {
            // Reading the defaults file now makes a missing or broken file a start-up error.
            g.endpoint()?;
        }
        self.rabbitmq.validate()
    }
}

/// figment's messages can span lines (one per nested error); an operator wants one line.
fn one_line(error: &figment::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in error.clone() {
        let mut text = e.kind.to_string();
        if !e.path.is_empty() {
            text = format!("key `{}`: {text}", e.path.join("."));
        }
        match e.metadata.as_ref().map(|m| (&m.name, &m.source)) {
            Some((_, Some(figment::Source::File(path)))) => {
                text.push_str(&format!(" (in {})", path.display()))
            }
            Some((name, _)) => text.push_str(&format!(" (from {name})")),
            None => {}
        }
        parts.push(text);
    }
    // The TOML parser draws a caret diagram over several lines; keep its words only.
    parts
        .join("; ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains('|'))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_toml(text: &str) -> Result<Config, ConfigError> {
        load_with(text, &Overrides::default())
    }

    fn load_with(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        Config::load_from(
            Some(file.path()),
            overrides,
            Env::prefixed("CLUSTERCHECKD_TEST_UNUSED_"),
        )
    }

    #[test]
    fn defaults_match_clustercheck() {
        let config = load_toml("").expect("empty file is valid");
        assert_eq!(config.listen.check, "0.0.0.0:9200".parse().unwrap());
        assert_eq!(config.galera.interval, Duration::from_secs(1));
        assert_eq!(config.galera.max_staleness(), Duration::from_secs(3));
        assert!(!config.galera.available_when_donor);
        assert!(config.galera.available_when_readonly);
        assert_eq!(
            config.galera.maintenance_file,
            PathBuf::from("/var/tmp/clustercheck.disabled")
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_toml("[galera]\navaliable_when_donor = true\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("avaliable_when_donor"), "{text}");
        assert!(!text.contains('\n'), "one line: {text}");
    }

    #[test]
    fn bad_duration_names_the_key() {
        let err = load_toml("[galera]\ninterval = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("galera.interval"), "{err}");
    }

    #[test]
    fn bad_listen_address_names_the_key() {
        let err = load_toml("[listen]\ncheck = \"nowhere:x\"\n").unwrap_err();
        assert!(err.to_string().contains("listen.check"), "{err}");
    }

    #[test]
    fn zero_interval_is_rejected() {
        let err = load_toml("[galera]\ninterval = \"0s\"\n").unwrap_err();
        assert!(err.to_string().contains("galera.interval"), "{err}");
    }

    #[test]
    fn flags_win_over_file() {
        let overrides = Overrides {
            check_listen: Some("127.0.0.1:19999".into()),
            node_name: Some("controller02".into()),
            ..Overrides::default()
        };
        let config = load_with(
            "node_name = \"controller01\"\n[listen]\ncheck = \"127.0.0.1:9200\"\n",
            &overrides,
        )
        .unwrap();
        assert_eq!(config.listen.check, "127.0.0.1:19999".parse().unwrap());
        assert_eq!(config.node_name, "controller02");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
    fn env_wins_over_file_and_flags_over_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[galera]\ninterval = \"5s\"\nexpected_nodes = 5\n",
            )?;
            jail.set_env("CLUSTERCHECKD_GALERA__INTERVAL", "2s");
            jail.set_env("CLUSTERCHECKD_NODE_NAME", "from-env");
            let overrides = Overrides {
                node_name: Some("from-flag".into()),
                ..Overrides::default()
            };
            let config = Config::load(Some(Path::new("c.toml")), &overrides).unwrap();
            assert_eq!(config.galera.interval, Duration::from_secs(2));
            assert_eq!(config.galera.expected_nodes, 5);
            assert_eq!(config.node_name, "from-flag");
            Ok(())
        });
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/ccd.toml")),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ccd.toml"), "{err}");
    }

    #[test]
    fn password_never_debug_printed() {
        let config = load_toml("[galera]\npassword = \"hunter2\"\n").unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.galera.password.unwrap().expose(), "hunter2");
    }

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
        let endpoint = galera.endpoint().unwrap();
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
            galera.endpoint().unwrap().address,
            DbAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 13301
            }
        );
        let default = GaleraConfig::default().endpoint().unwrap();
        assert_eq!(default.address, DbAddress::Socket(DEFAULT_SOCKET.into()));
    }

    #[test]
    fn missing_defaults_file_is_a_config_error() {
        let err = load_toml("[galera]\ndefaults_file = \"/nonexistent/my.cnf\"\n").unwrap_err();
        assert!(err.to_string().contains("galera.defaults_file"), "{err}");
    }

    #[test]
    fn pacemaker_and_vip_are_off_by_default() {
        let config = load_toml("").unwrap();
        assert!(!config.pacemaker.enabled && !config.vip.enabled);
        assert_eq!(config.pacemaker.interval, Duration::from_secs(5));
        assert_eq!(config.vip.entries()[0].resource(), Some("vip"));
    }

    #[test]
    fn vip_list_and_its_errors() {
        let config = load_toml(
            "[pacemaker]\nenabled = true\n[vip]\nenabled = true\n\
             [[vip.vips]]\nname = \"vip_public\"\nresource = \"vip-public\"\naddress = \"192.0.2.10\"\n\
             [[vip.vips]]\naddress = \"2001:db8::1\"\n",
        )
        .unwrap();
        let entries = config.vip.entries();
        assert_eq!(entries[0].name(), "vip_public");
        assert_eq!(entries[1].name(), "2001:db8::1");
        assert_eq!(entries[1].resource(), None);
        let err = load_toml("[vip]\nenabled = true\n").unwrap_err();
        assert!(err.to_string().contains("vip.enabled"), "{err}");
        let err = load_toml(
            "[pacemaker]\nenabled = true\n[vip]\nenabled = true\n[[vip.vips]]\nresource = \"a\"\n[[vip.vips]]\nresource = \"a\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
        let err = load_toml("[[vip.vips]]\nadress = \"1.2.3.4\"\n").unwrap_err();
        assert!(err.to_string().contains("adress"), "{err}");
        let err = load_toml("[pacemaker]\ntimeout = \"1ms\"\n").unwrap_err();
        assert!(err.to_string().contains("pacemaker.timeout"), "{err}");
    }

    #[test]
    fn example_config_loads_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/clustercheckd.toml");
        let text = std::fs::read_to_string(&path).expect("config/clustercheckd.toml exists");
        // The example names real deployment paths; strip the credentials file so it loads here.
        let text = text
            .replace("defaults_file = ", "# defaults_file = ")
            .replace("credentials_file = ", "# credentials_file = ");
        load_toml(&text).expect("the example config is valid");
        for key in [
            "node_name",
            "format",
            "level",
            "check",
            "metrics",
            "header_read_timeout",
            "max_connections",
            "enabled",
            "interval",
            "timeout",
            "max_staleness",
            "expected_nodes",
            "defaults_file",
            "user",
            "password",
            "socket",
            "host",
            "port",
            "available_when_donor",
            "available_when_readonly",
            "maintenance_file",
            "recovery_max_hold",
            "read_members",
            "compat",
            "crm_mon_path",
            "cibadmin_path",
            "cib_file",
            "require_quorum",
            "require_local_node_online",
            "fail_on_failed_resources",
            "fail_on_failed_actions",
            "vips",
            "name",
            "resource",
            "address",
            "queue_interval",
            "management_url",
            "amqp_host",
            "amqp_port",
            "credentials_file",
            "vhost",
            "expected_policies",
            "fail_on_local_alarm",
            "fail_on_partition",
            "fail_on_probe_failure",
            "require_cluster_member",
            "max_queues",
            "max_queue_bytes",
            "probe",
            "probe_timeout",
            "scan_queues",
        ] {
            assert!(
                text.contains(&format!("{key} =")),
                "config/clustercheckd.toml does not document `{key}`"
            );
        }
    }
}
