//! The HAProxy agent-check reply: what the optional agent listener (`listen.agent`) says about
//! the Galera node, from the same verdict as the HTTP check ([`super::galera`]).
//!
//! HAProxy reads one line per agent connection (`agent-check agent-port 9300 agent-inter
//! 250ms`). The words change different things in HAProxy, and some of them outlive the reply, so
//! the rules are chosen to be safe by construction:
//!
//! - healthy: `up 100%` — the weight in percent of the server's weight in haproxy.cfg, lowered
//!   linearly from `agent.weight` to `agent.min_weight` as wsrep_local_recv_queue grows from
//!   `recv_queue_low` to `recv_queue_high` (when both are set). Never below 10%: HAProxy shows a
//!   weight of 0 as DRAIN and rounds `weight x percent / 100` down, so a tiny percentage would
//!   silently drain the node.
//! - unhealthy: `down #reason` (the check's one-line reason).
//! - the maintenance file exists (the Galera verdict's first rule): `maint #reason` for a writer
//!   backend; `drain #reason` for `role = "reader"`, where keeping old sessions while no new
//!   ones come is harmless. **Never `drain` for a writer**: draining the writer keeps its old
//!   sessions writing there while new ones go to a backup, i.e. two writers.
//! - `ready` (as `up ready 100%`) exactly once, on the first healthy reply to a source that this
//!   agent last told `maint` or `drain`. HAProxy's `ready` clears *any* MAINT or DRAIN, also one
//!   an operator set with `set server BE/SRV state maint` on the runtime API, so it is never sent
//!   otherwise: an operator's maintenance survives any number of healthy agent replies.
//!
//! The memory behind `ready` is the daemon's (not a connection's: each connection carries one
//! reply), kept per source address by the listener ([`Withdrawn`]), because several HAProxy
//! instances poll one agent and each must get its own `ready`. It is not kept across restarts of
//! the daemon: a node whose maintenance file was removed while clustercheckd was down stays in
//! MAINT in HAProxy until an operator sets it ready.

use std::collections::HashSet;
use std::net::IpAddr;

use super::galera::{self, Reason};
use super::Rule;
use crate::collectors::galera::GaleraSnapshot;
use crate::config::{AgentConfig, AgentRole, MIN_AGENT_WEIGHT};

/// The longest description sent after `#`: it is shown on HAProxy's stats page, and a check
/// buffer has room for far more, but nobody reads a longer one there.
const MAX_DESCRIPTION: usize = 200;

/// One agent reply. [`Reply::line`] is what goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Healthy: `up N%`.
    Up { weight: u8 },
    /// Healthy, leaving this agent's own maint or drain: `up ready N%`.
    Ready { weight: u8 },
    /// Unhealthy: `down #reason`.
    Down(String),
    /// Maintenance file, writer role: `maint #reason`.
    Maint(String),
    /// Maintenance file, reader role: `drain #reason`.
    Drain(String),
}

impl Reply {
    /// Every kind, in the order the metric lists them.
    pub const KINDS: [&'static str; 5] = ["up", "down", "maint", "ready", "drain"];

    /// The metric label: one of [`Reply::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Up { .. } => "up",
            Reply::Ready { .. } => "ready",
            Reply::Down(_) => "down",
            Reply::Maint(_) => "maint",
            Reply::Drain(_) => "drain",
        }
    }

    /// Index of [`Reply::kind`] in [`Reply::KINDS`].
    pub fn index(&self) -> usize {
        Self::KINDS
            .iter()
            .position(|k| *k == self.kind())
            .unwrap_or(0)
    }

    /// Whether this reply puts the server into an administrative state (MAINT, DRAIN) that only
    /// a later `ready` takes it out of.
    pub fn withdraws(&self) -> bool {
        matches!(self, Reply::Maint(_) | Reply::Drain(_))
    }

    /// The line HAProxy reads, with its newline.
    pub fn line(&self) -> String {
        match self {
            Reply::Up { weight } => format!("up {weight}%\n"),
            Reply::Ready { weight } => format!("up ready {weight}%\n"),
            Reply::Down(reason) => format!("down #{}\n", description(reason)),
            Reply::Maint(reason) => format!("maint #{}\n", description(reason)),
            Reply::Drain(reason) => format!("drain #{}\n", description(reason)),
        }
    }
}

