//! Configuration: one typed tree, loaded from defaults < TOML file < `CLUSTERCHECKD_*` environment
//! variables < command-line flags, validated completely and with every secret resolved before any
//! port is bound.
//!
//! This file holds the top level ([`Config`], [`Config::load`], [`ConfigError`]); each section has
//! its own file: `listen.rs`, `log.rs`, `galera.rs`, `pacemaker.rs`, `vip.rs`, `rabbitmq.rs`,
//! `haproxy.rs`, `agent.rs`, `writer.rs`, `peers.rs`; `endpoint.rs` resolves the database
//! endpoint of every section that connects to one. The
//! settings every poller shares (`enabled`, `interval`, `timeout`, `max_staleness`) are defined
//! once in `poll.rs`. Credential files (a my.cnf, the RabbitMQ credentials file) are read by the
//! one reader in [`optfile`]; [`mycnf`] picks a client's options from it.
//!
//! Every key is documented on the field that holds it, and in the commented example
//! `config/clustercheckd.toml` (a unit test checks that the example loads and names every key).
//! Unknown keys are errors in every section: a typo such as `avaliable_when_donor` must not
//! silently fall back to the default on a production controller.
//!
//! Secrets are read exactly once, here at load: the loaded [`Config`] carries them resolved
//! ([`GaleraConfig::endpoint`], [`RabbitmqConfig::credentials`]), so a credentials file that is
//! missing or broken stops start-up, and nothing later reads a file again.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

// First: the sections below use its `poll_section!` macro.
#[macro_use]
mod poll;

mod agent;
pub mod clustercheck_env;
mod endpoint;
mod galera;
mod haproxy;
mod listen;
mod log;
pub mod mycnf;
pub mod optfile;
mod pacemaker;
mod peers;
mod rabbitmq;
mod secret;
mod vip;
pub mod web;
mod writer;

pub use agent::{AgentConfig, AgentRole, MIN_AGENT_WEIGHT};
pub use endpoint::{DbAddress, DbEndpoint};
pub use galera::{Compat, GaleraConfig, DEFAULT_SOCKET_CANDIDATES, MAX_RECOVERY_HOLD};
pub use haproxy::{HaproxyConfig, MAX_HAPROXY_FALL, MAX_HAPROXY_INTER};
pub use listen::{ListenConfig, MAX_CONNECTIONS, MAX_HEADER_READ_TIMEOUT};
pub use log::{LogConfig, LogFormat};
pub use optfile::OptionFileError;
pub use pacemaker::PacemakerConfig;
pub use peers::{PeerCredentials, PeersConfig, MAX_PEERS};
pub use poll::{
    PollFloors, PollSettings, DEFAULT_STALENESS_INTERVALS, MAX_INTERVAL, MAX_STALENESS, MAX_TIMEOUT,
};
pub use rabbitmq::{ExpectedPolicy, RabbitmqConfig, RabbitmqCredentials};
pub use secret::Secret;
pub use vip::{VipConfig, VipEntry};
pub use web::{WebConfig, WebConfigError};
pub use writer::{WriterConfig, DEFAULT_LEASE_USER, LEASE_TABLE};

/// Prefix of the environment variables; nesting uses a double underscore:
/// `CLUSTERCHECKD_GALERA__INTERVAL=2s` sets `[galera] interval`.
pub const ENV_PREFIX: &str = "CLUSTERCHECKD_";

/// Where the daemon looks for its file when `--config` is not given. A missing file at this
/// default path is not an error (defaults + environment + flags may be enough); a missing file
/// named explicitly is.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/clustercheckd/clustercheckd.toml";

