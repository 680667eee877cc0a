//! The `[rabbitmq]` section: where the local RabbitMQ node's management API and AMQP listener
//! are, as whom to talk to them, what the cluster should look like, and which conditions fail
//! the `/rabbitmq` check. The credentials are resolved once, at load, into
//! [`RabbitmqConfig::credentials`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::optfile::{self, OptionFileError};
use super::poll::{PollFloors, MAX_INTERVAL, MAX_TIMEOUT};
use super::{ConfigError, Secret};

/// Calls to the management API are not free for the broker (the nodes listing walks every
/// node's state), so not more often than twice a second.
const FLOORS: PollFloors = PollFloors {
    interval: Duration::from_millis(500),
    timeout: Duration::from_millis(100),
};

poll_section! {
    /// `[rabbitmq]`: off by default, so configurations written before RabbitMQ support keep
    /// working unchanged. `interval` paces the node, alarm and policy polls (overview, nodes,
    /// policies, alarms) and the probe; `timeout` bounds each management API call (connect,
    /// headers and body).
    pub struct RabbitmqConfig {
        /// How often the queue listing is scanned. Slower than `interval` on purpose: listing
        /// every queue makes the broker walk all of them, which is the most expensive thing we
        /// ask.
        #[serde(with = "humantime_serde")]
        pub queue_interval: Duration,
        /// Base URL of the local node's management API (plain HTTP; it normally listens on
        /// loopback).
        pub management_url: String,
        /// The local node's AMQP listener, for the round-trip probe.
        pub amqp_host: String,
        pub amqp_port: u16,
        /// File holding `user = ...` and `password = ...` lines (the option-file format of
        /// `config::optfile`: `#` comments, optional quotes). Keys set below win over the file.
        /// Keeps the password out of the main configuration. Read once at load into
        /// `credentials`.
        pub credentials_file: Option<PathBuf>,
        /// Source of `credentials.user`; code reads `credentials`, not this.
        pub user: Option<String>,
        /// Source of `credentials.password`; code reads `credentials`, not this.
        pub password: Option<Secret>,
        /// The virtual host the probe uses.
        pub vhost: String,
        /// How many nodes the cluster should have (disc and ram together).
        pub expected_nodes: u32,
        /// Policies that must exist with exactly this pattern, definition and apply-to. The
        /// default is the deployment's `ha-all`, which mirrors every queue to every node.
        pub expected_policies: Vec<ExpectedPolicy>,
        /// Fail the check on the node that raised a memory or disk alarm. Off by default: an
        /// alarm blocks publishers on every node, and failing all checks would also keep
        /// consumers from reconnecting to drain the queues.
        pub fail_on_local_alarm: bool,
        /// Fail the check while the local node is on the minority side of a partition: it
        /// reaches (running, not in its `partitions` list, itself included) fewer than a
        /// majority of `expected_nodes`. The majority side keeps answering 200.
        pub fail_on_partition: bool,
        /// Fail the check when the AMQP probe fails (a probe blocked by an alarm never fails it).
        pub fail_on_probe_failure: bool,
        /// Fail the check when the local node is alone although more nodes are expected (it was
        /// reset or never joined).
        pub require_cluster_member: bool,
        /// Scan the queue listing at all (mirror sync, unprotected queues, quorum health).
        pub scan_queues: bool,
        /// The scan gives up (and says so) past this many queues...
        pub max_queues: u64,
        /// ...or past this many bytes of listing, so a huge broker cannot make the daemon huge.
        pub max_queue_bytes: u64,
        /// Run the AMQP round-trip probe every `interval`.
        pub probe: bool,
        /// Hard limit on one probe, connecting and cleaning up included.
        #[serde(with = "humantime_serde")]
        pub probe_timeout: Duration,
        /// The user and password for the management API and the probe: the keys above merged
        /// over `credentials_file`, resolved once by `Config::load`. `Some` exactly when the
        /// section is enabled.
        #[serde(skip)]
        pub credentials: Option<RabbitmqCredentials>,
    }
}

/// One policy the cluster must have.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedPolicy {
    pub name: String,
    #[serde(default = "default_vhost")]
    pub vhost: String,
    pub pattern: String,
    /// Compared as JSON, key order ignored.
    pub definition: serde_json::Value,
    #[serde(default = "default_apply_to")]
    pub apply_to: String,
}

fn default_vhost() -> String {
    "/".to_owned()
}

fn default_apply_to() -> String {
    "all".to_owned()
}

