//! The Galera verdict: is this node safe to send client traffic to?
//!
//! Healthy iff the node is in the Primary component (it holds quorum, so its writes count),
//! wsrep_connected and wsrep_ready are ON (it accepts queries), its local state is Synced (4) —
//! or Donor/Desynced (2) when `available_when_donor` is set and the node keeps serving queries
//! while donor — wsrep_reject_queries is NONE, read_only is OFF unless `available_when_readonly`,
//! pxc_maint_mode (Percona only) is DISABLED, and no maintenance file exists. Anything we cannot
//! see — an unreachable, hung or lying server, or a snapshot gone stale — is 503: a health check
//! that guesses "healthy" is how HAProxy routed to a dead database under xinetd.
//!
//! A node that was silent for longer than evs.suspect_timeout has probably been evicted by its
//! peers, yet a mysqld resumed after a hang keeps reporting Synced/Primary with the old cluster
//! view for several seconds. Such a node must earn its way back: the poller keeps that history
//! ([`crate::collectors::galera::recovery`]) and this module only turns an active hold into a
//! reason.
//!
//! With `[peers]`, the peers' member lists replace that guess where they can
//! ([`super::cluster::stale_view`]): a node that claims to be Primary while its peers (Primary,
//! agreeing with each other) have not listed it in two rounds in a row answers 503 "stale view";
//! a node held after an outage whose peers list it in its own view again, as observed after it
//! came back, answers at once instead of waiting for the hold to end. With no peer evidence
//! (no peers, none answering, peers that disagree) the hold decides, as without peers.
//!
//! When mysqld does not answer and `galera.data_dir` is set, the reason also says what
//! grastate.dat holds: after a clean shutdown the last committed seqno and safe_to_bootstrap
//! (what an operator restarting the cluster needs), or that the seqno is -1 (still running but not
//! answering, or crashed: the position must be recovered from InnoDB).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::cluster::{self, StaleView};
use super::{freshness, Rule, Unknown};
use crate::collectors::galera::grastate::StateFiles;
use crate::collectors::galera::status::{ClusterStatus, GaleraStatus, LocalState, RejectQueries};
use crate::collectors::galera::{GaleraSnapshot, PollError};
use crate::collectors::peers::PeersSnapshot;
use crate::config::GaleraConfig;

pub type Verdict = super::Verdict<Reason>;

/// Why the node is (not) healthy. One variant per rule, so tests and logs can name the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    Synced,
    DonorAccepted,
    MaintenanceFile(PathBuf),
    Stale {
        age: Duration,
    },
    NeverPolled,
    Unreachable {
        duration: Duration,
        error: String,
        /// What grastate.dat says; `None` when `galera.data_dir` is not configured.
        saved: Option<SavedPosition>,
    },
    AuthenticationFailed {
        error: String,
    },
    Recovering {
        outage: Duration,
        conf_id_before: u64,
        held_for: Duration,
        /// How long it must stay Synced, Primary and OPERATIONAL in the old configuration.
        steady_needed: Duration,
        /// How long it has so far (zero while it does not).
        steady_for: Duration,
        /// Seen outside the Primary component since: only a new configuration releases it.
        evicted: bool,
    },
    /// The node claims to be Primary, but its peers (Primary, agreeing with each other) have
    /// not listed it in their last two rounds: they moved on without it.
    StaleView {
        peers: Vec<String>,
    },
    NotPrimary(ClusterStatus),
    NotConnected,
    NotReady,
    NotSynced {
        comment: String,
    },
    DonorRejectsQueries,
    RejectsQueries(RejectQueries),
    ReadOnly,
    PxcMaintenance(String),
}

/// What grastate.dat says about a node whose mysqld does not answer.
#[derive(Debug, Clone, PartialEq)]
pub enum SavedPosition {
    /// seqno >= 0: Galera wrote it on a clean shutdown, so mysqld is down and this is the last
    /// write-set it committed.
    CleanShutdown {
        seqno: i64,
        safe_to_bootstrap: Option<bool>,
    },
    /// seqno -1: mysqld still runs (hung, or not answering us) or it crashed; the position is
    /// then only in InnoDB (`mysqld --wsrep-recover`).
    NotSaved { safe_to_bootstrap: Option<bool> },
    /// The file could not be read or parsed (the error, as the collector saw it).
    Unreadable(String),
}

