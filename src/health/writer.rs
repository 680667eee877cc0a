//! The writer verdict: may this node answer 200 on `/writer` *now*?
//!
//! Yes iff, at `now` on this daemon's monotonic clock, all of:
//! 1. the local Galera node is healthy (the Galera verdict: Synced and Primary, ...);
//! 2. this daemon holds the lease (it acquired it, and no renewal has found it moved);
//! 3. its last confirmed renewal was *issued* less than `lease - margin` ago;
//! 4. the handover gap since its acquisition has passed.
//!
//! Every other node, by [`crate::collectors::writer`], takes over only after the row has not
//! changed for `lease + margin` by its own clock, through an update Galera refuses if the row
//! moved, and then waits the gap: so the holder's own deadline (3) has passed before anyone
//! else's takeover commits, and HAProxy has seen its 503s before the new writer's first 200.
//! docs/writer.md has the whole argument. This is a pure function of the snapshot and `now`.
//!
//! `/writer/backup` ([`backup_verdict`]) is the check of the `backup` lines HAProxy falls back on
//! while no node answers `/writer`: every healthy node, except that for a while after the lease
//! changed hands only the new holder, so the node that just lost the role (healthy again after a
//! blip, say) takes no new writes while HAProxy is still taking the new writer up.

use std::time::{Duration, Instant};

use super::Rule;
use crate::collectors::peers::WriterClaim;
use crate::collectors::writer::{Role, WriterSnapshot};
use crate::config::WriterConfig;

pub type Verdict = super::Verdict<Reason>;

#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// This node is the writer.
    Writer { generation: u64 },
    /// The Galera node is not healthy (its verdict's reason).
    GaleraUnhealthy(String),
    /// Another node holds the lease, or nobody does (the holder as last read, if any).
    NotHolder { holder: Option<String> },
    /// Holding, but the last confirmed renewal was issued `lease - margin` or more ago.
    Expired { since_renewal: Duration },
    /// Just acquired: waiting out the handover gap.
    HandoverGap {
        remaining: Duration,
        generation: u64,
    },
}

impl Rule for Reason {
    fn healthy(&self) -> bool {
        matches!(self, Reason::Writer { .. })
    }

    fn text(&self) -> String {
        match self {
            Reason::Writer { generation } => {
                format!("This node is the writer (lease generation {generation}).")
            }
            Reason::GaleraUnhealthy(reason) => format!("Not the writer: {reason}"),
            Reason::NotHolder { holder: Some(holder) } => {
                format!("Not the writer: the lease is held by {holder:.64}.")
            }
            Reason::NotHolder { holder: None } => {
                "Not the writer: this node does not hold the lease.".to_owned()
            }
            Reason::Expired { since_renewal } => format!(
                "Not the writer: the lease was last renewed {:.1} s ago (too long to be sure).",
                since_renewal.as_secs_f64()
            ),
            Reason::HandoverGap {
                remaining,
                generation,
            } => format!(
                "Not the writer yet: lease generation {generation} acquired; handover gap ends in {:.1} s.",
                remaining.as_secs_f64()
            ),
        }
    }

    fn state_key(&self) -> String {
        match self {
            Reason::Expired { .. } => "expired".to_owned(),
            Reason::HandoverGap { generation, .. } => format!("handover gap {generation}"),
            other => other.text(),
        }
    }
}

/// The verdict at `now`. `galera` is the local Galera verdict (healthy, reason).
pub fn verdict(
    snapshot: &WriterSnapshot,
    galera: (bool, &str),
    config: &WriterConfig,
    now: Instant,
) -> Verdict {
    Verdict::of(reason(snapshot, galera, config, now))
}

/// What this node says of the writer role in /status and /cluster (peers read the same shape):
/// whether it answers `/writer` with 200 now, and whom its last read of the lease names.
pub fn claim(snapshot: &WriterSnapshot, verdict: &Verdict) -> WriterClaim {
    WriterClaim {
        claimed: verdict.healthy,
        holder: holder(snapshot),
    }
}

/// Whom this node's last read of the lease row names: nobody when released or unread.
fn holder(snapshot: &WriterSnapshot) -> Option<String> {
    snapshot
        .lease
        .as_ref()
        .ok()
        .filter(|lease| !lease.released())
        .map(|lease| lease.holder.clone())
}

pub type BackupVerdict = super::Verdict<BackupReason>;