impl ExpectedPolicy {
    /// `ha-all` as the deployment creates it: `rabbitmqctl set_policy ha-all '^' '{"ha-mode":"all"}'`.
    pub fn ha_all() -> Self {
        Self {
            name: "ha-all".to_owned(),
            vhost: default_vhost(),
            pattern: "^".to_owned(),
            definition: serde_json::json!({"ha-mode": "all"}),
            apply_to: default_apply_to(),
        }
    }
}

impl Default for RabbitmqConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(10),
            queue_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_staleness: None,
            management_url: "http://127.0.0.1:15672".to_owned(),
            amqp_host: "127.0.0.1".to_owned(),
            amqp_port: 5672,
            credentials_file: None,
            user: None,
            password: None,
            vhost: "/".to_owned(),
            expected_nodes: 3,
            expected_policies: vec![ExpectedPolicy::ha_all()],
            fail_on_local_alarm: false,
            fail_on_partition: true,
            fail_on_probe_failure: true,
            require_cluster_member: true,
            scan_queues: true,
            max_queues: 50_000,
            max_queue_bytes: 64 * 1024 * 1024,
            probe: true,
            probe_timeout: Duration::from_secs(5),
            credentials: None,
        }
    }
}

/// The resolved user and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RabbitmqCredentials {
    pub user: String,
    pub password: Secret,
}

impl RabbitmqConfig {
    /// Merge the credentials file (if any) under the keys of this section. Called once, by
    /// `Config::load` when the section is enabled: a missing file is a start-up error, not a
    /// collector that is down forever.
    /// The file the password was read from is added to `secret_files`, for the "readable by
    /// others" warning.
    pub(super) fn resolve_credentials(
        &self,
        secret_files: &mut Vec<(PathBuf, &'static str)>,
    ) -> Result<RabbitmqCredentials, ConfigError> {
        let (file_user, file_password) = match &self.credentials_file {
            Some(path) => read_credentials_file(path).map_err(ConfigError::CredentialsFile)?,
            None => (None, None),
        };
        if let (Some(path), Some(_)) = (&self.credentials_file, &file_password) {
            secret_files.push((path.clone(), "rabbitmq.credentials_file"));
        }
        let user = self.user.clone().or(file_user).ok_or_else(|| {
            ConfigError::invalid(
                "rabbitmq.user",
                "must be set (here or in rabbitmq.credentials_file)",
            )
        })?;
        let password = self
            .password
            .clone()
            .or(file_password.map(Secret::new))
            .ok_or_else(|| {
                ConfigError::invalid(
                    "rabbitmq.password",
                    "must be set (prefer rabbitmq.credentials_file)",
                )
            })?;
        Ok(RabbitmqCredentials { user, password })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, message: &str) -> Result<(), ConfigError> {
            Err(ConfigError::invalid(key, message))
        }
        self.poll().validate("rabbitmq", FLOORS)?;
        if self.queue_interval < self.interval {
            return invalid(
                "rabbitmq.queue_interval",
                "must be at least rabbitmq.interval",
            );
        }
        if self.queue_interval > MAX_INTERVAL {
            return invalid("rabbitmq.queue_interval", "must be at most 1h");
        }
        if self.probe_timeout < Duration::from_millis(100) {
            return invalid("rabbitmq.probe_timeout", "must be at least 100ms");
        }
        if self.probe_timeout > MAX_TIMEOUT {
            return invalid("rabbitmq.probe_timeout", "must be at most 5m");
        }
        if self.expected_nodes == 0 {
            return invalid("rabbitmq.expected_nodes", "must be at least 1");
        }
        if self.max_queues == 0 {
            return invalid("rabbitmq.max_queues", "must be at least 1");
        }
        if self.max_queue_bytes < 1024 {
            return invalid("rabbitmq.max_queue_bytes", "must be at least 1024");
        }
        match reqwest::Url::parse(&self.management_url) {
            // The URL is logged and shown on /status: a password in it would be shown too.
            // (The message does not quote the URL, for the same reason.)
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                return invalid(
                    "rabbitmq.management_url",
                    "must not carry a user or password (it is logged and shown on /status); \
                     set them in rabbitmq.credentials_file",
                )
            }
            Ok(url) if url.scheme() == "http" && url.host().is_some() => {}
            Ok(_) => {
                return invalid(
                    "rabbitmq.management_url",
                    "must be an http:// URL with a host (TLS is not supported)",
                )
            }
            Err(e) => return invalid("rabbitmq.management_url", &format!("not a URL: {e}")),
        }
        if self.amqp_host.trim().is_empty() {
            return invalid("rabbitmq.amqp_host", "must not be empty");
        }
        for policy in &self.expected_policies {
            if policy.name.is_empty() {
                return invalid("rabbitmq.expected_policies", "every policy needs a name");
            }
            if !policy.definition.is_object() {
                return invalid(
                    "rabbitmq.expected_policies",
                    &format!("policy `{}`: definition must be a table", policy.name),
                );
            }
        }
        Ok(())
    }
}