impl SavedPosition {
    pub fn of(files: &StateFiles) -> Self {
        match &files.grastate {
            Ok(state) if state.clean_shutdown() => SavedPosition::CleanShutdown {
                seqno: state.seqno,
                safe_to_bootstrap: state.safe_to_bootstrap,
            },
            Ok(state) => SavedPosition::NotSaved {
                safe_to_bootstrap: state.safe_to_bootstrap,
            },
            Err(error) => SavedPosition::Unreadable(error.to_string()),
        }
    }

    /// The clause appended to the unreachable reason.
    fn text(&self) -> String {
        let flag = |safe: &Option<bool>| match safe {
            Some(true) => "safe_to_bootstrap 1",
            Some(false) => "safe_to_bootstrap 0",
            None => "safe_to_bootstrap unknown",
        };
        match self {
            SavedPosition::CleanShutdown {
                seqno,
                safe_to_bootstrap,
            } => format!(
                "mysqld down; last committed seqno {seqno}, {}",
                flag(safe_to_bootstrap)
            ),
            SavedPosition::NotSaved { safe_to_bootstrap } => format!(
                "grastate.dat seqno -1: mysqld still running or not shut down cleanly \
                 (position only in InnoDB: mysqld --wsrep-recover), {}",
                flag(safe_to_bootstrap)
            ),
            SavedPosition::Unreadable(error) => format!("grastate.dat: {error}"),
        }
    }
}

impl Rule for Reason {
    fn healthy(&self) -> bool {
        matches!(self, Reason::Synced | Reason::DonorAccepted)
    }

    fn state_key(&self) -> String {
        match self {
            Reason::Stale { .. } => super::STALE_KEY.to_owned(),
            Reason::Unreachable { error, .. } => format!("state unknown: unreachable ({error})"),
            Reason::Recovering { conf_id_before, .. } => {
                format!("recovering (was conf_id {conf_id_before})")
            }
            other => other.text(),
        }
    }

    /// Our own body: one line saying why.
    fn text(&self) -> String {
        const NODE: &str = "Galera cluster node";
        match self {
            Reason::Synced => format!("{NODE} is synced."),
            Reason::DonorAccepted => {
                format!("{NODE} is Donor/Desynced and available_when_donor is set.")
            }
            Reason::MaintenanceFile(path) => format!(
                "{NODE} is manually disabled: maintenance file {} exists.",
                path.display()
            ),
            Reason::Stale { age } => format!(
                "{NODE} state unknown: last poll result is {:.1} s old.",
                age.as_secs_f64()
            ),
            Reason::NeverPolled => format!("{NODE} state unknown: no poll has completed yet."),
            Reason::Unreachable {
                duration,
                error,
                saved: None,
            } => format!(
                "{NODE} state unknown: database unreachable for {:.1} s ({error}).",
                duration.as_secs_f64()
            ),
            Reason::Unreachable {
                duration,
                error,
                saved: Some(saved),
            } => format!(
                "{NODE} state unknown: database unreachable for {:.1} s ({error}); {}.",
                duration.as_secs_f64(),
                saved.text()
            ),
            Reason::AuthenticationFailed { error } => {
                format!("{NODE} state unknown: authentication failed ({error}).")
            }
            Reason::Recovering {
                outage,
                conf_id_before,
                held_for,
                evicted: true,
                ..
            } => format!(
                "{NODE} is recovering: it was unreachable for {:.1} s, longer than evs.suspect_timeout, \
                 and has left the Primary component since; held for {:.1} s until it rejoins with a \
                 new cluster configuration (was conf_id {conf_id_before}).",
                outage.as_secs_f64(),
                held_for.as_secs_f64()
            ),
            Reason::Recovering {
                outage,
                conf_id_before,
                held_for,
                steady_needed,
                steady_for,
                evicted: false,
            } => format!(
                "{NODE} is recovering: it was unreachable for {:.1} s, longer than evs.suspect_timeout; \
                 held for {:.1} s until it shows a new cluster configuration or stays Synced, Primary \
                 and OPERATIONAL in conf_id {conf_id_before} for {:.1} s ({:.1} s so far).",
                outage.as_secs_f64(),
                held_for.as_secs_f64(),
                steady_needed.as_secs_f64(),
                steady_for.as_secs_f64()
            ),
            Reason::StaleView { peers } => {
                let (noun, verb) = match peers.len() {
                    1 => ("peer", "does"),
                    _ => ("peers", "do"),
                };
                format!(
                    "{NODE} is not in the cluster its peers see (stale view: {noun} {} {verb} \
                     not list this node).",
                    peers.join(", ")
                )
            }
            Reason::NotPrimary(status) => {
                format!("{NODE} is not in the Primary component (cluster status {status}).")
            }
            Reason::NotConnected => format!("{NODE} is not connected to the cluster."),
            Reason::NotReady => format!("{NODE} is not ready (wsrep_ready=OFF)."),
            Reason::NotSynced { comment } => format!("{NODE} is not synced: {comment}."),
            Reason::DonorRejectsQueries => format!(
                "{NODE} is not synced: Donor/Desynced and rejecting queries while donor."
            ),
            Reason::RejectsQueries(mode) => format!(
                "{NODE} rejects queries (wsrep_reject_queries={}).",
                mode.label().to_ascii_uppercase()
            ),
            Reason::ReadOnly => format!("{NODE} is read-only."),
            Reason::PxcMaintenance(mode) => {
                format!("{NODE} is in maintenance (pxc_maint_mode={mode}).")
            }
        }
    }
}

