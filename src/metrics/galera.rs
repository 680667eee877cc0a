//! Galera series, rendered from one snapshot. Documented in docs/metrics.md.
//!
//! Values come only from the last poll, and only when it succeeded: an unreachable server has no
//! wsrep gauges (absent, not stale), while the verdict and the collector's self-metrics are
//! always there.

use super::Exposition;
use crate::collectors::galera::status::{ClusterStatus, LocalState, RejectQueries};
use crate::collectors::galera::GaleraSnapshot;
use crate::config::GaleraConfig;
use crate::health::galera::{Reason, Verdict};

pub fn render(
    e: &mut Exposition,
    snapshot: &GaleraSnapshot,
    config: &GaleraConfig,
    verdict: &Verdict,
) {
    e.collector("galera", &snapshot.stats);
    e.flag(
        "galera_healthy",
        "The health-check verdict: 1 when the check answers 200, 0 when it answers 503.",
        &[],
        verdict.healthy,
    );
    e.flag(
        "galera_maintenance_file_present",
        "1 while the maintenance file exists (the node is drained on purpose).",
        &[],
        snapshot.maintenance_file,
    );
    e.flag(
        "galera_recovering",
        "1 while the node is held unhealthy after an outage longer than evs.suspect_timeout.",
        &[],
        snapshot.hold.is_some(),
    );
    e.flag(
        "galera_stale_view",
        "1 while the check fails because the peers (Primary, agreeing) have not listed this node \
         in their last two rounds ([peers]); always 0 without peers.",
        &[],
        matches!(verdict.rule, Reason::StaleView { .. }),
    );
    let ended = snapshot.holds_ended;
    for (by, count) in [
        ("new_configuration", ended.new_configuration),
        ("steady", ended.steady),
        ("max_hold", ended.max_hold),
    ] {
        e.counter(
            "galera_recovery_holds_ended_total",
            "Post-outage holds ended, by what released them: a new cluster configuration, \
             steady Synced/Primary/OPERATIONAL in the old one, or recovery_max_hold.",
            &[("by", by)],
            count as f64,
        );
    }
    e.gauge(
        "galera_cluster_size_expected",
        "The cluster size this node was configured to expect (galera.expected_nodes).",
        &[],
        f64::from(config.expected_nodes),
    );
    // From grastate.dat (galera.data_dir), so also while mysqld is down; absent when the file
    // is not configured or not readable.
    if let Some(Ok(saved)) = snapshot.state_files.as_deref().map(|f| &f.grastate) {
        e.gauge(
            "galera_saved_seqno",
            "seqno in grastate.dat: the last committed write-set, written on a clean shutdown; \
             -1 while mysqld runs or after a crash.",
            &[],
            saved.seqno as f64,
        );
        if let Some(safe) = saved.safe_to_bootstrap {
            e.flag(
                "galera_safe_to_bootstrap",
                "safe_to_bootstrap in grastate.dat: 1 on the node a whole-cluster restart should \
                 start from (the last to leave cleanly).",
                &[],
                safe,
            );
        }
    }
    let Some(s) = snapshot.status() else {
        return;
    };
    e.gauge(
        "galera_info",
        "Identity of the node's Galera cluster and provider; always 1.",
        &[
            ("cluster_name", &s.cluster_name),
            ("cluster_state_uuid", &s.cluster_state_uuid),
            ("provider_version", &s.provider_version),
        ],
        1.0,
    );
    e.state_set(
        "galera_local_state",
        "wsrep_local_state as a state set: joining, donor_desynced, joined, synced or other.",
        "state",
        &LocalState::LABELS,
        s.local_state.label(),
    );
    e.gauge(
        "galera_local_state_code",
        "wsrep_local_state as the number Galera reports (4 = Synced, 2 = Donor/Desynced).",
        &[],
        f64::from(s.local_state_code),
    );
    e.state_set(
        "galera_cluster_status",
        "wsrep_cluster_status as a state set: primary, non_primary, disconnected or other.",
        "status",
        &ClusterStatus::LABELS,
        s.cluster_status.label(),
    );
    e.flag(
        "galera_ready",
        "wsrep_ready: 1 when the node accepts queries.",
        &[],
        s.ready,
    );
    e.flag(
        "galera_connected",
        "wsrep_connected: 1 when the provider is connected to the group.",
        &[],
        s.connected,
    );
    if let Some(desync) = s.desync {
        e.flag(
            "galera_desync",
            "wsrep_desync: 1 while the node was desynced on purpose.",
            &[],
            desync,
        );
    }
    e.flag(
        "galera_read_only",
        "read_only: 1 when the server is read-only.",
        &[],
        s.read_only,
    );
    e.state_set(
        "galera_reject_queries",
        "wsrep_reject_queries as a state set: none, all, all_kill or other.",
        "mode",
        &RejectQueries::LABELS,
        s.reject_queries.label(),
    );
    e.flag(
        "galera_sst_donor_rejects_queries",
        "wsrep_sst_donor_rejects_queries: 1 when the node refuses queries while it is a donor.",
        &[],
        s.sst_donor_rejects_queries,
    );
    if let Some(mode) = &s.pxc_maint_mode {
        let mode = mode.to_ascii_lowercase();
        let current = match mode.as_str() {
            "disabled" | "shutdown" | "maintenance" => mode.as_str(),
            _ => "other",
        };
        e.state_set(
            "galera_pxc_maint_mode",
            "pxc_maint_mode (Percona XtraDB Cluster only) as a state set.",
            "mode",
            &["disabled", "shutdown", "maintenance", "other"],
            current,
        );
    }
    if let Some(value) = s.cluster_size {
        e.gauge(
            "galera_cluster_size",
            "wsrep_cluster_size: nodes in the component this node belongs to.",
            &[],
            value as f64,
        );
    }
    // -1 (u64::MAX) outside a Primary component: export it as -1, not as 1.8e19.
    let conf_id = if s.cluster_conf_id == u64::MAX {
        -1.0
    } else {
        s.cluster_conf_id as f64
    };
    e.gauge(
        "galera_cluster_conf_id",
        "wsrep_cluster_conf_id: changes whenever membership changes; -1 outside a Primary component.",
        &[],
        conf_id,
    );
    if let Some(index) = s.local_index {
        let local_index = if index == u64::MAX {
            -1.0
        } else {
            index as f64
        };
        e.gauge(
            "galera_local_index",
            "wsrep_local_index: this node's index in the cluster view.",
            &[],
            local_index,
        );
    }
    if let Some(value) = s.recv_queue {
        e.gauge(
            "galera_local_recv_queue",
            "wsrep_local_recv_queue: write-sets received and not yet applied.",
            &[],
            value as f64,
        );
    }
    if let Some(value) = s.send_queue {
        e.gauge(
            "galera_local_send_queue",
            "wsrep_local_send_queue: write-sets waiting to be sent.",
            &[],
            value as f64,
        );
    }
    if let Some(paused) = s.flow_control_paused {
        e.counter(
            "galera_flow_control_paused_seconds_total",
            "Time replication was paused by flow control (wsrep_flow_control_paused_ns).",
            &[],
            paused.as_secs_f64(),
        );
    }
    if let Some(value) = s.flow_control_sent {
        e.counter(
            "galera_flow_control_sent_total",
            "Flow-control pause messages this node sent (wsrep_flow_control_sent).",
            &[],
            value as f64,
        );
    }
    if let Some(value) = s.flow_control_recv {
        e.counter(
            "galera_flow_control_recv_total",
            "Flow-control pause messages this node received (wsrep_flow_control_recv).",
            &[],
            value as f64,
        );
    }
    if let Some(value) = s.cert_failures {
        e.counter(
            "galera_cert_failures_total",
            "Transactions that failed certification (wsrep_local_cert_failures).",
            &[],
            value as f64,
        );
    }
    if let Some(value) = s.bf_aborts {
        e.counter(
            "galera_bf_aborts_total",
            "Local transactions aborted by replicated ones (wsrep_local_bf_aborts).",
            &[],
            value as f64,
        );
    }
    if let Some(value) = s.last_committed {
        e.gauge(
            "galera_last_committed",
            "wsrep_last_committed: sequence number of the last committed write-set.",
            &[],
            value as f64,
        );
    }
    if let Some(timeout) = s.evs_suspect_timeout {
        e.gauge(
            "galera_evs_suspect_timeout_seconds",
            "evs.suspect_timeout from wsrep_provider_options.",
            &[],
            timeout.as_secs_f64(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::collectors::galera::status::tests_support::synced_status;
    use crate::collectors::galera::tests_support::polled;
    use crate::collectors::galera::{GaleraSnapshot, PollError};
    use crate::health::galera::verdict;

    fn exposition(snapshot: &GaleraSnapshot) -> String {
        let config = GaleraConfig::default();
        let verdict = verdict(
            snapshot,
            None,
            &config,
            snapshot.taken_at.unwrap_or_else(Instant::now),
        );
        let mut e = Exposition::new();
        render(&mut e, snapshot, &config, &verdict);
        e.encode()
    }

    fn synced_snapshot() -> GaleraSnapshot {
        let mut snapshot = polled(synced_status(), Instant::now());
        snapshot.stats.up = true;
        snapshot
    }

    /// The whole exposition of a synced node, compared with a reviewed golden file, so any change
    /// to a name, label, help text or type shows up in review. `UPDATE_GOLDEN=1` rewrites it.
    #[test]
    fn golden_exposition_of_a_synced_node() {
        let text = exposition(&synced_snapshot());
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/galera-synced.prom");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).expect("write golden file");
        }
        let golden = std::fs::read_to_string(&path).expect("tests/fixtures/galera-synced.prom");
        assert_eq!(
            text, golden,
            "exposition changed; review and run with UPDATE_GOLDEN=1"
        );
    }

    #[test]
    fn unreachable_server_exports_no_stale_values() {
        let mut snapshot = synced_snapshot();
        snapshot.outcome = Err(PollError::Unreachable("Connection refused".into()));
        snapshot.stats.up = false;
        let text = exposition(&snapshot);
        assert!(text.contains("clustercheckd_galera_healthy 0"));
        assert!(text.contains("clustercheckd_collector_up{collector=\"galera\"} 0"));
        assert!(!text.contains("clustercheckd_galera_cluster_size "));
        assert!(!text.contains("clustercheckd_galera_info"));
    }

    #[test]
    fn saved_state_is_exported_while_the_server_is_down() {
        use crate::collectors::galera::grastate::{parse_grastate, StateFileError, StateFiles};
        let mut snapshot = synced_snapshot();
        snapshot.outcome = Err(PollError::Unreachable("Connection refused".into()));
        assert!(!exposition(&snapshot).contains("saved_seqno"));
        snapshot.state_files = Some(Arc::new(StateFiles {
            grastate: parse_grastate(include_str!(
                "../../tests/fixtures/galera-state/grastate-clean-stop.dat"
            )),
            gvwstate: Ok(None),
        }));
        let text = exposition(&snapshot);
        assert!(
            text.contains("clustercheckd_galera_saved_seqno 1082\n"),
            "{text}"
        );
        assert!(text.contains("clustercheckd_galera_safe_to_bootstrap 0\n"));
        snapshot.state_files = Some(Arc::new(StateFiles {
            grastate: Err(StateFileError::NotFound),
            gvwstate: Ok(None),
        }));
        let text = exposition(&snapshot);
        assert!(!text.contains("saved_seqno") && !text.contains("safe_to_bootstrap"));
    }

    #[test]
    fn non_primary_conf_id_is_minus_one() {
        let mut snapshot = synced_snapshot();
        if let Ok(polled) = &mut snapshot.outcome {
            let polled = Arc::make_mut(polled);
            polled.status.cluster_conf_id = u64::MAX;
            polled.status.local_index = Some(u64::MAX);
        }
        let text = exposition(&snapshot);
        assert!(
            text.contains("clustercheckd_galera_cluster_conf_id -1"),
            "{text}"
        );
        assert!(text.contains("clustercheckd_galera_local_index -1"));
    }
}
