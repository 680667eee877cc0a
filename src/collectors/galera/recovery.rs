//! Post-outage history of the local Galera node, kept by the poller: when did it last answer,
//! with which cluster configuration, and is it inside a hold-down now?
//!
//! A node that was silent for longer than evs.suspect_timeout has probably been evicted by its
//! peers, yet a mysqld resumed after a hang keeps reporting Synced/Primary with the old cluster
//! view for several seconds. But a node may also look silent to us while Galera never noticed
//! anything: only our connection was blocked (a firewall reload, a stalled SQL layer). The hold
//! therefore ends on evidence, whichever comes first:
//!
//! 1. **New configuration**: Synced and Primary with a wsrep_cluster_conf_id other than the one
//!    before the outage. The node was evicted and has rejoined.
//! 2. **Steady in the old configuration**: every poll since the first successful one after the
//!    outage showed Synced, Primary, wsrep_evs_state OPERATIONAL and the conf_id from before,
//!    for at least evs.suspect_timeout + [`STEADY_MARGIN`]. An evicted node resumed after a hang
//!    keeps that look only until it notices it lost its peers, about evs.suspect_timeout after
//!    it resumed (measured on MariaDB 10.11, suspect_timeout 5 s: OPERATIONAL with the old
//!    conf_id for 5 s, then GATHER, still "Primary", for 1 s, then non-Primary, then a new
//!    conf_id 7 s after the resume); it cannot have answered our first poll before it resumed,
//!    so the clock starting there is never early. Any other poll restarts the clock: GATHER,
//!    INSTALL or any state but OPERATIONAL, not Synced, another conf_id, or a failed poll. A
//!    node seen outside the Primary component was evicted: from then on only rule 1 releases it.
//!    A server that does not report wsrep_evs_state never takes this path.
//! 3. **The cap**: `recovery_max_hold` after the hold started, counted in
//!    `clustercheckd_galera_recovery_holds_ended_total{by="max_hold"}` (alerted on: neither
//!    kind of evidence came).
//!
//! This is observation history, so it lives with the poller; the verdict
//! ([`crate::health::galera`]) only turns an active [`Hold`] into a "recovering" reason.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::status::{ClusterStatus, GaleraStatus, LocalState};

/// Galera's own default for evs.suspect_timeout, used when the provider options could not be read.
const DEFAULT_SUSPECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much longer than evs.suspect_timeout a node must look steady in its old configuration.
/// Galera looks for silent peers only every evs.inactive_check_period (0.5 s by default), so an
/// evicted node may notice up to that much after suspect_timeout; the rest covers the time our
/// poll takes. Kept below one poll interval (1 s by default), so a node whose connection alone
/// was blocked is released at the sixth 1 s poll after it answers again, not the seventh.
pub const STEADY_MARGIN: Duration = Duration::from_millis(750);

/// The evs state of a node that agrees with its peers on the membership.
const EVS_OPERATIONAL: &str = "OPERATIONAL";

/// An active hold-down: the node came back from a long outage and has shown neither a new
/// cluster configuration nor a steady old one for long enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    #[serde(skip)]
    pub since: Instant,
    #[serde(serialize_with = "crate::collectors::seconds")]
    pub outage: Duration,
    pub conf_id_before: u64,
    /// How long the node must stay steady in the old configuration (rule 2 above).
    #[serde(serialize_with = "crate::collectors::seconds")]
    pub steady_needed: Duration,
    /// Since when every poll showed it steady in the old configuration; `None` while it does not.
    #[serde(skip)]
    pub steady_since: Option<Instant>,
    /// It was seen outside the Primary component during the hold: only a new configuration
    /// releases it now.
    pub evicted: bool,
}

/// What a successful poll did to the hold-down, for logging the transition once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateEvent {
    Held(Hold),
    /// Released: Synced and Primary in a new configuration.
    Rejoined,
    /// Released: steady in the old configuration for `Hold::steady_needed`.
    Steady(Duration),
    /// Released by `recovery_max_hold` without evidence.
    Expired,
}

/// How many holds ended, by how; cumulative since the daemon started (a Prometheus counter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HoldsEnded {
    pub new_configuration: u64,
    pub steady: u64,
    pub max_hold: u64,
}

