//! Pacemaker and VIP series, rendered from one snapshot. Documented in docs/metrics.md.
//!
//! Cluster series exist only while crm_mon answers (absent, not stale, when it does not); the
//! verdicts, the collector's self-metrics and the VIP's local view are always there. Label sets
//! are stable: resources are aggregated per (top-level resource, primitive), so the anonymous
//! instances of a clone, Started or Stopped, add up instead of producing duplicate series, and
//! every role, node state and policy is exported as a full state set.

use std::collections::BTreeMap;

use super::Exposition;
use crate::collectors::pacemaker::constraints::Constraints;
use crate::collectors::pacemaker::crm_mon::{ClusterState, NODE_STATES, ROLES};
use crate::collectors::pacemaker::PacemakerSnapshot;
use crate::health::pacemaker::Verdict;

/// The no-quorum-policy values Pacemaker accepts (`suicide` is the old name of `fence`).
const NO_QUORUM_POLICIES: [&str; 6] = ["stop", "ignore", "freeze", "demote", "fence", "other"];

pub fn render(e: &mut Exposition, snapshot: &PacemakerSnapshot, verdict: &Verdict) {
    e.collector("pacemaker", &snapshot.stats);
    e.flag(
        "pacemaker_healthy",
        "The /pacemaker verdict: 1 when it answers 200, 0 when it answers 503.",
        &[],
        verdict.healthy,
    );
    e.state_set(
        "pacemaker_crm_mon_format",
        "The crm_mon output format in use: xml (--output-as=xml) or legacy (--as-xml).",
        "format",
        &["xml", "legacy"],
        match snapshot.format {
            crate::collectors::pacemaker::crm_mon::OutputFormat::Xml => "xml",
            crate::collectors::pacemaker::crm_mon::OutputFormat::Legacy => "legacy",
        },
    );
    let Some(polled) = snapshot.outcome.as_ref().ok() else {
        return;
    };
    render_cluster(e, &polled.cluster);
    e.flag(
        "pacemaker_constraints_readable",
        "1 when cibadmin returned the constraints section (colocation checks need it).",
        &[],
        polled.constraints.is_ok(),
    );
    if let Ok(constraints) = &polled.constraints {
        render_cli_constraints(e, constraints);
    }
}

/// The location constraints `crm_resource --ban` (`cli-ban-R-on-N`) and `--move` (`cli-prefer-R`)
/// leave behind until `crm_resource --clear`: they keep steering the resource long after the
/// maintenance that needed them.
fn render_cli_constraints(e: &mut Exposition, constraints: &Constraints) {
    let mut seen: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    for l in &constraints.locations {
        let kind = if l.id.starts_with("cli-ban-") {
            "ban"
        } else if l.id.starts_with("cli-prefer-") {
            "prefer"
        } else {
            continue;
        };
        *seen
            .entry((l.rsc.as_str(), l.node.as_deref().unwrap_or(""), kind))
            .or_default() += 1;
    }
    for ((resource, node, kind), count) in &seen {
        e.gauge(
            "pacemaker_cli_constraint",
            "Location constraints left by crm_resource --ban (kind=ban) or --move (kind=prefer), \
             until crm_resource --clear.",
            &[("resource", resource), ("node", node), ("kind", kind)],
            *count as f64,
        );
    }
}