#[derive(Debug, Clone, PartialEq)]
pub enum BackupReason {
    /// The lease row names this node.
    Holder,
    /// Nobody holds the lease: HAProxy's backups are where the writes go.
    Vacant,
    /// Another node has held the lease for longer than a handover takes.
    Settled { holder: String },
    /// The lease row cannot be read: backups stay available (the fallback must not depend on
    /// the lease connection).
    Unread(String),
    /// The Galera node is not healthy (its verdict's reason).
    GaleraUnhealthy(String),
    /// Another node took the lease lately: until every HAProxy has it UP, only it is a backup.
    NewWriter {
        holder: String,
        generation: u64,
        remaining: Duration,
    },
}

impl Rule for BackupReason {
    fn healthy(&self) -> bool {
        !matches!(
            self,
            BackupReason::GaleraUnhealthy(_) | BackupReason::NewWriter { .. }
        )
    }

    fn text(&self) -> String {
        match self {
            BackupReason::Holder => "A writer backup: this node holds the lease.".to_owned(),
            BackupReason::Vacant => "A writer backup: no node holds the lease.".to_owned(),
            BackupReason::Settled { holder } => {
                format!("A writer backup: {holder:.64} holds the lease.")
            }
            BackupReason::Unread(error) => {
                format!("A writer backup: the lease could not be read ({error:.128}).")
            }
            BackupReason::GaleraUnhealthy(reason) => format!("Not a writer backup: {reason}"),
            BackupReason::NewWriter {
                holder,
                generation,
                remaining,
            } => format!(
                "Not a writer backup: {holder:.64} took the lease (generation {generation}); only it \
                 is a backup for {:.1} s more.",
                remaining.as_secs_f64()
            ),
        }
    }

    fn state_key(&self) -> String {
        match self {
            BackupReason::NewWriter { generation, .. } => format!("new writer {generation}"),
            other => other.text(),
        }
    }
}

/// `/writer/backup` at `now`: 200 on a healthy node unless another node took the lease less than
/// [`WriterConfig::backup_hold`] ago (by this daemon's clock, from the read that showed it).
pub fn backup_verdict(
    snapshot: &WriterSnapshot,
    (galera_healthy, galera_reason): (bool, &str),
    config: &WriterConfig,
    now: Instant,
) -> BackupVerdict {
    if !galera_healthy {
        return BackupVerdict::of(BackupReason::GaleraUnhealthy(
            galera_reason.trim_end().to_owned(),
        ));
    }
    let lease = match &snapshot.lease {
        Ok(lease) => lease,
        Err(error) => return BackupVerdict::of(BackupReason::Unread(error.to_string())),
    };
    if lease.released() {
        return BackupVerdict::of(BackupReason::Vacant);
    }
    if snapshot.identity.as_deref() == Some(lease.holder.as_str()) {
        return BackupVerdict::of(BackupReason::Holder);
    }
    let held_for = snapshot
        .generation_seen_since
        .map(|since| now.saturating_duration_since(since));
    match held_for {
        Some(held_for) if held_for < config.backup_hold() => {
            BackupVerdict::of(BackupReason::NewWriter {
                holder: lease.holder.clone(),
                generation: lease.generation,
                remaining: config.backup_hold() - held_for,
            })
        }
        _ => BackupVerdict::of(BackupReason::Settled {
            holder: lease.holder.clone(),
        }),
    }
}