/// Remembers the last good view of the cluster across failed polls and decides when a node
/// that was gone long enough to be evicted may be trusted again (the rules in the module
/// header). A short outage (a restart of mysqld within evs.suspect_timeout) and the daemon's own
/// start-up get no hold-down, so restarting clustercheckd everywhere never empties the HAProxy
/// backend.
#[derive(Debug, Default)]
pub struct RecoveryGate {
    last_success: Option<LastGood>,
    failed_since_success: bool,
    hold: Option<Hold>,
    ended: HoldsEnded,
}

#[derive(Debug, Clone, Copy)]
struct LastGood {
    at: Instant,
    conf_id: u64,
    suspect_timeout: Duration,
}

impl RecoveryGate {
    pub fn hold(&self) -> Option<&Hold> {
        self.hold.as_ref()
    }

    pub fn holds_ended(&self) -> HoldsEnded {
        self.ended
    }

    pub fn failed(&mut self) {
        self.failed_since_success = true;
        // No observation means no evidence: the steady clock starts again at the next answer.
        if let Some(hold) = &mut self.hold {
            hold.steady_since = None;
        }
    }

    pub fn succeeded(
        &mut self,
        now: Instant,
        status: &GaleraStatus,
        max_hold: Duration,
    ) -> Option<GateEvent> {
        let mut event = None;
        if let (true, Some(last)) = (self.failed_since_success, self.last_success) {
            let outage = now.saturating_duration_since(last.at);
            if outage > last.suspect_timeout && self.hold.is_none() {
                let hold = Hold {
                    since: now,
                    outage,
                    conf_id_before: last.conf_id,
                    steady_needed: last.suspect_timeout + STEADY_MARGIN,
                    steady_since: None,
                    evicted: false,
                };
                event = Some(GateEvent::Held(hold.clone()));
                self.hold = Some(hold);
            }
        }
        self.failed_since_success = false;
        if let Some(end) = self
            .hold
            .as_mut()
            .and_then(|h| Self::judge(h, now, status, max_hold))
        {
            match end {
                GateEvent::Rejoined => self.ended.new_configuration += 1,
                GateEvent::Steady(_) => self.ended.steady += 1,
                GateEvent::Expired => self.ended.max_hold += 1,
                GateEvent::Held(_) => {}
            }
            self.hold = None;
            event = Some(end);
        }
        // The conf_id to compare against stays the one from before the outage (kept in the hold).
        self.last_success = Some(LastGood {
            at: now,
            conf_id: status.cluster_conf_id,
            suspect_timeout: status
                .evs_suspect_timeout
                .unwrap_or(DEFAULT_SUSPECT_TIMEOUT),
        });
        event
    }