impl Reason {
    /// Percona clustercheck's exact bodies, for checks and scripts that match on them.
    pub fn percona(&self) -> &'static str {
        match self {
            Reason::Synced | Reason::DonorAccepted => "Percona XtraDB Cluster Node is synced.\r\n",
            Reason::ReadOnly => "Percona XtraDB Cluster Node is read-only.\r\n",
            Reason::MaintenanceFile(_) => "Percona XtraDB Cluster Node is manually disabled.\r\n",
            _ => "Percona XtraDB Cluster Node is not synced or non-PRIM. \r\n",
        }
    }
}

/// The peers' latest answers and how long a round counts as current (`peers.max_staleness()`),
/// for the stale-view rule.
#[derive(Debug, Clone, Copy)]
pub struct Peers<'a> {
    pub snapshot: &'a PeersSnapshot,
    pub max_staleness: Duration,
}

/// Decide from the latest snapshots. Pure: the caller supplies `now`. `peers` is `None` without
/// `[peers]`.
pub fn verdict(
    snapshot: &GaleraSnapshot,
    peers: Option<Peers>,
    config: &GaleraConfig,
    now: Instant,
) -> Verdict {
    Verdict::of(reason(snapshot, peers, config, now))
}

fn reason(
    snapshot: &GaleraSnapshot,
    peers: Option<Peers>,
    config: &GaleraConfig,
    now: Instant,
) -> Reason {
    if snapshot.maintenance_file {
        return Reason::MaintenanceFile(config.maintenance_file.clone());
    }
    match freshness(snapshot.taken_at, config.max_staleness(), now) {
        Err(Unknown::NeverPolled) => return Reason::NeverPolled,
        Err(Unknown::Stale { age }) => return Reason::Stale { age },
        Ok(()) => {}
    }
    let status = match &snapshot.outcome {
        Ok(polled) => &polled.status,
        Err(PollError::AuthenticationFailed(error)) => {
            return Reason::AuthenticationFailed {
                error: error.clone(),
            }
        }
        Err(error) => {
            return Reason::Unreachable {
                duration: now.saturating_duration_since(snapshot.unreachable_since),
                error: error.to_string(),
                saved: snapshot.state_files.as_deref().map(SavedPosition::of),
            }
        }
    };
    // Only a node that believes it is in the Primary component can be stale; any other state
    // has its own, more precise reason below.
    let peer_view = match peers {
        Some(p) if status.cluster_status == ClusterStatus::Primary => cluster::stale_view(
            p.snapshot,
            &status.gcomm_uuid,
            &status.cluster_state_uuid,
            p.max_staleness,
            now,
        ),
        _ => StaleView::Unknown,
    };
    if let StaleView::Excluded { by } = peer_view {
        return Reason::StaleView { peers: by };
    }
    // The peers list it in its own view, as they saw it after it came back: it is a member, so
    // the hold has nothing left to guess.
    let listed_since_hold = |since: Instant| match &peer_view {
        StaleView::Listed {
            conf_id,
            observed_at: Some(observed_at),
        } => *conf_id == status.cluster_conf_id && *observed_at > since,
        _ => false,
    };
    if let Some(hold) = snapshot
        .hold
        .as_ref()
        .filter(|h| !listed_since_hold(h.since))
    {
        return Reason::Recovering {
            outage: hold.outage,
            conf_id_before: hold.conf_id_before,
            held_for: now.saturating_duration_since(hold.since),
            steady_needed: hold.steady_needed,
            steady_for: hold
                .steady_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since)),
            evicted: hold.evicted,
        };
    }
    status_reason(status, config)
}

