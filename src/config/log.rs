//! The `[log]` section: how the daemon writes its own log.

use serde::Deserialize;

use super::ConfigError;

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

impl LogConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        // Checked here, not when logging starts: a bad filter is a configuration error (exit 2).
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            return Err(ConfigError::invalid(
                "log.level",
                format!("not a valid filter: {e}"),
            ));
        }
        Ok(())
    }
}