    /// One poll's evidence against an active hold: the event that ends it, if any.
    fn judge(
        hold: &mut Hold,
        now: Instant,
        status: &GaleraStatus,
        max_hold: Duration,
    ) -> Option<GateEvent> {
        let primary = status.cluster_status == ClusterStatus::Primary;
        let synced_primary = primary && status.local_state == LocalState::Synced;
        let same_conf = status.cluster_conf_id == hold.conf_id_before;
        if synced_primary && !same_conf {
            return Some(GateEvent::Rejoined);
        }
        if !primary {
            hold.evicted = true;
        }
        let steady = !hold.evicted
            && synced_primary
            && same_conf
            && status.evs_state.as_deref() == Some(EVS_OPERATIONAL);
        if steady {
            let since = *hold.steady_since.get_or_insert(now);
            let steady_for = now.saturating_duration_since(since);
            if steady_for >= hold.steady_needed {
                return Some(GateEvent::Steady(steady_for));
            }
        } else {
            hold.steady_since = None;
        }
        (now.saturating_duration_since(hold.since) >= max_hold).then_some(GateEvent::Expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::galera::status::tests_support::synced_status as synced;

    const MAX: Duration = Duration::from_secs(30);

    fn with_evs(state: &str) -> GaleraStatus {
        GaleraStatus {
            evs_state: Some(state.to_owned()),
            ..synced()
        }
    }

    fn non_primary() -> GaleraStatus {
        GaleraStatus {
            cluster_status: ClusterStatus::NonPrimary,
            cluster_conf_id: u64::MAX,
            local_state: LocalState::Other(0),
            ..synced()
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A gate that saw conf_id 3 at t0, then failed polls, and is now held at t0 + 20 s.
    fn held(t0: Instant) -> RecoveryGate {
        let mut gate = RecoveryGate::default();
        gate.succeeded(t0, &synced(), MAX);
        gate.failed();
        let event = gate.succeeded(t0 + secs(20.0), &synced(), MAX);
        assert!(matches!(
            event,
            Some(GateEvent::Held(Hold {
                conf_id_before: 3,
                evicted: false,
                ..
            }))
        ));
        assert_eq!(gate.hold().map(|h| h.steady_needed), Some(secs(5.75)));
        gate
    }

    // The hold-down after an outage longer than evs.suspect_timeout (5 s in the rows above).

    #[test]
    fn start_up_gets_no_hold() {
        let mut gate = RecoveryGate::default();
        gate.failed();
        assert_eq!(gate.succeeded(Instant::now(), &synced(), MAX), None);
        assert!(gate.hold().is_none());
    }

    #[test]
    fn short_outage_gets_no_hold() {
        let mut gate = RecoveryGate::default();
        let t0 = Instant::now();
        gate.succeeded(t0, &synced(), MAX);
        gate.failed();
        assert_eq!(gate.succeeded(t0 + secs(4.0), &synced(), MAX), None);
        assert!(gate.hold().is_none());
    }

    /// Only our connection was blocked: Galera never noticed, the node stays OPERATIONAL in
    /// conf_id 3, and is released once that held for suspect_timeout + margin, long before the cap.
    #[test]
    fn steady_in_the_old_configuration_releases_after_suspect_timeout_plus_margin() {
        let t0 = Instant::now();
        let mut gate = held(t0);
        for s in 1..=5 {
            let now = t0 + secs(20.0 + f64::from(s));
            assert_eq!(gate.succeeded(now, &synced(), MAX), None, "at +{s} s");
            assert!(gate.hold().is_some());
        }
        assert_eq!(
            gate.succeeded(t0 + secs(25.74), &synced(), MAX),
            None,
            "just under 5.75 s"
        );
        assert_eq!(
            gate.succeeded(t0 + secs(26.0), &synced(), MAX),
            Some(GateEvent::Steady(secs(6.0)))
        );
        assert!(gate.hold().is_none());
        assert_eq!(
            gate.holds_ended(),
            HoldsEnded {
                steady: 1,
                ..HoldsEnded::default()
            }
        );
    }

    /// The measured SIGSTOP timeline: OPERATIONAL in the old conf_id for 5 s, then GATHER while
    /// still "Primary" (clock restarts), then non-Primary (evicted: only a new conf_id releases,
    /// even when it looks steady again in the old one), then a new conf_id.
    #[test]
    fn gather_restarts_the_clock_and_non_primary_holds_until_a_new_conf_id() {
        let t0 = Instant::now();
        let mut gate = held(t0);
        let at = |s: f64| t0 + secs(20.0 + s);
        for s in [1.0, 2.0, 3.0, 4.0] {
            assert_eq!(gate.succeeded(at(s), &synced(), MAX), None);
        }
        // GATHER, still Primary, Synced and the old conf_id: held, clock stopped.
        assert_eq!(gate.succeeded(at(5.0), &with_evs("GATHER"), MAX), None);
        assert_eq!(gate.hold().and_then(|h| h.steady_since), None);
        // Had it gone back to OPERATIONAL, the clock would start again from here.
        assert_eq!(gate.succeeded(at(6.0), &synced(), MAX), None);
        assert_eq!(gate.hold().and_then(|h| h.steady_since), Some(at(6.0)));
        assert_eq!(gate.succeeded(at(11.0), &synced(), MAX), None);
        // Non-Primary: evicted.
        assert_eq!(gate.succeeded(at(11.5), &non_primary(), MAX), None);
        assert!(gate.hold().is_some_and(|h| h.evicted));
        // Steady-looking polls in the old conf_id no longer count, however long.
        for s in [12.0, 15.0, 20.0, 25.0] {
            assert_eq!(gate.succeeded(at(s), &synced(), MAX), None, "at +{s} s");
        }
        // Rejoined in a new configuration but still catching up: held.
        let joined = GaleraStatus {
            cluster_conf_id: 5,
            local_state: LocalState::Joined,
            ..synced()
        };
        assert_eq!(gate.succeeded(at(26.0), &joined, MAX), None);
        let rejoined = GaleraStatus {
            cluster_conf_id: 5,
            ..synced()
        };
        assert_eq!(
            gate.succeeded(at(27.0), &rejoined, MAX),
            Some(GateEvent::Rejoined)
        );
        assert!(gate.hold().is_none());
        assert_eq!(gate.holds_ended().new_configuration, 1);
    }

    /// A new configuration releases at once, whatever the evs state says about the old one.
    #[test]
    fn synced_primary_in_a_new_configuration_releases_at_once() {
        let t0 = Instant::now();
        let mut gate = held(t0);
        let rejoined = GaleraStatus {
            cluster_conf_id: 7,
            ..synced()
        };
        assert_eq!(
            gate.succeeded(t0 + secs(21.0), &rejoined, MAX),
            Some(GateEvent::Rejoined)
        );
    }

    /// Already in a new configuration at the first poll after the outage: no hold at all.
    #[test]
    fn new_configuration_at_the_first_poll_ends_the_hold_in_the_same_poll() {
        let mut gate = RecoveryGate::default();
        let t0 = Instant::now();
        gate.succeeded(t0, &synced(), MAX);
        gate.failed();
        let rejoined = GaleraStatus {
            cluster_conf_id: 4,
            ..synced()
        };
        assert_eq!(
            gate.succeeded(t0 + secs(30.0), &rejoined, MAX),
            Some(GateEvent::Rejoined)
        );
        assert!(gate.hold().is_none());
    }

    #[test]
    fn other_evs_states_not_synced_and_failed_polls_restart_the_clock() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + secs(20.0 + s);
        let not_synced = GaleraStatus {
            local_state: LocalState::DonorDesynced,
            ..synced()
        };
        let no_evs = GaleraStatus {
            evs_state: None,
            ..synced()
        };
        for interrupt in [with_evs("INSTALL"), with_evs("CLOSED"), not_synced, no_evs] {
            let mut gate = held(t0);
            assert_eq!(gate.succeeded(at(4.0), &synced(), MAX), None);
            assert_eq!(
                gate.succeeded(at(5.0), &interrupt, MAX),
                None,
                "{interrupt:?}"
            );
            // 5.75 s after the hold started, but only 1 s after the clock restarted.
            assert_eq!(gate.succeeded(at(6.0), &synced(), MAX), None);
            assert_eq!(gate.succeeded(at(11.0), &synced(), MAX), None);
            assert!(matches!(
                gate.succeeded(at(12.0), &synced(), MAX),
                Some(GateEvent::Steady(_))
            ));
        }
        // A failed poll is no evidence either.
        let mut gate = held(t0);
        assert_eq!(gate.succeeded(at(4.0), &synced(), MAX), None);
        gate.failed();
        assert_eq!(gate.succeeded(at(5.0), &synced(), MAX), None);
        assert_eq!(gate.succeeded(at(10.0), &synced(), MAX), None);
        assert!(matches!(
            gate.succeeded(at(11.0), &synced(), MAX),
            Some(GateEvent::Steady(_))
        ));
    }

    /// Neither kind of evidence (here: a server without wsrep_evs_state, so only a new
    /// configuration could release it): the cap ends the hold, and it is counted.
    #[test]
    fn hold_is_capped() {
        let mut gate = RecoveryGate::default();
        let t0 = Instant::now();
        let no_evs = GaleraStatus {
            evs_state: None,
            ..synced()
        };
        gate.succeeded(t0, &no_evs, MAX);
        gate.failed();
        gate.succeeded(t0 + secs(10.0), &no_evs, MAX);
        assert_eq!(gate.succeeded(t0 + secs(25.0), &no_evs, MAX), None);
        assert_eq!(
            gate.succeeded(t0 + secs(40.0), &no_evs, MAX),
            Some(GateEvent::Expired)
        );
        assert_eq!(
            gate.holds_ended(),
            HoldsEnded {
                max_hold: 1,
                ..HoldsEnded::default()
            }
        );
    }
}
