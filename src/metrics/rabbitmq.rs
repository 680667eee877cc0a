//! RabbitMQ series, rendered from one snapshot. Documented in docs/metrics.md.
//!
//! Node, alarm and policy series exist only while the last node poll succeeded; queue counts
//! only while the last queue scan did. The verdict, the collectors' self-metrics, the probe and
//! the API call series are always there. Per-node series are labelled by node name and, for the
//! type, by `type` — both stable for the life of a node, so a stopped node keeps its series
//! (with `running` 0) instead of vanishing.

use super::Exposition;
use crate::collectors::rabbitmq::probe::ProbeOutcome;
use crate::collectors::rabbitmq::{api, RabbitSnapshot};
use crate::config::RabbitmqConfig;
use crate::health::rabbitmq::{in_minority, policy_checks, reachable_nodes, Verdict};

pub fn render(
    e: &mut Exposition,
    snapshot: &RabbitSnapshot,
    config: &RabbitmqConfig,
    verdict: &Verdict,
) {
    e.collector("rabbitmq", &snapshot.cluster.stats);
    if config.scan_queues {
        e.collector("rabbitmq_queues", &snapshot.queues.stats);
    }
    e.flag(
        "rabbitmq_healthy",
        "The /rabbitmq check verdict: 1 when it answers 200, 0 when it answers 503.",
        &[],
        verdict.healthy,
    );
    e.gauge(
        "rabbitmq_cluster_nodes_expected",
        "The cluster size this node was configured to expect (rabbitmq.expected_nodes).",
        &[],
        f64::from(config.expected_nodes),
    );
    for call in api::CALLS {
        let Some(stats) = snapshot.api_calls.get(call) else {
            continue;
        };
        let labels = [("call", call)];
        e.gauge(
            "rabbitmq_api_call_duration_seconds",
            "How long the last call of this management API endpoint took.",
            &labels,
            stats.last_duration.as_secs_f64(),
        );
        e.counter(
            "rabbitmq_api_calls_total",
            "Management API calls made, by endpoint.",
            &labels,
            stats.calls_total as f64,
        );
        e.counter(
            "rabbitmq_api_call_errors_total",
            "Management API calls that failed (transport, status, timeout, invalid body), by endpoint.",
            &labels,
            stats.errors_total as f64,
        );
    }
    render_probe(e, snapshot, config);
    render_queues(e, snapshot);

    let Some(state) = snapshot.cluster() else {
        return;
    };
    e.gauge(
        "rabbitmq_info",
        "Identity of the local node, its cluster and versions; always 1.",
        &[
            ("node", &state.overview.node),
            ("cluster_name", &state.overview.cluster_name),
            ("rabbitmq_version", &state.overview.rabbitmq_version),
            ("erlang_version", &state.overview.erlang_version),
        ],
        1.0,
    );
    e.flag(
        "rabbitmq_mirroring_supported",
        "1 when this RabbitMQ version mirrors classic queues by policy (3.x); 0 on 4.x.",
        &[],
        state.mirroring_supported(),
    );
    e.gauge(
        "rabbitmq_cluster_nodes",
        "Nodes in the cluster as the local node lists them, running or not.",
        &[],
        state.nodes.len() as f64,
    );
    e.gauge(
        "rabbitmq_cluster_nodes_running",
        "Nodes of the cluster that are running, as the local node sees them.",
        &[],
        state.nodes.iter().filter(|n| n.running).count() as f64,
    );
    e.gauge(
        "rabbitmq_reachable_nodes",
        "Nodes the local node reaches: running, not in its partitions list, itself included.",
        &[],
        reachable_nodes(state) as f64,
    );
    if let Some(minority) = in_minority(snapshot, config) {
        e.flag(
            "rabbitmq_minority",
            "1 while the local node reaches fewer than a majority of the expected nodes (the minority side of a partition, or peers down).",
            &[],
            minority,
        );
    }
    let local_alarm = state.local_alarms().next().is_some();
    e.flag(
        "rabbitmq_local_alarm",
        "1 while the local node has a resource alarm (memory, disk or file descriptors) in effect.",
        &[],
        local_alarm,
    );
    e.gauge(
        "rabbitmq_alarms",
        "Resource alarms in effect anywhere in the cluster (a memory or disk alarm blocks every publisher).",
        &[],
        state.alarms.len() as f64,
    );
    for node in &state.nodes {
        let name = node.name.as_str();
        e.flag(
            "rabbitmq_node_running",
            "1 when the node runs the RabbitMQ app, as the local node sees it.",
            &[("node", name)],
            node.running,
        );
        e.gauge(
            "rabbitmq_node_info",
            "The node's type (disc or ram; 4.x has only disc); always 1.",
            &[("node", name), ("type", &node.kind)],
            1.0,
        );
        e.gauge(
            "rabbitmq_node_partitions",
            "Running nodes this node cannot reach (a network partition when above 0).",
            &[("node", name)],
            node.partitions.len() as f64,
        );
        for resource in api::ALARM_RESOURCES {
            let on = state
                .alarms
                .iter()
                .any(|a| a.node == node.name && a.resource == resource);
            e.flag(
                "rabbitmq_node_alarm",
                "1 while this resource alarm is in effect on the node (memory, disk or file_descriptors).",
                &[("node", name), ("resource", resource)],
                on,
            );
        }
        let ratios = [
            (
                "rabbitmq_node_fd_used_ratio",
                "File descriptors used / available on the node.",
                node.fd_used,
                node.fd_total,
            ),
            (
                "rabbitmq_node_sockets_used_ratio",
                "Sockets used / available on the node.",
                node.sockets_used,
                node.sockets_total,
            ),
            (
                "rabbitmq_node_memory_used_ratio",
                "Memory used / the memory high watermark; the memory alarm fires at 1.",
                node.mem_used,
                node.mem_limit,
            ),
            (
                "rabbitmq_node_processes_used_ratio",
                "Erlang processes used / the process limit.",
                node.proc_used,
                node.proc_total,
            ),
        ];
        for (metric, help, used, total) in ratios {
            if let (Some(used), Some(total)) = (used, total) {
                if total > 0.0 {
                    e.gauge(metric, help, &[("node", name)], used / total);
                }
            }
        }
        if let Some(uptime) = node.uptime {
            e.gauge(
                "rabbitmq_node_uptime_seconds",
                "Time since the node started.",
                &[("node", name)],
                uptime / 1000.0,
            );
        }
    }
    for check in policy_checks(snapshot, config).unwrap_or_default() {
        let labels = [
            ("vhost", check.vhost.as_str()),
            ("policy", check.name.as_str()),
        ];
        e.flag(
            "rabbitmq_policy_present",
            "1 when the expected policy exists.",
            &labels,
            check.present,
        );
        e.flag(
            "rabbitmq_policy_matching",
            "1 when the expected policy has the expected pattern, definition and apply-to.",
            &labels,
            check.matching,
        );
        e.flag(
            "rabbitmq_policy_effective",
            "1 when the expected policy matches and does something on this version (ha-mode is ignored on 4.x).",
            &labels,
            check.effective,
        );
    }
}