/// A reason as one short line: HAProxy ends the reply at the first CR or LF, so neither may
/// appear inside it.
fn description(reason: &str) -> String {
    let mut text: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.len() > MAX_DESCRIPTION {
        let mut end = MAX_DESCRIPTION;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The reply to one agent connection. Pure: the caller passes the Galera verdict of `snapshot`
/// (the same one the HTTP check gives) and whether this agent's last word to this source was
/// `maint` or `drain` (`withdrawn`), and records the reply ([`Withdrawn::record`]).
pub fn reply(
    snapshot: &GaleraSnapshot,
    verdict: galera::Verdict,
    agent: &AgentConfig,
    withdrawn: bool,
) -> Reply {
    if let Reason::MaintenanceFile(_) = verdict.rule {
        return match agent.role {
            AgentRole::Reader => Reply::Drain(verdict.reason),
            AgentRole::Writer => Reply::Maint(verdict.reason),
        };
    }
    if !verdict.rule.healthy() {
        return Reply::Down(verdict.reason);
    }
    let recv_queue = snapshot
        .outcome
        .as_ref()
        .ok()
        .and_then(|polled| polled.status.recv_queue);
    let weight = weight(agent, recv_queue);
    if withdrawn {
        Reply::Ready { weight }
    } else {
        Reply::Up { weight }
    }
}

/// The healthy weight in percent: `agent.weight` up to `recv_queue_low`, `agent.min_weight` from
/// `recv_queue_high` on, linear in between; never below [`MIN_AGENT_WEIGHT`] whatever the config.
pub fn weight(agent: &AgentConfig, recv_queue: Option<u64>) -> u8 {
    let top = agent.weight.max(MIN_AGENT_WEIGHT);
    let floor = agent.min_weight.clamp(MIN_AGENT_WEIGHT, top);
    let weight = match (agent.recv_queue_low, agent.recv_queue_high, recv_queue) {
        (Some(low), Some(high), Some(queue)) if high > low => {
            if queue <= low {
                top
            } else if queue >= high {
                floor
            } else {
                // u128: no overflow whatever the queue length.
                let span = u128::from(top - floor);
                let drop = span * u128::from(queue - low) / u128::from(high - low);
                top - u8::try_from(drop).unwrap_or(top - floor)
            }
        }
        _ => top,
    };
    weight.max(floor)
}

/// The sources (HAProxy instances, by address) this agent last told `maint` or `drain`: each
/// gets one `ready` when the node is healthy again. Bounded: a source beyond
/// [`Withdrawn::MAX_SOURCES`] is not remembered (it then keeps the MAINT until an operator
/// clears it, the safe side).
#[derive(Debug, Default)]
pub struct Withdrawn(HashSet<IpAddr>);

impl Withdrawn {
    /// Far more load balancers than any control plane has; a bound on what a flood of sources
    /// can make the daemon hold while the maintenance file exists.
    pub const MAX_SOURCES: usize = 1024;

    pub fn contains(&self, source: IpAddr) -> bool {
        self.0.contains(&source)
    }

    /// `source` did not get the `ready` it was sent (the connection failed): owe it again.
    pub fn owe_ready(&mut self, source: IpAddr) {
        if self.0.len() < Self::MAX_SOURCES {
            self.0.insert(source);
        }
    }

    /// Remember what `source` was told.
    pub fn record(&mut self, source: IpAddr, reply: &Reply) {
        match reply {
            Reply::Maint(_) | Reply::Drain(_) => self.owe_ready(source),
            Reply::Ready { .. } => {
                self.0.remove(&source);
            }
            // `down` leaves HAProxy's administrative state alone: the `ready` is still owed.
            Reply::Up { .. } | Reply::Down(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::galera::status::tests_support::synced_status as synced;
    use crate::collectors::galera::status::LocalState;
    use crate::collectors::galera::tests_support::polled as snapshot;
    use crate::config::GaleraConfig;
    use std::time::Instant;

    fn with_queue(queue: u64) -> GaleraSnapshot {
        let mut status = synced();
        status.recv_queue = Some(queue);
        snapshot(status, Instant::now())
    }

    fn maintenance() -> GaleraSnapshot {
        let mut s = snapshot(synced(), Instant::now());
        s.maintenance_file = true;
        s
    }

    fn desynced() -> GaleraSnapshot {
        let mut status = synced();
        status.local_state = LocalState::DonorDesynced;
        status.local_state_comment = "Donor/Desynced".into();
        snapshot(status, Instant::now())
    }

    fn thresholds(low: u64, high: u64) -> AgentConfig {
        AgentConfig {
            recv_queue_low: Some(low),
            recv_queue_high: Some(high),
            ..AgentConfig::default()
        }
    }

    fn reply_of(snapshot: &GaleraSnapshot, agent: &AgentConfig, withdrawn: bool) -> Reply {
        let verdict = galera::verdict(snapshot, None, &GaleraConfig::default(), Instant::now());
        reply(snapshot, verdict, agent, withdrawn)
    }

    #[test]
    fn healthy_is_up_with_the_configured_weight() {
        let r = reply_of(&with_queue(0), &AgentConfig::default(), false);
        assert_eq!(r, Reply::Up { weight: 100 });
        assert_eq!(r.line(), "up 100%\n");
        let agent = AgentConfig {
            weight: 60,
            ..AgentConfig::default()
        };
        assert_eq!(reply_of(&with_queue(0), &agent, false).line(), "up 60%\n");
    }

    #[test]
    fn weight_falls_linearly_with_the_receive_queue() {
        let agent = thresholds(10, 110);
        assert_eq!(weight(&agent, Some(0)), 100);
        assert_eq!(weight(&agent, Some(10)), 100);
        assert_eq!(weight(&agent, Some(60)), 55);
        assert_eq!(weight(&agent, Some(110)), 10);
        assert_eq!(weight(&agent, None), 100, "no queue known: full weight");
        // Without thresholds the queue changes nothing.
        assert_eq!(weight(&AgentConfig::default(), Some(u64::MAX)), 100);
    }

    /// The floor holds whatever the queue and whatever a config that skipped validation says:
    /// a weight below 10% could be 0 in HAProxy, which is DRAIN.
    #[test]
    fn weight_never_goes_below_ten_percent() {
        let agent = thresholds(0, 1);
        for queue in [1, 2, 1_000, u64::MAX] {
            assert_eq!(weight(&agent, Some(queue)), 10, "queue {queue}");
        }
        let unchecked = AgentConfig {
            weight: 5,
            min_weight: 0,
            recv_queue_low: Some(0),
            recv_queue_high: Some(10),
            ..AgentConfig::default()
        };
        for queue in [0, 5, 10, u64::MAX] {
            assert!(weight(&unchecked, Some(queue)) >= MIN_AGENT_WEIGHT);
        }
        for queue in 0..=200 {
            let w = weight(&thresholds(10, 110), Some(queue));
            assert!((10..=100).contains(&w), "queue {queue}: {w}");
        }
    }

    #[test]
    fn unhealthy_is_down_with_the_reason_on_one_line() {
        let r = reply_of(&desynced(), &AgentConfig::default(), false);
        assert_eq!(
            r.line(),
            "down #Galera cluster node is not synced: Donor/Desynced.\n"
        );
        let never = GaleraSnapshot {
            taken_at: None,
            ..with_queue(0)
        };
        assert_eq!(
            reply_of(&never, &AgentConfig::default(), false).kind(),
            "down"
        );
        assert_eq!(
            Reply::Down("a\r\nb\nc".into()).line(),
            "down #a  b c\n",
            "no CR or LF inside the reply"
        );
        let long = Reply::Down("é".repeat(300)).line();
        assert!(long.len() <= MAX_DESCRIPTION + 8 && long.ends_with('\n'));
    }

    #[test]
    fn maintenance_file_is_maint_for_a_writer_and_drain_for_a_reader() {
        let writer = reply_of(&maintenance(), &AgentConfig::default(), false);
        assert!(writer.line().starts_with("maint #"), "{writer:?}");
        assert!(writer.line().contains("maintenance file"), "{writer:?}");
        let reader = AgentConfig {
            role: AgentRole::Reader,
            ..AgentConfig::default()
        };
        let r = reply_of(&maintenance(), &reader, false);
        assert!(r.line().starts_with("drain #"), "{r:?}");
    }

    /// Drain on a writer backend means two writers: no input may produce it.
    #[test]
    fn never_drain_for_a_writer() {
        let writer = AgentConfig::default();
        for snapshot in [
            with_queue(0),
            with_queue(1_000_000),
            maintenance(),
            desynced(),
        ] {
            for withdrawn in [false, true] {
                let r = reply_of(&snapshot, &writer, withdrawn);
                assert_ne!(r.kind(), "drain", "{r:?}");
                assert!(!r.line().starts_with("drain"), "{r:?}");
            }
        }
    }

    /// `ready` cancels an operator's MAINT too, so it is said once per source after this agent's
    /// own maint, and never otherwise.
    #[test]
    fn ready_is_said_once_after_our_own_maint_and_never_otherwise() {
        let agent = AgentConfig::default();
        let haproxy: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let mut memory = Withdrawn::default();
        let say = |memory: &mut Withdrawn, source: IpAddr, snapshot: &GaleraSnapshot| {
            let r = reply_of(snapshot, &agent, memory.contains(source));
            memory.record(source, &r);
            r
        };
        // Healthy from the start: never ready, however often asked.
        for _ in 0..20 {
            assert_eq!(say(&mut memory, haproxy, &with_queue(0)).kind(), "up");
        }
        assert_eq!(say(&mut memory, haproxy, &maintenance()).kind(), "maint");
        assert_eq!(say(&mut memory, haproxy, &maintenance()).kind(), "maint");
        // Unhealthy after the maint: down, the ready still owed.
        assert_eq!(say(&mut memory, haproxy, &desynced()).kind(), "down");
        let first = say(&mut memory, haproxy, &with_queue(0));
        assert_eq!(first, Reply::Ready { weight: 100 });
        assert_eq!(first.line(), "up ready 100%\n");
        for _ in 0..20 {
            assert_eq!(say(&mut memory, haproxy, &with_queue(0)).kind(), "up");
        }
        // A source that was never told maint never gets ready.
        assert_eq!(say(&mut memory, other, &with_queue(0)).kind(), "up");
        // Each load balancer that was told maint gets its own ready, once.
        say(&mut memory, haproxy, &maintenance());
        say(&mut memory, other, &maintenance());
        assert_eq!(say(&mut memory, other, &with_queue(0)).kind(), "ready");
        assert_eq!(say(&mut memory, other, &with_queue(0)).kind(), "up");
        assert_eq!(say(&mut memory, haproxy, &with_queue(0)).kind(), "ready");
        assert_eq!(say(&mut memory, haproxy, &with_queue(0)).kind(), "up");
    }

    #[test]
    fn the_memory_is_bounded() {
        let mut memory = Withdrawn::default();
        let maint = Reply::Maint("x".into());
        for n in 0..(Withdrawn::MAX_SOURCES as u32 + 100) {
            memory.record(IpAddr::from(n.to_be_bytes()), &maint);
        }
        assert_eq!(memory.0.len(), Withdrawn::MAX_SOURCES);
    }

    #[test]
    fn kinds_are_stable() {
        for (i, r) in [
            Reply::Up { weight: 100 },
            Reply::Down(String::new()),
            Reply::Maint(String::new()),
            Reply::Ready { weight: 100 },
            Reply::Drain(String::new()),
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(r.index(), i);
        }
    }
}
