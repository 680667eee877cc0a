//! The `[haproxy]` section: the check timing of the HAProxy instances in front of this node
//! (`inter`, `fall` and `rise` on its `server` lines), the one place it is configured. Two things
//! wait for HAProxy to have marked a server DOWN after its check turned 503 (`inter` and `fall`):
//! `clustercheckd drain --wait` (before a planned stop of mysqld) and a new writer (its default
//! `writer.handover_gap` and that gap's lower bound, docs/writer.md). `/writer/backup` also waits
//! for HAProxy to mark the new writer UP (`rise`).
//!
//! HAProxy cannot be asked (there may be several, on other hosts), so the operator states its
//! timing here; with several HAProxy configurations, the slowest one's.

use std::time::Duration;

use humantime_serde::re::humantime::format_duration;
use serde::Deserialize;

use super::ConfigError;

/// No HAProxy check interval above a minute is plausible for a health check; the cap also keeps
/// `inter x (fall + 1)` far from overflowing.
pub const MAX_HAPROXY_INTER: Duration = Duration::from_secs(60);

/// HAProxy's `fall` (or `rise`) above this would make a drain (and a writer handover) wait for
/// minutes at any sane `inter`.
pub const MAX_HAPROXY_FALL: u32 = 100;

/// The keys that used to say the same thing in two sections, and where they are now. A
/// configuration still naming one is refused at start-up with this pointer (`Config::load`):
/// silently ignoring it would run with the default timing instead of the operator's.
pub(super) const MOVED_KEYS: [(&str, &str); 5] = [
    ("drain.haproxy_inter", "haproxy.inter"),
    ("drain.haproxy_fall", "haproxy.fall"),
    ("writer.haproxy_inter", "haproxy.inter"),
    ("writer.haproxy_fall", "haproxy.fall"),
    // Checked last: a `[drain]` section left empty (or holding a typo) once its keys moved.
    ("drain", "haproxy"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaproxyConfig {
    /// HAProxy's `inter` on this node's `server` lines (the check interval while the server is
    /// up).
    #[serde(with = "humantime_serde")]
    pub inter: Duration,
    /// HAProxy's `fall` on those lines: failed checks in a row before it marks the server DOWN.
    pub fall: u32,
    /// HAProxy's `rise` on those lines: passed checks in a row before it marks the server UP.
    pub rise: u32,
}

impl Default for HaproxyConfig {
    fn default() -> Self {
        Self {
            inter: Duration::from_secs(2),
            fall: 2,
            rise: 2,
        }
    }
}

impl HaproxyConfig {
    /// How long HAProxy may keep routing to this node once its check answers 503: `fall` failed
    /// checks `inter` apart, plus one `inter` because the first failed check can come up to one
    /// interval after the 503 starts.
    pub fn down_after(&self) -> Duration {
        self.inter.saturating_mul(self.fall.saturating_add(1))
    }

    /// How long HAProxy may take to mark this node UP once its check answers 200: `rise` passed
    /// checks, plus one `inter` for the first to come.
    pub fn up_after(&self) -> Duration {
        self.inter.saturating_mul(self.rise.saturating_add(1))
    }

    /// That time as the operator should read it: `6s = 2s x (2 + 1)`.
    pub fn down_after_explained(&self) -> String {
        format!(
            "{} = {} x ({} + 1)",
            format_duration(self.down_after()),
            format_duration(self.inter),
            self.fall
        )
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.inter.is_zero() || self.inter > MAX_HAPROXY_INTER {
            return Err(ConfigError::invalid(
                "haproxy.inter",
                format!(
                    "must be above 0 and at most {}",
                    format_duration(MAX_HAPROXY_INTER)
                ),
            ));
        }
        for (key, value) in [("haproxy.fall", self.fall), ("haproxy.rise", self.rise)] {
            if !(1..=MAX_HAPROXY_FALL).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be between 1 and {MAX_HAPROXY_FALL}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_three_intervals_and_says_so() {
        let config = HaproxyConfig::default();
        assert_eq!(config.down_after(), Duration::from_secs(6));
        assert_eq!(config.down_after_explained(), "6s = 2s x (2 + 1)");
    }

    #[test]
    fn bounds() {
        let mut config = HaproxyConfig {
            fall: 0,
            ..HaproxyConfig::default()
        };
        assert!(config.validate().is_err());
        config.fall = 3;
        config.inter = Duration::ZERO;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`haproxy.inter`"), "{err}");
        config.inter = Duration::from_millis(100);
        assert!(config.validate().is_ok());
        assert_eq!(config.down_after_explained(), "400ms = 100ms x (3 + 1)");
        config.fall = MAX_HAPROXY_FALL + 1;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`haproxy.fall`"), "{err}");
        config.fall = 2;
        config.rise = 0;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("`haproxy.rise`"), "{err}");
        config.rise = 3;
        assert_eq!(config.up_after(), Duration::from_millis(400));
    }
}