/// `user = NAME` (or `username`) and `password = SECRET`, outside any `[group]`, read with the
/// shared option-file reader (so quoting, comments and `!include` follow its one set of rules).
/// Anything else is an error naming the line, never echoing it: it may be the password.
fn read_credentials_file(path: &Path) -> Result<(Option<String>, Option<String>), OptionFileError> {
    let mut user = None;
    let mut password = None;
    for option in optfile::read(path)? {
        if option.group.is_some() {
            return Err(OptionFileError::at(
                &option,
                "this file takes `user = ...` and `password = ...` outside any [group]",
            ));
        }
        let Some(value) = option.value.clone() else {
            return Err(OptionFileError::at(
                &option,
                "expected `user = ...` or `password = ...`",
            ));
        };
        match option.name.as_str() {
            "user" | "username" => user = Some(value),
            "password" => password = Some(value),
            other => {
                let message = format!("unknown key `{other}`");
                return Err(OptionFileError::at(&option, message));
            }
        }
    }
    Ok((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn defaults_are_off_with_ha_all_expected() {
        let c = RabbitmqConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.interval, Duration::from_secs(10));
        assert!(c.queue_interval >= Duration::from_secs(30));
        assert_eq!(c.expected_policies, vec![ExpectedPolicy::ha_all()]);
        assert!(!c.fail_on_local_alarm);
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn credentials_file_under_section_keys_and_never_echoed() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "# rabbit\nuser = fromfile\npassword = \"s3cret pw\"").unwrap();
        let c = RabbitmqConfig {
            credentials_file: Some(file.path().to_owned()),
            ..RabbitmqConfig::default()
        };
        let creds = c.resolve_credentials(&mut Vec::new()).unwrap();
        assert_eq!(creds.user, "fromfile");
        assert_eq!(creds.password.expose(), "s3cret pw");
        let c = RabbitmqConfig {
            user: Some("override".into()),
            ..c
        };
        assert_eq!(
            c.resolve_credentials(&mut Vec::new()).unwrap().user,
            "override"
        );

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        writeln!(bad, "hunter2").unwrap();
        let c = RabbitmqConfig {
            credentials_file: Some(bad.path().to_owned()),
            ..RabbitmqConfig::default()
        };
        let err = c
            .resolve_credentials(&mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("rabbitmq.credentials_file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn enabled_without_credentials_names_the_key() {
        let c = RabbitmqConfig {
            enabled: true,
            ..RabbitmqConfig::default()
        };
        assert!(c
            .resolve_credentials(&mut Vec::new())
            .unwrap_err()
            .to_string()
            .contains("rabbitmq.user"));
    }

    /// The credentials file follows the shared option-file rules: single quotes, a trailing
    /// comment after a quoted value, `!include`; groups are refused rather than ignored.
    #[test]
    fn credentials_file_uses_the_shared_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pw"),
            "password = 'a \"b\" c' # rotated monthly\n",
        )
        .unwrap();
        let file = dir.path().join("creds");
        std::fs::write(&file, "username = mon\n!include pw\n").unwrap();
        let c = RabbitmqConfig {
            credentials_file: Some(file.clone()),
            ..RabbitmqConfig::default()
        };
        let creds = c.resolve_credentials(&mut Vec::new()).unwrap();
        assert_eq!(creds.user, "mon");
        assert_eq!(creds.password.expose(), "a \"b\" c");
        std::fs::write(&file, "[rabbitmq]\nuser = mon\n").unwrap();
        let err = c
            .resolve_credentials(&mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("[group]"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = RabbitmqConfig {
            queue_interval: Duration::from_secs(1),
            ..RabbitmqConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("rabbitmq.queue_interval"));
        let c = RabbitmqConfig {
            management_url: "https://x".into(),
            ..RabbitmqConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("rabbitmq.management_url"));
    }

    /// Regression: a URL with `user:password@` was accepted, then logged at start-up.
    #[test]
    fn management_url_with_credentials_is_refused_without_quoting_it() {
        for url in [
            "http://mon:hunter2@127.0.0.1:15672",
            "http://mon@127.0.0.1:15672",
        ] {
            let c = RabbitmqConfig {
                management_url: url.into(),
                ..RabbitmqConfig::default()
            };
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("rabbitmq.management_url"), "{err}");
            assert!(err.contains("must not carry a user or password"), "{err}");
            assert!(!err.contains("hunter2") && !err.contains("mon@"), "{err}");
        }
    }
}