/// Why a configuration cannot be used. Every message is one line that names the key (or the
/// file) at fault, and never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not TOML, a key is unknown, or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(String),
    /// A key that is no longer read where it is set; `to` is where it moved.
    #[error("configuration: key `{from}` moved to `{to}`{origin}")]
    Moved {
        from: &'static str,
        to: &'static str,
        /// ` (in FILE)` or ` (from SOURCE)`, as figment's own messages say it.
        origin: String,
    },
    /// A value is out of its bounds or contradicts another.
    #[error("configuration: key `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration: file {path}: cannot read it: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: key `rabbitmq.credentials_file`: {0}")]
    CredentialsFile(#[source] OptionFileError),
    /// A section's `defaults_file` (`key`: `galera.defaults_file`, `writer.defaults_file`).
    #[error("configuration: key `{key}`: {source}")]
    DefaultsFile {
        key: &'static str,
        source: OptionFileError,
    },
    #[error("configuration: key `galera.clustercheck_env_file`: {0}")]
    ClustercheckEnvFile(#[source] clustercheck_env::EnvFileError),
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub node_name: Option<String>,
    pub check_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub web_config_file: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name of this node in the Pacemaker cluster. Unset (the default): each cluster's own
    /// name for this node, asked on every poll (Pacemaker: `crm_node -n`; RabbitMQ: the node the
    /// local management API answers as, whatever is set here), so a host name that differs from
    /// the cluster's node name (short name vs FQDN) needs no configuration. Required with
    /// `pacemaker.cib_file` (a CIB file has no "local" node).
    pub node_name: Option<String>,
    pub log: LogConfig,
    pub listen: ListenConfig,
    pub galera: GaleraConfig,
    pub pacemaker: PacemakerConfig,
    pub vip: VipConfig,
    pub rabbitmq: RabbitmqConfig,
    /// HAProxy's check timing (`inter`, `fall`), waited out by `clustercheckd drain --wait` and
    /// by a new writer (its handover gap).
    pub haproxy: HaproxyConfig,
    /// How the HAProxy agent-check listener (`listen.agent`) answers.
    pub agent: AgentConfig,
    /// The single-writer lease behind `/writer` (docs/writer.md); off by default.
    pub writer: WriterConfig,
    /// The other controllers' daemons, polled for the cluster view (`[peers]`, off by default).
    pub peers: PeersConfig,
    /// Problems that do not stop start-up but that the operator must hear about (a credentials
    /// file readable by every user). Filled by `load`, logged by the binary once logging is set
    /// up, one line each.
    #[serde(skip)]
    pub warnings: Vec<String>,
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
            ("listen.web_config_file", &overrides.web_config_file),
            ("log.format", &overrides.log_format),
            ("log.level", &overrides.log_level),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                figment = figment.merge((key, value.as_str()));
            }
        }
        refuse_moved_keys(&figment)?;
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(one_line(&e)))?;
        // The writer computes its handover gap from HAProxy's timing, configured once.
        config.writer.haproxy = config.haproxy;
        config.validate()?;
        // The main file holds a secret when a password key's value came from it (and not from
        // the environment or the defaults).
        let mut secret_files = Vec::new();
        for key in ["galera.password", "rabbitmq.password", "writer.password"] {
            let from = figment.find_metadata(key).and_then(|m| m.source.as_ref());
            if let Some(figment::Source::File(path)) = from {
                secret_files.push((path.clone(), key));
            }
        }
        config.resolve_secrets(&mut secret_files)?;
        let mut warnings = Vec::new();
        config.peers.resolve(&mut secret_files, &mut warnings)?;
        secret_files.dedup_by(|a, b| a.0 == b.0);
        config.warnings = secret_files
            .iter()
            .filter_map(|(path, key)| secret::exposed_to_others(path, key))
            .chain(warnings)
            .collect();
        Ok(config)
    }

    /// Every bound and cross-key rule, section by section; no file is read here.
    fn validate(&self) -> Result<(), ConfigError> {
        if self
            .node_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(ConfigError::invalid(
                "node_name",
                "must not be empty (leave it unset to ask each cluster)",
            ));
        }
        if self.pacemaker.enabled && self.pacemaker.cib_file.is_some() && self.node_name.is_none() {
            return Err(ConfigError::invalid(
                "node_name",
                "must be set with pacemaker.cib_file: a CIB file has no local node to ask crm_node about",
            ));
        }
        self.log.validate()?;
        self.listen.validate()?;
        self.agent.validate()?;
        if self.listen.agent.is_some() && !self.galera.enabled {
            return Err(ConfigError::invalid(
                "listen.agent",
                "needs galera.enabled: the agent answers for the Galera node",
            ));
        }
        self.galera.validate()?;
        self.pacemaker.validate()?;
        self.vip.validate(self.pacemaker.enabled)?;
        self.rabbitmq.validate()?;
        self.haproxy.validate()?;
        self.writer.validate(self.galera.enabled)?;
        self.peers.validate()
    }

    /// Read every secret once, for the enabled sections only (a node without RabbitMQ need not
    /// have its credentials file).
    /// Every file a password came from is added to `secret_files`.
    fn resolve_secrets(
        &mut self,
        secret_files: &mut Vec<(PathBuf, &'static str)>,
    ) -> Result<(), ConfigError> {
        self.galera.endpoint = match self.galera.enabled {
            true => Some(self.galera.resolve_endpoint(secret_files)?),
            false => None,
        };
        self.rabbitmq.credentials = match self.rabbitmq.enabled {
            true => Some(self.rabbitmq.resolve_credentials(secret_files)?),
            false => None,
        };
        self.writer.endpoint = match self.writer.enabled {
            true => Some(
                self.writer
                    .resolve_endpoint(self.galera.endpoint.as_ref(), secret_files)?,
            ),
            false => None,
        };
        Ok(())
    }
}