fn render_cluster(e: &mut Exposition, c: &ClusterState) {
    let s = &c.summary;
    e.flag(
        "pacemaker_quorate",
        "1 when the partition this node sees has quorum (a DC exists and reports quorum).",
        &[],
        s.with_quorum,
    );
    e.flag(
        "pacemaker_dc_present",
        "1 when a Designated Controller is elected.",
        &[],
        s.dc_present,
    );
    if let Some(dc) = &s.dc_name {
        e.gauge(
            "pacemaker_dc_info",
            "The Designated Controller and the Pacemaker version it runs; always 1.",
            &[
                ("node", dc),
                ("version", s.pacemaker_version.as_deref().unwrap_or("")),
                ("stack", s.stack.as_deref().unwrap_or("")),
            ],
            1.0,
        );
    }
    e.flag(
        "pacemaker_stonith_enabled",
        "The stonith-enabled cluster option.",
        &[],
        s.stonith_enabled,
    );
    e.flag(
        "pacemaker_maintenance_mode",
        "The maintenance-mode cluster option: 1 while no resource is managed.",
        &[],
        s.maintenance_mode,
    );
    let policy = s.no_quorum_policy.as_deref().unwrap_or("stop");
    let policy = match policy {
        "suicide" => "fence",
        p if NO_QUORUM_POLICIES.contains(&p) => p,
        _ => "other",
    };
    e.state_set(
        "pacemaker_no_quorum_policy",
        "The no-quorum-policy cluster option as a state set.",
        "policy",
        &NO_QUORUM_POLICIES,
        policy,
    );
    e.gauge(
        "pacemaker_nodes_configured",
        "Nodes configured in the cluster (crm_mon's summary).",
        &[],
        s.nodes_configured as f64,
    );
    e.gauge(
        "pacemaker_resources_configured",
        "Resource instances configured (crm_mon's summary).",
        &[],
        s.resources_configured as f64,
    );
    e.gauge(
        "pacemaker_resources_disabled",
        "Resource instances disabled (target-role Stopped).",
        &[],
        s.resources_disabled as f64,
    );
    e.gauge(
        "pacemaker_resources_blocked",
        "Resource instances blocked (a failed stop with no fencing).",
        &[],
        s.resources_blocked as f64,
    );

    for state in NODE_STATES {
        e.gauge(
            "pacemaker_nodes",
            "Nodes (cluster members and remote/guest nodes) in each state; a node can be in several.",
            &[("state", state)],
            c.nodes.iter().filter(|n| n.in_state(state)).count() as f64,
        );
    }
    // One entry per node name: crm_mon never lists a node twice, but a hostile input must not
    // produce duplicate series.
    let mut nodes = BTreeMap::new();
    for n in &c.nodes {
        nodes.entry(n.name.as_str()).or_insert(n);
    }
    for n in nodes.values() {
        for state in NODE_STATES {
            e.flag(
                "pacemaker_node_state",
                "Each node's states as a set of flags (online, standby, maintenance, ...).",
                &[("node", &n.name), ("type", &n.kind), ("state", state)],
                n.in_state(state),
            );
        }
        e.flag(
            "pacemaker_node_is_dc",
            "1 for the node that is the Designated Controller.",
            &[("node", &n.name)],
            n.is_dc,
        );
        e.gauge(
            "pacemaker_node_resources_running",
            "Resource instances running on each node.",
            &[("node", &n.name)],
            n.resources_running as f64,
        );
    }

    // Aggregate instances per (top-level resource, primitive).
    #[derive(Default)]
    struct Agg<'a> {
        kind: &'a str,
        agent: &'a str,
        roles: BTreeMap<&'static str, u64>,
        instances: u64,
        active: u64,
        failed: u64,
        blocked: u64,
        orphaned: u64,
        unmanaged: u64,
        on: BTreeMap<&'a str, u64>,
    }
    let mut resources: BTreeMap<(&str, &str), Agg> = BTreeMap::new();
    for i in &c.resources {
        let a = resources
            .entry((i.top.as_str(), i.id.as_str()))
            .or_default();
        a.kind = i.top_kind.label();
        a.agent = &i.agent;
        *a.roles.entry(i.role).or_default() += 1;
        a.instances += 1;
        a.active += u64::from(i.active);
        a.failed += u64::from(i.failed);
        a.blocked += u64::from(i.blocked);
        a.orphaned += u64::from(i.orphaned);
        a.unmanaged += u64::from(!i.managed);
        if i.active {
            for node in &i.nodes {
                *a.on.entry(node.as_str()).or_default() += 1;
            }
        }
    }
    for ((top, id), a) in &resources {
        let labels = [("resource", *top), ("primitive", *id)];
        e.gauge(
            "pacemaker_resource_info",
            "Each resource: its kind (primitive, clone, group, bundle) and agent; always 1.",
            &[
                ("resource", top),
                ("primitive", id),
                ("kind", a.kind),
                ("agent", a.agent),
            ],
            1.0,
        );
        for role in ROLES {
            e.gauge(
                "pacemaker_resource_role",
                "Instances of each resource in each role (clone instances add up).",
                &[("resource", top), ("primitive", id), ("role", role)],
                a.roles.get(role).copied().unwrap_or(0) as f64,
            );
        }
        e.gauge(
            "pacemaker_resource_instances",
            "Instances of each resource, running or not.",
            &labels,
            a.instances as f64,
        );
        e.gauge(
            "pacemaker_resource_active",
            "Active instances of each resource.",
            &labels,
            a.active as f64,
        );
        e.gauge(
            "pacemaker_resource_failed",
            "Instances of each resource marked failed.",
            &labels,
            a.failed as f64,
        );
        e.gauge(
            "pacemaker_resource_blocked",
            "Instances of each resource blocked.",
            &labels,
            a.blocked as f64,
        );
        e.gauge(
            "pacemaker_resource_orphaned",
            "Instances of each resource still running although no longer configured.",
            &labels,
            a.orphaned as f64,
        );
        e.flag(
            "pacemaker_resource_managed",
            "1 when every instance of the resource is managed by Pacemaker.",
            &labels,
            a.unmanaged == 0,
        );
        for (node, count) in &a.on {
            e.gauge(
                "pacemaker_resource_running_on",
                "Active instances of each resource per node (series exist only where it runs).",
                &[("resource", top), ("primitive", id), ("node", node)],
                *count as f64,
            );
        }
    }

    let mut fail_counts = BTreeMap::new();
    for f in &c.fail_counts {
        fail_counts
            .entry((f.node.as_str(), f.resource.as_str()))
            .or_insert((f.fail_count, f.migration_threshold));
    }
    for ((node, resource), (count, threshold)) in &fail_counts {
        let labels = [("node", *node), ("resource", *resource)];
        e.gauge(
            "pacemaker_resource_failures",
            "Failures of a resource on a node since the last cleanup (node_history fail-count).",
            &labels,
            *count as f64,
        );
        if let Some(threshold) = threshold {
            e.gauge(
                "pacemaker_migration_threshold",
                "After this many failures on a node the resource is moved away (1000000: never).",
                &labels,
                *threshold as f64,
            );
        }
    }

    e.gauge(
        "pacemaker_failed_actions",
        "Failed actions recorded (crm_mon's Failed Resource Actions) until cleanup.",
        &[],
        c.failures.len() as f64,
    );
    let mut failures: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    for f in &c.failures {
        *failures
            .entry((f.node.as_str(), f.resource.as_str(), f.task.as_str()))
            .or_default() += 1;
    }
    for ((node, resource, task), count) in &failures {
        e.gauge(
            "pacemaker_failed_action",
            "Failed actions per node, resource and operation.",
            &[("node", node), ("resource", resource), ("task", task)],
            *count as f64,
        );
    }

    e.gauge(
        "pacemaker_bans",
        "Resources banned from nodes (-INFINITY locations, e.g. crm_resource --ban).",
        &[],
        c.bans.len() as f64,
    );
    let mut bans: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for b in &c.bans {
        *bans
            .entry((b.resource.as_str(), b.node.as_str()))
            .or_default() += 1;
    }
    for ((resource, node), count) in &bans {
        e.gauge(
            "pacemaker_ban",
            "Bans per resource and node.",
            &[("resource", resource), ("node", node)],
            *count as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PacemakerConfig;
    use crate::health::pacemaker::{tests::snapshot_of, verdict};
    use std::collections::HashSet;
    use std::time::Instant;

    fn page(scenario: &str, node: &str) -> String {
        let now = Instant::now();
        let s = snapshot_of(scenario, node, now);
        let v = verdict(&s, &PacemakerConfig::default(), now);
        let mut e = Exposition::new();
        render(&mut e, &s, &v);
        e.encode()
    }

    /// Every series (name + labels) must appear once.
    fn assert_unique(page: &str) {
        let mut seen = HashSet::new();
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
            assert!(seen.insert(series.to_owned()), "duplicate series {series}");
        }
    }

    #[test]
    fn stopped_clone_instances_add_up() {
        let text = page("healthy", "controller01");
        assert_unique(&text);
        assert!(text.contains(
            "clustercheckd_pacemaker_resource_role{resource=\"lb-haproxy-clone\",primitive=\"lb-haproxy\",role=\"stopped\"} 2"
        ), "{text}");
        assert!(text.contains(
            "clustercheckd_pacemaker_resource_running_on{resource=\"lb-haproxy-clone\",primitive=\"lb-haproxy\",node=\"controller01\"} 1"
        ));
        assert!(text.contains("clustercheckd_pacemaker_quorate 1"));
        assert!(text.contains("clustercheckd_pacemaker_nodes{state=\"online\"} 3"));
        assert!(text.contains("clustercheckd_pacemaker_no_quorum_policy{policy=\"ignore\"} 1"));
        assert!(text.contains("clustercheckd_pacemaker_stonith_enabled 0"));
    }

    #[test]
    fn every_scenario_renders_unique_series() {
        for scenario in crate::collectors::pacemaker::crm_mon::tests::SCENARIOS {
            assert_unique(&page(scenario, "controller01"));
        }
    }

    #[test]
    fn failures_fail_counts_and_bans() {
        let text = page("migration-threshold", "controller01");
        assert!(text.contains(
            "clustercheckd_pacemaker_resource_failures{node=\"controller01\",resource=\"vip\"} 1"
        ));
        assert!(text.contains(
            "clustercheckd_pacemaker_migration_threshold{node=\"controller01\",resource=\"vip\"} 1"
        ));
        assert!(text.contains("clustercheckd_pacemaker_failed_actions 1"));
        assert!(text.contains(
            "clustercheckd_pacemaker_failed_action{node=\"controller01\",resource=\"vip\",task=\"monitor\"} 1"
        ));
        let text = page("vip-banned", "controller01");
        assert!(
            text.contains("clustercheckd_pacemaker_ban{resource=\"vip\",node=\"controller01\"} 1")
        );
        assert!(text.contains(
            "clustercheckd_pacemaker_cli_constraint{resource=\"vip\",node=\"controller01\",kind=\"ban\"} 1"
        ));
        let text = page("vip-moved", "controller01");
        assert!(text.contains(
            "clustercheckd_pacemaker_cli_constraint{resource=\"vip\",node=\"controller02\",kind=\"prefer\"} 1"
        ));
        assert!(!page("healthy", "controller01").contains("pacemaker_cli_constraint"));
        let text = page("quorum-lost", "controller01");
        assert!(text.contains("clustercheckd_pacemaker_quorate 0"));
        assert!(text.contains("clustercheckd_pacemaker_healthy 0"));
    }

    #[test]
    fn down_collector_exports_only_self_metrics() {
        let s = PacemakerSnapshot::initial();
        let v = verdict(&s, &PacemakerConfig::default(), Instant::now());
        let mut e = Exposition::new();
        render(&mut e, &s, &v);
        let text = e.encode();
        assert!(text.contains("clustercheckd_collector_up{collector=\"pacemaker\"} 0"));
        assert!(!text.contains("pacemaker_quorate"));
    }
}
