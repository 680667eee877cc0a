//! The decisions: from a snapshot to a verdict {healthy, reason}. Pure functions (the caller passes
//! the time), unit-tested beside the rules, and the only place each rule is written down.

pub mod galera;
pub mod pacemaker;
pub mod rabbitmq;
pub mod vip;

use serde::Serialize;

/// A subsystem's verdict: healthy or not, the rule that decided (`R`, one variant per rule, for
/// tests and logs), and the one-line reason as the check body says it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict<R> {
    pub healthy: bool,
    #[serde(skip)]
    pub reason: R,
    #[serde(rename = "reason")]
    pub text: String,
}
