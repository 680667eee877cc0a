//! The decisions: from a snapshot to a verdict. Pure functions (the caller passes the time),
//! unit-tested beside the rules, and the only place each rule is written down.
//!
//! Every check has the same verdict shape, [`Verdict`]: healthy or not, the typed rule that
//! decided (one enum per subsystem, one variant per rule), and the one-line reason the check body
//! says. Every subsystem first asks [`freshness`] whether its snapshot can be trusted at all.

pub mod agent;
pub mod cluster;
pub mod galera;
pub mod pacemaker;
pub mod rabbitmq;
pub mod vip;
pub mod writer;

use std::time::{Duration, Instant};

use serde::Serialize;

/// A subsystem's rule set: each variant is one rule that can decide a verdict.
pub trait Rule {
    /// Whether this rule means "send traffic here".
    fn healthy(&self) -> bool;

    /// The one-line reason, as the check body says it (without the newline).
    fn text(&self) -> String;

    /// Whether this is the [`freshness`] rule's "too old to trust" (whose text carries an age).
    fn stale(&self) -> bool {
        false
    }

    /// What a transition log compares: the reason without values that change on every poll
    /// (ages, outage lengths), so "unreachable for 4.2 s" -> "... 5.2 s" is not a transition.
    fn state_key(&self) -> String {
        if self.stale() {
            STALE_KEY.to_owned()
        } else {
            self.text()
        }
    }
}

/// The state key of every stale verdict, whatever its age.
pub const STALE_KEY: &str = "state unknown: stale";

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict<R> {
    pub healthy: bool,
    /// The rule that decided, for tests, logs and compatibility bodies.
    #[serde(skip)]
    pub rule: R,
    /// The one-line reason (the check body without its newline).
    pub reason: String,
}

impl<R: Rule> Verdict<R> {
    pub fn of(rule: R) -> Self {
        Self {
            healthy: rule.healthy(),
            reason: rule.text(),
            rule,
        }
    }
}

/// Why a snapshot cannot be trusted: nothing to judge yet, or too old to mean anything now (a
/// stuck collector must not keep answering with what it last saw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    NeverPolled,
    Stale { age: Duration },
}

/// The one freshness rule every subsystem applies first: a snapshot taken more than
/// `max_staleness` ago, or never, is unknown.
pub fn freshness(
    taken_at: Option<Instant>,
    max_staleness: Duration,
    now: Instant,
) -> Result<(), Unknown> {
    let taken_at = taken_at.ok_or(Unknown::NeverPolled)?;
    let age = now.saturating_duration_since(taken_at);
    if age > max_staleness {
        return Err(Unknown::Stale { age });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_never_polled_then_fresh_then_stale() {
        let t0 = Instant::now();
        let max = Duration::from_secs(3);
        assert_eq!(freshness(None, max, t0), Err(Unknown::NeverPolled));
        assert_eq!(freshness(Some(t0), max, t0 + max), Ok(()));
        assert_eq!(
            freshness(Some(t0), max, t0 + Duration::from_secs(4)),
            Err(Unknown::Stale {
                age: Duration::from_secs(4)
            })
        );
        // A snapshot stamped after `now` (clock read order) is fresh, not a panic.
        assert_eq!(freshness(Some(t0 + max), max, t0), Ok(()));
    }
}