fn render_probe(e: &mut Exposition, snapshot: &RabbitSnapshot, config: &RabbitmqConfig) {
    if !config.probe {
        return;
    }
    let probe = &snapshot.probe;
    for (outcome, count) in [
        ("success", probe.counts.success),
        ("blocked", probe.counts.blocked),
        ("failed", probe.counts.failed),
    ] {
        e.counter(
            "rabbitmq_probes_total",
            "AMQP round-trip probes by outcome (blocked: publishing blocked by a cluster alarm).",
            &[("outcome", outcome)],
            count as f64,
        );
    }
    let Some(outcome) = &probe.outcome else {
        return;
    };
    e.flag(
        "rabbitmq_probe_success",
        "1 when the last AMQP round trip (connect, declare, publish, consume) succeeded.",
        &[],
        matches!(outcome, ProbeOutcome::Success { .. }),
    );
    e.state_set(
        "rabbitmq_probe_outcome",
        "The last AMQP probe's outcome: success, blocked (by a resource alarm) or failed.",
        "outcome",
        &ProbeOutcome::LABELS,
        outcome.label(),
    );
    e.gauge(
        "rabbitmq_probe_duration_seconds",
        "How long the last AMQP probe took, connecting and cleaning up included.",
        &[],
        probe.duration.as_secs_f64(),
    );
    if let ProbeOutcome::Success { round_trip } = outcome {
        e.gauge(
            "rabbitmq_probe_round_trip_seconds",
            "From publishing the probe message to receiving it back, in the last successful probe.",
            &[],
            round_trip.as_secs_f64(),
        );
    }
}

fn render_queues(e: &mut Exposition, snapshot: &RabbitSnapshot) {
    let Ok(summary) = &snapshot.queues.outcome else {
        return;
    };
    for (kind, count) in [
        ("classic", summary.classic),
        ("quorum", summary.quorum),
        ("stream", summary.stream),
    ] {
        e.gauge(
            "rabbitmq_queues",
            "Queues in the cluster by type, from the last queue scan.",
            &[("type", kind)],
            count as f64,
        );
    }
    for (state, count) in &summary.by_state {
        e.gauge(
            "rabbitmq_queues_by_state",
            "Queues by state from the last queue scan: live, down (home node down), crashed, stopped, terminated, minority, other.",
            &[("state", state)],
            *count as f64,
        );
    }
    e.gauge(
        "rabbitmq_queues_unsynchronised_mirrors",
        "Mirrored classic queues with at least one mirror not holding every message.",
        &[],
        summary.unsynchronised_mirrors as f64,
    );
    e.gauge(
        "rabbitmq_queues_unprotected",
        "Live non-exclusive classic queues matched by no effective HA policy: their messages live on one node.",
        &[],
        summary.unprotected as f64,
    );
    e.gauge(
        "rabbitmq_quorum_queues_below_quorum",
        "Quorum queues with fewer members online than a majority: they accept no writes.",
        &[],
        summary.quorum_below_quorum as f64,
    );
    e.gauge(
        "rabbitmq_queue_scan_bytes",
        "Size of the queue listing read by the last scan.",
        &[],
        summary.bytes as f64,
    );
}