/// The rules that need only the server's own answer.
pub fn status_reason(status: &GaleraStatus, config: &GaleraConfig) -> Reason {
    if status.cluster_status != ClusterStatus::Primary {
        return Reason::NotPrimary(status.cluster_status.clone());
    }
    if !status.connected {
        return Reason::NotConnected;
    }
    if !status.ready {
        return Reason::NotReady;
    }
    let state_reason = match status.local_state {
        LocalState::Synced => Reason::Synced,
        LocalState::DonorDesynced if config.available_when_donor => {
            if status.sst_donor_rejects_queries {
                return Reason::DonorRejectsQueries;
            }
            Reason::DonorAccepted
        }
        _ => {
            return Reason::NotSynced {
                comment: if status.local_state_comment.is_empty() {
                    format!("state {}", status.local_state_code)
                } else {
                    status.local_state_comment.clone()
                },
            }
        }
    };
    if status.reject_queries != RejectQueries::None {
        return Reason::RejectsQueries(status.reject_queries.clone());
    }
    if status.read_only && !config.available_when_readonly {
        return Reason::ReadOnly;
    }
    if let Some(mode) = &status.pxc_maint_mode {
        if !mode.eq_ignore_ascii_case("DISABLED") {
            return Reason::PxcMaintenance(mode.clone());
        }
    }
    state_reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::galera::status::tests_support::synced_status as synced;
    use crate::collectors::galera::tests_support::polled as snapshot;
    use std::sync::Arc;

    fn config() -> GaleraConfig {
        GaleraConfig::default()
    }

    fn reason_of(status: GaleraStatus, config: &GaleraConfig) -> Reason {
        let now = Instant::now();
        verdict(&snapshot(status, now), None, config, now).rule
    }

    #[test]
    fn synced_primary_is_healthy() {
        let now = Instant::now();
        let v = verdict(&snapshot(synced(), now), None, &config(), now);
        assert!(v.healthy);
        assert_eq!(v.reason, "Galera cluster node is synced.");
    }

    #[test]
    fn donor_is_unhealthy_by_default() {
        let mut s = synced();
        s.local_state = LocalState::DonorDesynced;
        s.local_state_comment = "Donor/Desynced".into();
        let r = reason_of(s, &config());
        assert_eq!(
            r.text(),
            "Galera cluster node is not synced: Donor/Desynced."
        );
        assert!(!r.healthy());
    }

    #[test]
    fn donor_accepted_when_configured_unless_it_rejects_queries() {
        let mut s = synced();
        s.local_state = LocalState::DonorDesynced;
        let mut c = config();
        c.available_when_donor = true;
        assert_eq!(reason_of(s.clone(), &c), Reason::DonorAccepted);
        s.sst_donor_rejects_queries = true;
        assert_eq!(reason_of(s, &c), Reason::DonorRejectsQueries);
    }

    #[test]
    fn non_primary_is_unhealthy_and_said_first() {
        let mut s = synced();
        s.cluster_status = ClusterStatus::NonPrimary;
        s.ready = false;
        s.local_state = LocalState::Other(0);
        let r = reason_of(s, &config());
        assert_eq!(
            r.text(),
            "Galera cluster node is not in the Primary component (cluster status non-Primary)."
        );
    }

    #[test]
    fn not_ready_and_not_connected() {
        let mut s = synced();
        s.ready = false;
        assert_eq!(reason_of(s.clone(), &config()), Reason::NotReady);
        s.connected = false;
        assert_eq!(reason_of(s, &config()), Reason::NotConnected);
    }

    #[test]
    fn joiner_states_are_unhealthy() {
        for (code, comment) in [(1, "Joining"), (3, "Joined"), (0, "Initialized")] {
            let mut s = synced();
            s.local_state = LocalState::from_code(code);
            s.local_state_code = code;
            s.local_state_comment = comment.into();
            assert_eq!(
                reason_of(s, &config()),
                Reason::NotSynced {
                    comment: comment.into()
                }
            );
        }
    }

    #[test]
    fn read_only_only_matters_when_not_allowed() {
        let mut s = synced();
        s.read_only = true;
        assert_eq!(reason_of(s.clone(), &config()), Reason::Synced);
        let mut c = config();
        c.available_when_readonly = false;
        assert_eq!(reason_of(s, &c), Reason::ReadOnly);
    }

    #[test]
    fn reject_queries_and_pxc_maint_mode() {
        let mut s = synced();
        s.reject_queries = RejectQueries::All;
        assert_eq!(
            reason_of(s, &config()).text(),
            "Galera cluster node rejects queries (wsrep_reject_queries=ALL)."
        );
        let mut s = synced();
        s.pxc_maint_mode = Some("DISABLED".into());
        assert_eq!(reason_of(s.clone(), &config()), Reason::Synced);
        s.pxc_maint_mode = Some("MAINTENANCE".into());
        assert_eq!(
            reason_of(s, &config()),
            Reason::PxcMaintenance("MAINTENANCE".into())
        );
    }

    #[test]
    fn maintenance_file_wins_over_everything() {
        let now = Instant::now();
        let mut snap = snapshot(synced(), now);
        snap.maintenance_file = true;
        let v = verdict(&snap, None, &config(), now);
        assert!(!v.healthy);
        assert_eq!(
            v.rule.percona(),
            "Percona XtraDB Cluster Node is manually disabled.\r\n"
        );
    }

    #[test]
    fn stale_snapshot_is_unknown() {
        let then = Instant::now();
        let snap = snapshot(synced(), then);
        let v = verdict(&snap, None, &config(), then + Duration::from_secs(4));
        assert!(!v.healthy);
        assert!(matches!(v.rule, Reason::Stale { .. }));
        // Within max_staleness (3 x 1 s) the same snapshot still counts.
        assert!(verdict(&snap, None, &config(), then + Duration::from_secs(2)).healthy);
    }

    #[test]
    fn unreachable_says_for_how_long() {
        let now = Instant::now();
        let mut snap = snapshot(synced(), now);
        snap.outcome = Err(PollError::Unreachable("Connection refused".into()));
        snap.unreachable_since = now - Duration::from_millis(4200);
        let v = verdict(&snap, None, &config(), now);
        assert_eq!(
            v.reason,
            "Galera cluster node state unknown: database unreachable for 4.2 s (Connection refused)."
        );
        snap.outcome = Err(PollError::AuthenticationFailed(
            "Access denied for user 'x'".into(),
        ));
        let v = verdict(&snap, None, &config(), now);
        assert!(v.reason.contains("authentication failed"), "{}", v.reason);
    }

    #[test]
    fn unreachable_says_what_grastate_dat_holds() {
        use crate::collectors::galera::grastate::{parse_grastate, StateFileError};
        let now = Instant::now();
        let mut snap = snapshot(synced(), now);
        snap.outcome = Err(PollError::Unreachable("Connection refused".into()));
        snap.unreachable_since = now - Duration::from_millis(4200);
        let stopped = parse_grastate(include_str!(
            "../../tests/fixtures/galera-state/grastate-clean-stop.dat"
        ));
        snap.state_files = Some(Arc::new(StateFiles {
            grastate: stopped.clone(),
            gvwstate: Ok(None),
        }));
        let v = verdict(&snap, None, &config(), now);
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "Galera cluster node state unknown: database unreachable for 4.2 s (Connection \
             refused); mysqld down; last committed seqno 1082, safe_to_bootstrap 0."
        );
        // The transition log keys on the state, not on the seqno.
        assert_eq!(
            v.rule.state_key(),
            "state unknown: unreachable (Connection refused)"
        );

        let running = parse_grastate(include_str!(
            "../../tests/fixtures/galera-state/grastate-running.dat"
        ));
        snap.state_files = Some(Arc::new(StateFiles {
            grastate: running,
            gvwstate: Ok(None),
        }));
        let v = verdict(&snap, None, &config(), now);
        assert!(
            v.reason
                .contains("grastate.dat seqno -1: mysqld still running or not shut down cleanly")
                && !v.reason.contains("mysqld down"),
            "{}",
            v.reason
        );

        snap.state_files = Some(Arc::new(StateFiles {
            grastate: Err(StateFileError::Unreadable(
                "Permission denied (os error 13)".into(),
            )),
            gvwstate: Ok(None),
        }));
        let v = verdict(&snap, None, &config(), now);
        assert!(
            v.reason
                .ends_with("; grastate.dat: cannot read: Permission denied (os error 13)."),
            "{}",
            v.reason
        );

        // A server that answers (wrong password) is not down: no saved position is claimed.
        snap.outcome = Err(PollError::AuthenticationFailed("Access denied".into()));
        snap.state_files = Some(Arc::new(StateFiles {
            grastate: stopped,
            gvwstate: Ok(None),
        }));
        let v = verdict(&snap, None, &config(), now);
        assert!(!v.reason.contains("seqno"), "{}", v.reason);
    }

    #[test]
    fn percona_bodies() {
        assert_eq!(
            Reason::Synced.percona(),
            "Percona XtraDB Cluster Node is synced.\r\n"
        );
        assert_eq!(
            Reason::NotReady.percona(),
            "Percona XtraDB Cluster Node is not synced or non-PRIM. \r\n"
        );
    }

    #[test]
    fn held_snapshot_is_503_recovering() {
        let now = Instant::now();
        let mut snap = snapshot(synced(), now);
        snap.hold = Some(crate::collectors::galera::recovery::Hold {
            since: now - Duration::from_secs(2),
            outage: Duration::from_secs(20),
            conf_id_before: 3,
            steady_needed: Duration::from_millis(5750),
            steady_since: Some(now - Duration::from_secs(1)),
            evicted: false,
        });
        let v = verdict(&snap, None, &config(), now);
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "Galera cluster node is recovering: it was unreachable for 20.0 s, longer than \
             evs.suspect_timeout; held for 2.0 s until it shows a new cluster configuration or \
             stays Synced, Primary and OPERATIONAL in conf_id 3 for 5.8 s (1.0 s so far)."
        );
        if let Some(hold) = &mut snap.hold {
            hold.evicted = true;
            hold.steady_since = None;
        }
        let v = verdict(&snap, None, &config(), now);
        assert!(!v.healthy);
        assert!(
            v.reason.contains("has left the Primary component since")
                && v.reason
                    .contains("until it rejoins with a new cluster configuration"),
            "{}",
            v.reason
        );
    }

    /// A peer round as the sandbox's node1 and node2 would answer it about this node (the
    /// synced rows' gcomm UUID), in view `conf_id`, listing this node or not.
    fn peers_round(
        at: Instant,
        conf_id: u64,
        lists_me: bool,
    ) -> Arc<crate::collectors::peers::Round> {
        use crate::health::cluster::tests::{answer, report, round};
        let me = synced();
        let peer = |name: &str| {
            let mut g = report(name, conf_id, &["node1", "node2"]);
            g.cluster_state_uuid = Some(me.cluster_state_uuid.clone());
            if lists_me {
                if let Some(members) = &mut g.members {
                    members.push(crate::collectors::peers::PeerMember {
                        name: "node3".into(),
                        uuid: me.gcomm_uuid.clone(),
                    });
                }
            }
            g
        };
        round(
            at,
            vec![
                answer("http://n1/status", at, Ok(peer("node1"))),
                answer("http://n2/status", at, Ok(peer("node2"))),
            ],
        )
    }

    fn peers_of(snapshot: &PeersSnapshot) -> Option<Peers<'_>> {
        Some(Peers {
            snapshot,
            max_staleness: Duration::from_secs(6),
        })
    }

    #[test]
    fn peers_that_exclude_it_twice_make_a_primary_node_stale() {
        use crate::health::cluster::tests::snapshot as peers_snapshot;
        let now = Instant::now();
        let snap = snapshot(synced(), now);
        let out = peers_round(now, 4, false);
        let twice = peers_snapshot(out.clone(), Some(out.clone()));
        let v = verdict(&snap, peers_of(&twice), &config(), now);
        assert!(!v.healthy);
        assert_eq!(
            v.reason,
            "Galera cluster node is not in the cluster its peers see (stale view: peers node1, \
             node2 do not list this node)."
        );
        assert_eq!(
            v.rule.percona(),
            "Percona XtraDB Cluster Node is not synced or non-PRIM. \r\n"
        );
        // Once is not enough (a peer caught mid view change).
        let once = peers_snapshot(out.clone(), Some(peers_round(now, 3, true)));
        assert!(verdict(&snap, peers_of(&once), &config(), now).healthy);
        // A node outside the Primary component says so, not "stale view".
        let mut s = synced();
        s.cluster_status = ClusterStatus::NonPrimary;
        let v = verdict(&snapshot(s, now), peers_of(&twice), &config(), now);
        assert!(matches!(v.rule, Reason::NotPrimary(_)), "{:?}", v.rule);
        // Without peers, nothing changes.
        assert!(verdict(&snap, None, &config(), now).healthy);
    }

    #[test]
    fn peers_listing_it_again_release_the_hold_at_once() {
        use crate::health::cluster::tests::snapshot as peers_snapshot;
        let now = Instant::now();
        let mut snap = snapshot(synced(), now);
        let since = now - Duration::from_secs(2);
        snap.hold = Some(crate::collectors::galera::recovery::Hold {
            since,
            outage: Duration::from_secs(20),
            conf_id_before: 2,
            steady_needed: Duration::from_millis(5750),
            steady_since: None,
            evicted: true,
        });
        // Listed in its own view (conf_id 3), seen after it came back: healthy now.
        let back = peers_snapshot(peers_round(now, 3, true), Some(peers_round(now, 2, false)));
        let v = verdict(&snap, peers_of(&back), &config(), now);
        assert!(v.healthy, "{}", v.reason);
        // Seen before it came back: no evidence about now, the hold decides.
        let before = since - Duration::from_millis(1);
        let old = peers_snapshot(peers_round(before, 3, true), None);
        let v = verdict(&snap, peers_of(&old), &config(), now);
        assert!(matches!(v.rule, Reason::Recovering { .. }), "{:?}", v.rule);
        // Listed in another view than its own: the hold decides.
        let other = peers_snapshot(peers_round(now, 5, true), None);
        let v = verdict(&snap, peers_of(&other), &config(), now);
        assert!(matches!(v.rule, Reason::Recovering { .. }), "{:?}", v.rule);
        // No peer answers: the hold decides.
        let none = peers_snapshot(crate::health::cluster::tests::round(now, vec![]), None);
        let v = verdict(&snap, peers_of(&none), &config(), now);
        assert!(matches!(v.rule, Reason::Recovering { .. }), "{:?}", v.rule);
    }
}