/// A key that moved ([`haproxy::MOVED_KEYS`]) is refused, naming its new place, from any
/// source (file or environment): ignored, it would leave the default in force unnoticed.
fn refuse_moved_keys(figment: &Figment) -> Result<(), ConfigError> {
    for (from, to) in haproxy::MOVED_KEYS {
        if figment.find_value(from).is_err() {
            continue;
        }
        let origin = origin(figment.find_metadata(from));
        return Err(ConfigError::Moved { from, to, origin });
    }
    Ok(())
}

/// Where a value came from, for a message: ` (in FILE)`, ` (from SOURCE)` or nothing.
fn origin(metadata: Option<&figment::Metadata>) -> String {
    match metadata.map(|m| (&m.name, &m.source)) {
        Some((_, Some(figment::Source::File(path)))) => format!(" (in {})", path.display()),
        Some((name, _)) => format!(" (from {name})"),
        None => String::new(),
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
        text.push_str(&origin(e.metadata.as_ref()));
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
    use std::time::Duration;

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
    fn node_name_unset_by_default_and_required_with_a_cib_file() {
        assert_eq!(load_toml("").unwrap().node_name, None);
        let err =
            load_toml("[pacemaker]\nenabled = true\ncib_file = \"/tmp/cib.xml\"\n").unwrap_err();
        assert!(err.to_string().contains("`node_name`"), "{err}");
        assert!(err.to_string().contains("cib_file"), "{err}");
        let config = load_toml(
            "node_name = \"c1\"\n[pacemaker]\nenabled = true\ncib_file = \"/tmp/cib.xml\"\n",
        )
        .unwrap();
        assert_eq!(config.node_name.as_deref(), Some("c1"));
        assert!(load_toml("node_name = \" \"\n").is_err());
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
        assert_eq!(config.node_name.as_deref(), Some("controller02"));
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
            assert_eq!(config.node_name.as_deref(), Some("from-flag"));
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

    /// Secrets are read once, at load, into typed endpoints; a disabled section's file is
    /// never read.
    #[test]
    fn secrets_are_resolved_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let cnf = dir.path().join("cc.cnf");
        std::fs::write(&cnf, "[client]\nuser = fromfile\npassword = \"p w\"\n").unwrap();
        let creds = dir.path().join("rabbit");
        std::fs::write(&creds, "user = mon\npassword = s3\n").unwrap();
        let config = load_toml(&format!(
            "[galera]\ndefaults_file = \"{}\"\nhost = \"db1\"\n\
             [rabbitmq]\nenabled = true\ncredentials_file = \"{}\"\n",
            cnf.display(),
            creds.display()
        ))
        .unwrap();
        let endpoint = config.galera.endpoint.expect("galera is on by default");
        assert_eq!(endpoint.user, "fromfile");
        assert_eq!(endpoint.password.expose(), "p w");
        assert_eq!(
            endpoint.address,
            DbAddress::Tcp {
                host: "db1".into(),
                port: 3306
            }
        );
        let rabbit = config.rabbitmq.credentials.expect("rabbitmq enabled");
        assert_eq!(rabbit.user, "mon");
        assert_eq!(rabbit.password.expose(), "s3");

        let config = load_toml(
            "[galera]\nenabled = false\ndefaults_file = \"/nonexistent/cc.cnf\"\n\
             [rabbitmq]\ncredentials_file = \"/nonexistent/rabbit\"\n",
        )
        .expect("files of disabled sections are not read");
        assert!(config.galera.endpoint.is_none() && config.rabbitmq.credentials.is_none());
    }

    /// A file holding a password that every local user can read is a warning naming the file
    /// (and the key that points at it); the same files made private are not.
    #[test]
    fn credentials_files_readable_by_others_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cnf = dir.path().join("cc.cnf");
        let inner = dir.path().join("pw.cnf");
        std::fs::write(&cnf, "[client]\nuser = u\n!include pw.cnf\n").unwrap();
        std::fs::write(&inner, "[client]\npassword = p\n").unwrap();
        let creds = dir.path().join("rabbit");
        std::fs::write(&creds, "user = mon\npassword = s3\n").unwrap();
        let main = dir.path().join("main.toml");
        std::fs::write(
            &main,
            format!(
                "[galera]\ndefaults_file = \"{}\"\n\
                 [rabbitmq]\nenabled = true\ncredentials_file = \"{}\"\n",
                cnf.display(),
                creds.display()
            ),
        )
        .unwrap();
        let chmod = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let load = |path: &Path| {
            Config::load_from(
                Some(path),
                &Overrides::default(),
                Env::prefixed("CLUSTERCHECKD_TEST_UNUSED_"),
            )
            .unwrap()
            .warnings
        };
        for file in [&cnf, &inner, &creds, &main] {
            chmod(file, 0o644);
        }
        let warnings = load(&main);
        // The included file holds the password, not the includer; the main file holds none.
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains(&format!("{} (galera.defaults_file)", inner.display())));
        assert!(warnings[1].contains(&format!("{} (rabbitmq.credentials_file)", creds.display())));
        for file in [&inner, &creds] {
            chmod(file, 0o640);
        }
        assert_eq!(load(&main), Vec::<String>::new());

        // A password in the main file makes the main file a credentials file.
        std::fs::write(&main, "[galera]\npassword = \"p\"\n").unwrap();
        let warnings = load(&main);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains(&format!("{} (galera.password)", main.display())));
        chmod(&main, 0o600);
        assert_eq!(load(&main), Vec::<String>::new());
    }

    #[test]
    fn enabled_rabbitmq_without_credentials_names_the_key() {
        let err = load_toml("[rabbitmq]\nenabled = true\n").unwrap_err();
        assert!(err.to_string().contains("rabbitmq.user"), "{err}");
        let err = load_toml("[rabbitmq]\nenabled = true\ncredentials_file = \"/nonexistent/r\"\n")
            .unwrap_err();
        assert!(
            err.to_string().contains("rabbitmq.credentials_file"),
            "{err}"
        );
    }

    /// Regression: values that overflowed (`interval * 3`) or panicked (`max_connections` above
    /// the semaphore's maximum) later are refused at load, naming the key, in one line.
    #[test]
    fn out_of_bounds_values_are_refused_at_load() {
        for (text, key) in [
            (
                "[listen]\nmax_connections = 9223372036854775807\n",
                "listen.max_connections",
            ),
            (
                "[listen]\nmax_connections = 65537\n",
                "listen.max_connections",
            ),
            (
                "[listen]\nheader_read_timeout = \"1y\"\n",
                "listen.header_read_timeout",
            ),
            ("[galera]\ninterval = \"500000000y\"\n", "galera.interval"),
            ("[galera]\ntimeout = \"1h\"\n", "galera.timeout"),
            (
                "[galera]\nmax_staleness = \"2days\"\n",
                "galera.max_staleness",
            ),
            (
                "[galera]\nrecovery_max_hold = \"2h\"\n",
                "galera.recovery_max_hold",
            ),
            ("[pacemaker]\ninterval = \"2h\"\n", "pacemaker.interval"),
            (
                "[rabbitmq]\nqueue_interval = \"2h\"\n",
                "rabbitmq.queue_interval",
            ),
            (
                "[rabbitmq]\nprobe_timeout = \"10m\"\n",
                "rabbitmq.probe_timeout",
            ),
        ] {
            let err = load_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    /// Every section rejects an unknown key, including the ones whose poll settings come from
    /// `poll_section!` (which must not use `#[serde(flatten)]`, as that would accept them).
    #[test]
    fn unknown_key_in_every_section_is_named() {
        for (text, key) in UNKNOWN_KEY_CASES {
            let err = load_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?}: {err}");
        }
    }

    /// A config with one unknown key per section, and the key that must be named.
    const UNKNOWN_KEY_CASES: [(&str, &str); 12] = [
        ("[agent]\nweigth = 50\n", "weigth"),
        ("[haproxy]\nintr = \"2s\"\n", "intr"),
        ("[writer]\nleas = \"5s\"\n", "leas"),
        ("nodename = \"x\"\n", "nodename"),
        ("[listen]\nchek = \"127.0.0.1:1\"\n", "chek"),
        ("[log]\nlevle = \"info\"\n", "levle"),
        ("[galera]\nintervall = \"1s\"\n", "intervall"),
        ("[rabbitmq]\ntimout = \"1s\"\n", "timout"),
        ("[pacemaker]\nmax_stalenes = \"1m\"\n", "max_stalenes"),
        ("[vip]\nenable = true\n", "enable"),
        ("[peers]\nca_fle = \"x\"\n", "ca_fle"),
        (
            "[[vip.vips]]\nresource = \"vip\"\nadress = \"192.0.2.1\"\n",
            "adress",
        ),
    ];

    /// HAProxy's timing was configured twice (`[drain]` and `[writer]`); each old key, and a
    /// `[drain]` section left behind, is refused naming its new place, from the file or the
    /// environment, in one line.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
    fn moved_haproxy_keys_name_their_new_place() {
        for (text, from, to) in [
            (
                "[drain]\nhaproxy_inter = \"2s\"\n",
                "drain.haproxy_inter",
                "haproxy.inter",
            ),
            (
                "[drain]\nhaproxy_fall = 2\n",
                "drain.haproxy_fall",
                "haproxy.fall",
            ),
            (
                "[writer]\nhaproxy_inter = \"2s\"\n",
                "writer.haproxy_inter",
                "haproxy.inter",
            ),
            (
                "[writer]\nhaproxy_fall = 3\n",
                "writer.haproxy_fall",
                "haproxy.fall",
            ),
            ("[drain]\n", "drain", "haproxy"),
            ("[drain]\nhaproxy_interval = \"2s\"\n", "drain", "haproxy"),
        ] {
            let err = load_toml(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("key `{from}` moved to `{to}` (in ")),
                "{text:?}: {err}"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[haproxy]\ninter = \"1s\"\n")?;
            jail.set_env("CLUSTERCHECKD_WRITER__HAPROXY_FALL", "3");
            let err = Config::load(Some(Path::new("c.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`writer.haproxy_fall` moved to `haproxy.fall` (from "),
                "{err}"
            );
            Ok(())
        });
    }

    /// `[haproxy]` is read by both the drain command and the writer: one value, two uses.
    #[test]
    fn haproxy_timing_feeds_drain_and_the_writer() {
        let config = load_toml("[haproxy]\ninter = \"500ms\"\nfall = 3\n").unwrap();
        assert_eq!(config.haproxy.down_after(), Duration::from_secs(2));
        assert_eq!(config.writer.haproxy_delay(), Duration::from_secs(2));
        assert_eq!(config.writer.handover_gap(), Duration::from_secs(3));
        let err = load_toml("[haproxy]\ninter = \"1s\"\n[writer]\nhandover_gap = \"3s\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`writer.handover_gap`"), "{err}");
        assert!(
            err.contains("haproxy.inter x (haproxy.fall + 1) (3s)"),
            "{err}"
        );
        load_toml("[haproxy]\ninter = \"500ms\"\n[writer]\nhandover_gap = \"2s\"\n")
            .expect("2s exceeds 500ms x 3");
        let err = load_toml("[haproxy]\nfall = 0\n").unwrap_err().to_string();
        assert!(err.contains("`haproxy.fall`"), "{err}");
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
            "web_config_file",
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
            "notify_socket",
            "crm_mon_path",
            "cibadmin_path",
            "crm_node_path",
            "cib_file",
            "require_quorum",
            "require_local_node_online",
            "fail_on_failed_resources",
            "fail_on_failed_actions",
            "fail_on_failed_resources_anywhere",
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
            "inter",
            "fall",
            "agent",
            "role",
            "weight",
            "min_weight",
            "recv_queue_low",
            "recv_queue_high",
            "lease",
            "lease_row",
            "margin",
            "renew_interval",
            "handover_gap",
            "urls",
            "ca_file",
            "username",
            "password_file",
        ] {
            assert!(
                text.contains(&format!("{key} =")),
                "config/clustercheckd.toml does not document `{key}`"
            );
        }
    }
}
