//! The poll settings every watched system shares (`enabled`, `interval`, `timeout`,
//! `max_staleness`), defined once: their keys, documentation, defaults rule and bounds.
//!
//! Why a macro and not a nested struct: the keys sit directly in each section (`[galera]
//! interval = "1s"`), and the only way serde nests a struct's keys into its parent is
//! `#[serde(flatten)]`, which silently turns off `deny_unknown_fields` for the whole section
//! (serde has to buffer every key to hand them out, and forgets which ones nobody claimed). So
//! [`poll_section!`] writes the four fields into each section struct instead, which keeps every
//! section a plain struct that rejects unknown keys, and keeps `config.galera.interval` a plain
//! field for the code that reads it.

use std::time::Duration;

use humantime_serde::re::humantime::format_duration;

use super::ConfigError;

/// A snapshot is unknown (503) after this many intervals when `max_staleness` is not set: one
/// late poll is tolerated, two in a row are not, and a stuck poller shows within seconds.
pub const DEFAULT_STALENESS_INTERVALS: u32 = 3;

/// No poll interval may exceed an hour: a health check fed by hour-old data is no health check,
/// and the cap keeps every deadline computed from it (interval x 3, now + interval) far from
/// overflowing `Instant` or `Duration`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// No single poll (connect, query, tool run) may be allowed more than five minutes: a poll that
/// hangs longer is broken, and the timeout is what bounds how late a hung server is noticed.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// A snapshot may be trusted for at most a day, whatever `max_staleness` says.
pub const MAX_STALENESS: Duration = Duration::from_secs(24 * 3600);

/// The four shared settings of one section, as plain values (see [`poll_section!`] for their
/// documentation as keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSettings {
    pub enabled: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub max_staleness: Option<Duration>,
}

/// The lower bounds of one section: what each watched system can be polled at without costing
/// more than the check is worth (crm_mon costs CPU in the CIB manager, a SQL poll almost none).
#[derive(Debug, Clone, Copy)]
pub struct PollFloors {
    pub interval: Duration,
    pub timeout: Duration,
}

impl PollSettings {
    /// The age after which a snapshot counts as unknown: `max_staleness`, else 3 x interval.
    /// Saturating, so an absurd interval cannot panic here before validation rejects it.
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness
            .unwrap_or_else(|| self.interval.saturating_mul(DEFAULT_STALENESS_INTERVALS))
    }

    /// Check the bounds, naming the key as `SECTION.KEY`. Checked whether or not the section is
    /// enabled, so turning a section on later never reveals an old mistake.
    pub fn validate(&self, section: &str, floors: PollFloors) -> Result<(), ConfigError> {
        let key = |name: &str| format!("{section}.{name}");
        if self.interval < floors.interval {
            return Err(ConfigError::invalid(
                key("interval"),
                format!("must be at least {}", format_duration(floors.interval)),
            ));
        }
        if self.interval > MAX_INTERVAL {
            return Err(ConfigError::invalid(
                key("interval"),
                format!("must be at most {}", format_duration(MAX_INTERVAL)),
            ));
        }
        if self.timeout < floors.timeout {
            return Err(ConfigError::invalid(
                key("timeout"),
                format!("must be at least {}", format_duration(floors.timeout)),
            ));
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(ConfigError::invalid(
                key("timeout"),
                format!("must be at most {}", format_duration(MAX_TIMEOUT)),
            ));
        }
        let staleness = self.max_staleness();
        if staleness < self.interval {
            return Err(ConfigError::invalid(
                key("max_staleness"),
                format!("must be at least {section}.interval"),
            ));
        }
        if staleness > MAX_STALENESS {
            return Err(ConfigError::invalid(
                key("max_staleness"),
                format!("must be at most {}", format_duration(MAX_STALENESS)),
            ));
        }
        Ok(())
    }
}

/// Declare one section struct with the shared poll settings in front of its own fields.
///
/// The struct gets `Debug, Clone, Deserialize`, `#[serde(deny_unknown_fields, default)]` (so the
/// section needs a `Default` impl, which states its own poll defaults), the four fields below,
/// and `poll()` / `max_staleness()`.
macro_rules! poll_section {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                pub $field:ident : $type:ty,
            )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            /// Watch this system at all. A disabled section is still validated, but its
            /// credentials are not read and its check answers 503.
            pub enabled: bool,
            /// How often the system is polled.
            #[serde(with = "humantime_serde")]
            pub interval: std::time::Duration,
            /// Hard limit on one poll (connect and query, or one tool run, or one API call): a
            /// hung system is seen within interval + timeout.
            #[serde(with = "humantime_serde")]
            pub timeout: std::time::Duration,
            /// A snapshot older than this counts as unknown (503): the poller itself is stuck.
            /// Default: 3 x interval. Read it through `max_staleness()`.
            #[serde(with = "humantime_serde")]
            pub max_staleness: Option<std::time::Duration>,
            $(
                $(#[$field_attr])*
                pub $field: $type,
            )*
        }

        impl $name {
            /// The shared poll settings of this section.
            pub fn poll(&self) -> $crate::config::PollSettings {
                $crate::config::PollSettings {
                    enabled: self.enabled,
                    interval: self.interval,
                    timeout: self.timeout,
                    max_staleness: self.max_staleness,
                }
            }

            /// The age after which a snapshot counts as unknown (`max_staleness`, else 3 x
            /// interval, saturating).
            pub fn max_staleness(&self) -> std::time::Duration {
                self.poll().max_staleness()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOORS: PollFloors = PollFloors {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(50),
    };

    fn poll(interval: Duration, max_staleness: Option<Duration>) -> PollSettings {
        PollSettings {
            enabled: true,
            interval,
            timeout: Duration::from_secs(1),
            max_staleness,
        }
    }

    /// Regression: `interval * 3` panicked on overflow for an interval near `Duration::MAX`.
    #[test]
    fn default_staleness_saturates_instead_of_overflowing() {
        let huge = poll(Duration::MAX, None);
        assert_eq!(huge.max_staleness(), Duration::MAX);
        let err = huge.validate("galera", FLOORS).unwrap_err().to_string();
        assert!(
            err.contains("galera.interval") && err.contains("at most"),
            "{err}"
        );
    }

    #[test]
    fn default_staleness_is_three_intervals() {
        let p = poll(Duration::from_secs(2), None);
        assert_eq!(p.max_staleness(), Duration::from_secs(6));
        p.validate("galera", FLOORS).unwrap();
    }

    #[test]
    fn bounds_name_their_key() {
        let cases = [
            (poll(Duration::from_millis(10), None), "x.interval"),
            (
                poll(MAX_INTERVAL + Duration::from_secs(1), None),
                "x.interval",
            ),
            (
                PollSettings {
                    timeout: Duration::from_millis(1),
                    ..poll(Duration::from_secs(1), None)
                },
                "x.timeout",
            ),
            (
                PollSettings {
                    timeout: MAX_TIMEOUT + Duration::from_secs(1),
                    ..poll(Duration::from_secs(1), None)
                },
                "x.timeout",
            ),
            (
                poll(Duration::from_secs(10), Some(Duration::from_secs(5))),
                "x.max_staleness",
            ),
            (
                poll(
                    Duration::from_secs(10),
                    Some(MAX_STALENESS + Duration::from_secs(1)),
                ),
                "x.max_staleness",
            ),
        ];
        for (settings, key) in cases {
            let err = settings.validate("x", FLOORS).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{settings:?}: {err}");
        }
        // The caps themselves are allowed.
        poll(MAX_INTERVAL, Some(MAX_STALENESS))
            .validate("x", FLOORS)
            .unwrap();
    }
}
