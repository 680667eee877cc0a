//! The `[rabbitmq]` section: where the local RabbitMQ node's management API and AMQP listener
//! are, as whom to talk to them, what the cluster should look like, and which conditions fail
//! the `/rabbitmq` check.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitmqConfig {
    /// Off by default, so configurations written before RabbitMQ support keep working unchanged.
    pub enabled: bool,
    /// How often node, alarm and policy state is polled (overview, nodes, policies, alarms).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How often the queue listing is scanned. Slower than `interval` on purpose: listing every
    /// queue makes the broker walk all of them, which is the most expensive thing we ask.
    #[serde(with = "humantime_serde")]
    pub queue_interval: Duration,
    /// Hard limit on each management API call (connect, headers and body).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A node/policy snapshot older than this counts as unknown. Default: 3 x interval.
    #[serde(with = "humantime_serde")]
    pub max_staleness: Option<Duration>,
    /// Base URL of the local node's management API (plain HTTP; it normally listens on loopback).
    pub management_url: String,
    /// The local node's AMQP listener, for the round-trip probe.
    pub amqp_host: String,
    pub amqp_port: u16,
    /// File holding `user = ...` and `password = ...` lines (`#` comments allowed). Keys set
    /// below win over the file. Keeps the password out of the main configuration.
    pub credentials_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// The virtual host the probe uses.
    pub vhost: String,
    /// How many nodes the cluster should have (disc and ram together).
    pub expected_nodes: u32,
    /// Policies that must exist with exactly this pattern, definition and apply-to. The default
    /// is the deployment's `ha-all`, which mirrors every queue to every node.
    pub expected_policies: Vec<ExpectedPolicy>,
    /// Fail the check on the node that raised a memory or disk alarm. Off by default: an alarm
    /// blocks publishers on every node, and failing all checks would also keep consumers from
    /// reconnecting to drain the queues.
    pub fail_on_local_alarm: bool,
    /// Fail the check while the local node reports a network partition.
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
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness.unwrap_or(self.interval * 3)
    }

    /// Merge the credentials file (if any) under the keys of this section.
    pub fn credentials(&self) -> Result<RabbitmqCredentials, ConfigError> {
        let (file_user, file_password) = match &self.credentials_file {
            Some(path) => read_credentials_file(path)?,
            None => (None, None),
        };
        let user = self
            .user
            .clone()
            .or(file_user)
            .ok_or_else(|| ConfigError::Invalid {
                key: "rabbitmq.user",
                message: "must be set (here or in rabbitmq.credentials_file)".to_owned(),
            })?;
        let password = self
            .password
            .clone()
            .or(file_password.map(Secret::new))
            .ok_or_else(|| ConfigError::Invalid {
                key: "rabbitmq.password",
                message: "must be set (prefer rabbitmq.credentials_file)".to_owned(),
            })?;
        Ok(RabbitmqCredentials { user, password })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, message: &str) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        }
        if self.interval < Duration::from_millis(500) {
            return invalid("rabbitmq.interval", "must be at least 500ms");
        }
        if self.queue_interval < self.interval {
            return invalid(
                "rabbitmq.queue_interval",
                "must be at least rabbitmq.interval",
            );
        }
        if self.timeout < Duration::from_millis(100) {
            return invalid("rabbitmq.timeout", "must be at least 100ms");
        }
        if self.max_staleness() < self.interval {
            return invalid(
                "rabbitmq.max_staleness",
                "must be at least rabbitmq.interval",
            );
        }
        if self.probe_timeout < Duration::from_millis(100) {
            return invalid("rabbitmq.probe_timeout", "must be at least 100ms");
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
        if self.enabled {
            // A missing credentials file is a start-up error, not a collector that is down forever.
            self.credentials()?;
        }
        Ok(())
    }
}

/// `user = NAME` / `password = SECRET` lines; quotes around the value are optional.
fn read_credentials_file(path: &Path) -> Result<(Option<String>, Option<String>), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::CredentialsFile(format!("{}: {e}", path.display())))?;
    let mut user = None;
    let mut password = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            // Never echo the line: it may be the password.
            return Err(ConfigError::CredentialsFile(format!(
                "{}: line {}: expected `user = ...` or `password = ...`",
                path.display(),
                number + 1
            )));
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .to_owned();
        match key.trim() {
            "user" | "username" => user = Some(value),
            "password" => password = Some(value),
            other => {
                return Err(ConfigError::CredentialsFile(format!(
                    "{}: line {}: unknown key `{other}`",
                    path.display(),
                    number + 1
                )))
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
        let creds = c.credentials().unwrap();
        assert_eq!(creds.user, "fromfile");
        assert_eq!(creds.password.expose(), "s3cret pw");
        let c = RabbitmqConfig {
            user: Some("override".into()),
            ..c
        };
        assert_eq!(c.credentials().unwrap().user, "override");

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        writeln!(bad, "hunter2").unwrap();
        let c = RabbitmqConfig {
            credentials_file: Some(bad.path().to_owned()),
            ..RabbitmqConfig::default()
        };
        let err = c.credentials().unwrap_err().to_string();
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
            .validate()
            .unwrap_err()
            .to_string()
            .contains("rabbitmq.user"));
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
}
