//! Post-outage history of the local Galera node, kept by the poller: when did it last answer,
//! with which cluster configuration, and is it inside a hold-down now?
//!
//! A node that was silent for longer than evs.suspect_timeout has probably been evicted by its
//! peers, yet a mysqld resumed after a hang keeps reporting Synced/Primary with the old cluster
//! view for several seconds. This is observation history, so it lives with the poller; the
//! verdict ([`crate::health::galera`]) only turns an active [`Hold`] into a "recovering" reason.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::status::{ClusterStatus, GaleraStatus, LocalState};

/// Galera's own default for evs.suspect_timeout, used when the provider options could not be read.
const DEFAULT_SUSPECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An active hold-down: the node came back from a long outage and has not yet shown a new
/// cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    #[serde(skip)]
    pub since: Instant,
    #[serde(serialize_with = "crate::collectors::seconds")]
    pub outage: Duration,
    pub conf_id_before: u64,
}

/// What a successful poll did to the hold-down, for logging the transition once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateEvent {
    Held(Hold),
    Rejoined,
    Expired,
}

/// Remembers the last good view of the cluster across failed polls and decides when a node
/// that was gone long enough to be evicted may be trusted again: after it reports a
/// wsrep_cluster_conf_id different from the one before the outage while Synced and Primary, or
/// after `max_hold`. A short outage (a restart of mysqld within evs.suspect_timeout) and the
/// daemon's own start-up get no hold-down, so restarting clustercheckd everywhere never empties
/// the HAProxy backend.
#[derive(Debug, Default)]
pub struct RecoveryGate {
    last_success: Option<LastGood>,
    failed_since_success: bool,
    hold: Option<Hold>,
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

    pub fn failed(&mut self) {
        self.failed_since_success = true;
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
                };
                event = Some(GateEvent::Held(hold.clone()));
                self.hold = Some(hold);
            }
        }
        self.failed_since_success = false;
        if let Some(hold) = &self.hold {
            let rejoined = status.cluster_conf_id != hold.conf_id_before
                && status.cluster_status == ClusterStatus::Primary
                && status.local_state == LocalState::Synced;
            if rejoined {
                self.hold = None;
                event = Some(GateEvent::Rejoined);
            } else if now.saturating_duration_since(hold.since) >= max_hold {
                self.hold = None;
                event = Some(GateEvent::Expired);
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::galera::status::tests_support::synced_rows;
    use crate::collectors::galera::status::StatusRows;

    fn synced() -> GaleraStatus {
        let rows: StatusRows = synced_rows().into_iter().collect();
        rows.parse().expect("synced rows parse")
    }

    // The hold-down after an outage longer than evs.suspect_timeout (5 s in the rows above).

    #[test]
    fn start_up_gets_no_hold() {
        let mut gate = RecoveryGate::default();
        gate.failed();
        let now = Instant::now();
        assert_eq!(
            gate.succeeded(now, &synced(), Duration::from_secs(30)),
            None
        );
        assert!(gate.hold().is_none());
    }

    #[test]
    fn short_outage_gets_no_hold() {
        let mut gate = RecoveryGate::default();
        let t0 = Instant::now();
        gate.succeeded(t0, &synced(), Duration::from_secs(30));
        gate.failed();
        assert_eq!(
            gate.succeeded(
                t0 + Duration::from_secs(4),
                &synced(),
                Duration::from_secs(30)
            ),
            None
        );
    }

    #[test]
    fn long_outage_holds_until_new_conf_id_while_synced_primary() {
        let mut gate = RecoveryGate::default();
        let t0 = Instant::now();
        let max = Duration::from_secs(30);
        gate.succeeded(t0, &synced(), max);
        gate.failed();
        // Resumed after 20 s: still claims Synced/Primary with the old conf_id -> held.
        let event = gate.succeeded(t0 + Duration::from_secs(20), &synced(), max);
        assert!(matches!(
            event,
            Some(GateEvent::Held(Hold {
                conf_id_before: 3,
                ..
            }))
        ));
        // Notices it was evicted: non-Primary, conf_id -1.
        let mut evicted = synced();
        evicted.cluster_status = ClusterStatus::NonPrimary;
        evicted.cluster_conf_id = u64::MAX;
        assert_eq!(
            gate.succeeded(t0 + Duration::from_secs(26), &evicted, max),
            None
        );
        assert!(gate.hold().is_some());
        // Rejoined with a new configuration but still catching up: held.
        let mut joined = synced();
        joined.cluster_conf_id = 5;
        joined.local_state = LocalState::Joined;
        assert_eq!(
            gate.succeeded(t0 + Duration::from_secs(27), &joined, max),
            None
        );
        joined.local_state = LocalState::Synced;
        assert_eq!(
            gate.succeeded(t0 + Duration::from_secs(28), &joined, max),
            Some(GateEvent::Rejoined)
        );
        assert!(gate.hold().is_none());
    }

    #[test]
    fn hold_is_capped() {
        let mut gate = RecoveryGate::default();
        let t0 = Instant::now();
        let max = Duration::from_secs(30);
        gate.succeeded(t0, &synced(), max);
        gate.failed();
        gate.succeeded(t0 + Duration::from_secs(10), &synced(), max);
        assert_eq!(
            gate.succeeded(t0 + Duration::from_secs(25), &synced(), max),
            None
        );
        assert_eq!(
            gate.succeeded(t0 + Duration::from_secs(40), &synced(), max),
            Some(GateEvent::Expired)
        );
    }
}
