//! The `[drain]` section: what `clustercheckd drain --wait` needs to know about the load
//! balancers in front of this node, to tell how long they take to notice a 503. Only the drain
//! command reads it; the daemon ignores it.

use std::time::Duration;

use humantime_serde::re::humantime::format_duration;
use serde::Deserialize;

use super::ConfigError;

/// No HAProxy check interval above a minute is plausible for a health check; the cap also keeps
/// `inter x (fall + 1)` far from overflowing.
pub const MAX_HAPROXY_INTER: Duration = Duration::from_secs(60);

/// HAProxy's `fall` above this would make a drain wait for minutes at any sane `inter`.
pub const MAX_HAPROXY_FALL: u32 = 100;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrainConfig {
    /// HAProxy's `inter` on this node's `server` lines (the check interval while the server is
    /// up): `drain --wait` waits `haproxy_inter x (haproxy_fall + 1)` after the check turns 503.
    #[serde(with = "humantime_serde")]
    pub haproxy_inter: Duration,
    /// HAProxy's `fall` on those lines: failed checks in a row before it marks the server DOWN.
    pub haproxy_fall: u32,
}

impl Default for DrainConfig {
    fn default() -> Self {
        Self {
            haproxy_inter: Duration::from_secs(2),
            haproxy_fall: 2,
        }
    }
}

impl DrainConfig {
    /// How long HAProxy may take to mark this node down once its check answers 503: `fall`
    /// failed checks `inter` apart, plus one `inter` because the first failed check can come up
    /// to one interval after the 503 starts.
    pub fn wait(&self) -> Duration {
        self.haproxy_inter
            .saturating_mul(self.haproxy_fall.saturating_add(1))
    }

    /// The wait as the operator should read it: `6s = 2s x (2 + 1)`.
    pub fn wait_explained(&self) -> String {
        format!(
            "{} = {} x ({} + 1)",
            format_duration(self.wait()),
            format_duration(self.haproxy_inter),
            self.haproxy_fall
        )
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.haproxy_inter.is_zero() || self.haproxy_inter > MAX_HAPROXY_INTER {
            return Err(ConfigError::invalid(
                "drain.haproxy_inter",
                format!(
                    "must be above 0 and at most {}",
                    format_duration(MAX_HAPROXY_INTER)
                ),
            ));
        }
        if !(1..=MAX_HAPROXY_FALL).contains(&self.haproxy_fall) {
            return Err(ConfigError::invalid(
                "drain.haproxy_fall",
                format!("must be between 1 and {MAX_HAPROXY_FALL}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_wait_is_three_intervals_and_says_so() {
        let config = DrainConfig::default();
        assert_eq!(config.wait(), Duration::from_secs(6));
        assert_eq!(config.wait_explained(), "6s = 2s x (2 + 1)");
    }

    #[test]
    fn bounds() {
        let mut config = DrainConfig {
            haproxy_fall: 0,
            ..DrainConfig::default()
        };
        assert!(config.validate().is_err());
        config.haproxy_fall = 3;
        config.haproxy_inter = Duration::ZERO;
        assert!(config.validate().is_err());
        config.haproxy_inter = Duration::from_millis(100);
        assert!(config.validate().is_ok());
        assert_eq!(config.wait_explained(), "400ms = 100ms x (3 + 1)");
    }
}