fn reason(
    snapshot: &WriterSnapshot,
    (galera_healthy, galera_reason): (bool, &str),
    config: &WriterConfig,
    now: Instant,
) -> Reason {
    if !galera_healthy {
        return Reason::GaleraUnhealthy(galera_reason.trim_end().to_owned());
    }
    let Role::Holder(holding) = &snapshot.role else {
        return Reason::NotHolder {
            holder: holder(snapshot),
        };
    };
    // An issue time after `now` (clock read order) is age zero, never a panic.
    let since_renewal = now.saturating_duration_since(holding.renewal_issued);
    if since_renewal >= config.validity() {
        return Reason::Expired { since_renewal };
    }
    if now < holding.answer_from {
        return Reason::HandoverGap {
            remaining: holding.answer_from - now,
            generation: holding.generation,
        };
    }
    Reason::Writer {
        generation: holding.generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::writer::{Holding, Lease, LeaseError};

    const HEALTHY: (bool, &str) = (true, "Galera cluster node is synced.");
    const S: Duration = Duration::from_secs(1);

    fn config() -> WriterConfig {
        // lease 5 s, margin 1 s: valid for 4 s after a renewal is sent; gap 7 s.
        WriterConfig::default()
    }

    fn holding(t0: Instant, renewal_issued: Instant) -> WriterSnapshot {
        WriterSnapshot {
            role: Role::Holder(Holding {
                generation: 7,
                renewal_issued,
                acquired_at: t0,
                answer_from: t0 + config().handover_gap(),
            }),
            lease: Ok(Lease {
                holder: "node1".into(),
                generation: 7,
                renewals: 3,
            }),
            ..WriterSnapshot::initial()
        }
    }

    #[test]
    fn the_claim_is_the_verdict_and_the_holder_the_lease_row_names() {
        let t0 = Instant::now();
        let s = holding(t0, t0 + 6 * S);
        let writer = verdict(&s, HEALTHY, &config(), t0 + 7 * S);
        assert_eq!(
            claim(&s, &writer),
            WriterClaim {
                claimed: true,
                holder: Some("node1".into())
            }
        );
        let in_gap = verdict(&s, HEALTHY, &config(), t0 + S);
        assert!(!claim(&s, &in_gap).claimed);
    }

    #[test]
    fn a_holder_answers_only_after_the_gap_and_within_lease_minus_margin() {
        let t0 = Instant::now();
        let c = config();
        // Acquired at t0 (sent then): inside the gap, 503 with the time left.
        let s = holding(t0, t0);
        let v = verdict(&s, HEALTHY, &c, t0 + S);
        assert!(!v.healthy);
        assert!(matches!(v.rule, Reason::HandoverGap { .. }), "{v:?}");
        // Renewed 1 s before the gap ends: the writer.
        let s = holding(t0, t0 + 6 * S);
        let v = verdict(&s, HEALTHY, &c, t0 + 7 * S);
        assert!(v.healthy, "{v:?}");
        assert_eq!(v.reason, "This node is the writer (lease generation 7).");
        // Exactly lease - margin after the renewal was sent: no longer sure.
        let v = verdict(&s, HEALTHY, &c, t0 + 10 * S);
        assert!(!v.healthy);
        assert_eq!(
            v.rule,
            Reason::Expired {
                since_renewal: 4 * S
            }
        );
        // Just before it: still the writer.
        let v = verdict(&s, HEALTHY, &c, t0 + 10 * S - Duration::from_millis(1));
        assert!(v.healthy);
    }

    /// A hung holder (its renewals time out: SIGSTOPped mysqld, a stuck disk, its daemon
    /// frozen): the deadline counts from the last *confirmed* renewal's send time, so it expires
    /// by itself, `2 x margin` before any other node may take over (`lease + margin` after it
    /// last saw the row change, which is after that renewal was sent).
    #[test]
    fn a_hung_holder_expires_before_anyone_may_take_over() {
        let t0 = Instant::now();
        let c = config();
        let s = holding(t0, t0 + 10 * S);
        let deadline = t0 + 10 * S + c.validity();
        assert!(verdict(&s, HEALTHY, &c, deadline - Duration::from_millis(1)).healthy);
        assert!(!verdict(&s, HEALTHY, &c, deadline).healthy);
        // The earliest takeover: another node saw that renewal's row at t0 + 10 s at the
        // earliest, and waits lease + margin.
        let earliest_takeover = t0 + 10 * S + c.takeover_after();
        assert_eq!(earliest_takeover - deadline, 2 * c.margin);
        // ... and answers only after the gap on top of that.
        assert!(earliest_takeover + c.handover_gap() > deadline + c.haproxy_delay());
    }

    /// A lagging applier, a desynced or non-Primary node: the Galera verdict is unhealthy, so
    /// no 200 whatever the lease says (and the collector releases the lease).
    #[test]
    fn an_unhealthy_galera_node_is_never_the_writer() {
        let t0 = Instant::now();
        let c = config();
        let s = holding(t0, t0 + 8 * S);
        for reason in [
            "Galera cluster node is not in the Primary component: non-Primary.",
            "Galera cluster node is not synced: Donor/Desynced.",
            "Galera cluster node state unknown: last poll result is 3.2 s old.",
        ] {
            let v = verdict(&s, (false, reason), &c, t0 + 8 * S);
            assert!(!v.healthy);
            assert_eq!(v.reason, format!("Not the writer: {reason}"));
        }
    }

    /// A restarted daemon starts as a follower, whatever the row says (even its own name): it
    /// must acquire again, and wait the gap, before its first 200.
    #[test]
    fn a_restarted_daemon_is_not_the_writer_until_it_acquires() {
        let t0 = Instant::now();
        let c = config();
        let mut s = WriterSnapshot::initial();
        let v = verdict(&s, HEALTHY, &c, t0);
        assert_eq!(v.rule, Reason::NotHolder { holder: None });
        s.lease = Ok(Lease {
            holder: "node2".into(),
            generation: 4,
            renewals: 9,
        });
        s.identity = Some("node2".into());
        let v = verdict(&s, HEALTHY, &c, t0);
        assert!(!v.healthy);
        assert_eq!(v.reason, "Not the writer: the lease is held by node2.");
        s.lease = Err(LeaseError::Timeout(S));
        assert!(!verdict(&s, HEALTHY, &c, t0).healthy);
    }

    fn follower_seeing(holder: &str, generation_seen_since: Option<Instant>) -> WriterSnapshot {
        WriterSnapshot {
            identity: Some("node1".into()),
            lease: Ok(Lease {
                holder: holder.into(),
                generation: 8,
                renewals: 0,
            }),
            generation_seen_since,
            ..WriterSnapshot::initial()
        }
    }

    /// The old writer, healthy again right after losing the lease, is no backup until every
    /// HAProxy can have the new writer UP: the gap, `inter x (rise + 1)`, and the margin.
    #[test]
    fn after_a_handover_only_the_new_holder_is_a_backup_for_the_hold() {
        let t0 = Instant::now();
        let c = config();
        // gap 7 s (2 s x 3 + 1 s) + rise 2 s x 3 + margin 1 s.
        assert_eq!(c.backup_hold(), 14 * S);
        let s = follower_seeing("node2", Some(t0));
        let v = backup_verdict(&s, HEALTHY, &c, t0 + 13 * S);
        assert!(!v.healthy, "{v:?}");
        assert_eq!(
            v.reason,
            "Not a writer backup: node2 took the lease (generation 8); only it is a backup for \
             1.0 s more."
        );
        assert_eq!(v.rule.state_key(), "new writer 8");
        let v = backup_verdict(&s, HEALTHY, &c, t0 + 14 * S);
        assert!(v.healthy, "{v:?}");
        assert_eq!(v.reason, "A writer backup: node2 holds the lease.");
        // The new holder itself is a backup at once.
        let mut holder = follower_seeing("node1", Some(t0));
        holder.identity = Some("node1".into());
        assert_eq!(
            backup_verdict(&holder, HEALTHY, &c, t0).rule,
            BackupReason::Holder
        );
    }

    /// Backups are what HAProxy falls back on: vacant, long-held and unreadable leases leave
    /// every healthy node one; an unhealthy node never is.
    #[test]
    fn backups_stay_available_unless_unhealthy_or_just_handed_over() {
        let t0 = Instant::now();
        let c = config();
        let vacant = follower_seeing("", Some(t0));
        assert_eq!(
            backup_verdict(&vacant, HEALTHY, &c, t0).rule,
            BackupReason::Vacant
        );
        // Held since before this daemon started: no handover seen.
        let settled = follower_seeing("node3", None);
        assert!(backup_verdict(&settled, HEALTHY, &c, t0).healthy);
        let mut unread = follower_seeing("node3", Some(t0));
        unread.lease = Err(LeaseError::Timeout(S));
        let v = backup_verdict(&unread, HEALTHY, &c, t0);
        assert!(v.healthy);
        assert_eq!(
            v.reason,
            "A writer backup: the lease could not be read (no answer within 1.0 s)."
        );
        let v = backup_verdict(
            &vacant,
            (
                false,
                "Galera cluster node is not synced: Donor/Desynced.\n",
            ),
            &c,
            t0,
        );
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "Not a writer backup: Galera cluster node is not synced: Donor/Desynced."
        );
        // A `now` before the sighting (clock read order) is age zero, not a panic.
        assert!(!backup_verdict(&settled_at(t0 + S), HEALTHY, &c, t0).healthy);
    }

    fn settled_at(since: Instant) -> WriterSnapshot {
        follower_seeing("node3", Some(since))
    }

    /// Clock read order: an issue time after `now` is age zero, not a panic; a released row
    /// names nobody.
    #[test]
    fn odd_inputs_do_not_panic() {
        let t0 = Instant::now();
        let c = config();
        let s = holding(t0, t0 + 100 * S);
        let v = verdict(&s, HEALTHY, &c, t0 + 50 * S);
        assert!(v.healthy, "{v:?}");
        let mut s = WriterSnapshot::initial();
        s.lease = Ok(Lease {
            holder: String::new(),
            generation: 1,
            renewals: 1,
        });
        assert_eq!(
            verdict(&s, HEALTHY, &c, t0).rule,
            Reason::NotHolder { holder: None }
        );
    }
}
