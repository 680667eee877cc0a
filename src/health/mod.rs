//! The decisions: from a snapshot to a verdict {healthy, reason}. Pure functions (the caller passes
//! the time), unit-tested beside the rules, and the only place each rule is written down.

pub mod galera;
pub mod pacemaker;
pub mod rabbitmq;
pub mod vip;
