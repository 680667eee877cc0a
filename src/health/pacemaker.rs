//! The Pacemaker verdict: may this controller be trusted as a member of a working cluster?
//!
//! Healthy iff crm_mon answered recently, the partition this node sees has quorum (a DC exists and
//! says so: without quorum, with no-quorum-policy=ignore, both halves of a split keep running
//! everything), this node (`node_name`) is online and neither standby nor in maintenance (nor is
//! the whole cluster in maintenance mode: nothing would be recovered), and no resource is marked
//! failed. Each rule can be switched off. Recorded failed actions only count with
//! `fail_on_failed_actions`: they stay until someone runs `crm_resource --cleanup`, long after
//! the resource recovered. Anything we cannot see (no answer, a stale snapshot) is 503.

use std::time::{Duration, Instant};

use super::{freshness, Rule, Unknown};
use crate::collectors::pacemaker::PacemakerSnapshot;
use crate::config::PacemakerConfig;

pub type Verdict = super::Verdict<Reason>;

/// Why (not) healthy: one variant per rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    Healthy { node: String, dc: String },
    NeverPolled,
    Stale { age: Duration },
    CollectorDown(String),
    NoDc,
    NoQuorum { dc: String },
    NodeUnknown(String),
    NodeOffline(String),
    NodeStandby(String),
    NodeMaintenance(String),
    ClusterMaintenance,
    FailedResources(Vec<String>),
    FailedActions(Vec<String>),
}

impl Rule for Reason {
    fn healthy(&self) -> bool {
        matches!(self, Reason::Healthy { .. })
    }

    fn state_key(&self) -> String {
        match self {
            Reason::Stale { .. } => "state unknown: stale".to_owned(),
            other => other.text(),
        }
    }

    fn text(&self) -> String {
        fn list(items: &[String]) -> String {
            const SHOWN: usize = 5;
            let mut text = items
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if items.len() > SHOWN {
                text.push_str(&format!(" and {} more", items.len() - SHOWN));
            }
            text
        }
        match self {
            Reason::Healthy { node, dc } => format!(
                "Pacemaker: partition has quorum (DC {dc}), node {node} is online, no failed resources."
            ),
            Reason::NeverPolled => "Pacemaker: no crm_mon result yet.".to_owned(),
            Reason::Stale { age } => format!(
                "Pacemaker: last crm_mon result is {:.1} s old (collector stuck).",
                age.as_secs_f64()
            ),
            Reason::CollectorDown(error) => format!("Pacemaker: cannot read the cluster: {error}."),
            Reason::NoDc => "Pacemaker: no DC elected, so no quorum.".to_owned(),
            Reason::NoQuorum { dc } => format!("Pacemaker: partition has no quorum (DC {dc})."),
            Reason::NodeUnknown(node) => format!(
                "Pacemaker: node {node} (node_name) is not in the cluster."
            ),
            Reason::NodeOffline(node) => format!("Pacemaker: node {node} is offline."),
            Reason::NodeStandby(node) => format!("Pacemaker: node {node} is in standby."),
            Reason::NodeMaintenance(node) => format!("Pacemaker: node {node} is in maintenance."),
            Reason::ClusterMaintenance => {
                "Pacemaker: the cluster is in maintenance mode.".to_owned()
            }
            Reason::FailedResources(ids) => {
                format!("Pacemaker: failed resources: {}.", list(ids))
            }
            Reason::FailedActions(keys) => format!("Pacemaker: failed actions: {}.", list(keys)),
        }
    }
}

pub fn verdict(
    snapshot: &PacemakerSnapshot,
    config: &PacemakerConfig,
    node_name: &str,
    now: Instant,
) -> Verdict {
    Verdict::of(reason(snapshot, config, node_name, now))
}

fn reason(
    snapshot: &PacemakerSnapshot,
    config: &PacemakerConfig,
    node_name: &str,
    now: Instant,
) -> Reason {
    match freshness(snapshot.taken_at, config.max_staleness(), now) {
        Err(Unknown::NeverPolled) => return Reason::NeverPolled,
        Err(Unknown::Stale { age }) => return Reason::Stale { age },
        Ok(()) => {}
    }
    let polled = match &snapshot.outcome {
        Ok(polled) => polled,
        Err(error) => return Reason::CollectorDown(error.to_string()),
    };
    let cluster = &polled.cluster;
    let s = &cluster.summary;
    let dc = s.dc_name.clone().unwrap_or_else(|| "none".to_owned());
    if config.require_quorum {
        if !s.dc_present {
            return Reason::NoDc;
        }
        if !s.with_quorum {
            return Reason::NoQuorum { dc };
        }
    }
    if config.require_local_node_online {
        let Some(node) = cluster.node(node_name) else {
            return Reason::NodeUnknown(node_name.to_owned());
        };
        if !node.online {
            return Reason::NodeOffline(node.name.clone());
        }
        if node.standby {
            return Reason::NodeStandby(node.name.clone());
        }
        if node.maintenance {
            return Reason::NodeMaintenance(node.name.clone());
        }
        if s.maintenance_mode {
            return Reason::ClusterMaintenance;
        }
    }
    if config.fail_on_failed_resources {
        let mut failed: Vec<String> = cluster
            .failed_resources()
            .iter()
            .map(|i| {
                if i.top == i.id {
                    i.id.clone()
                } else {
                    format!("{}/{}", i.top, i.id)
                }
            })
            .collect();
        failed.dedup();
        if !failed.is_empty() {
            return Reason::FailedResources(failed);
        }
    }
    if config.fail_on_failed_actions && !cluster.failures.is_empty() {
        return Reason::FailedActions(
            cluster
                .failures
                .iter()
                .map(|f| format!("{} on {}", f.op_key, f.node))
                .collect(),
        );
    }
    Reason::Healthy {
        node: node_name.to_owned(),
        dc,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collectors::pacemaker::constraints;
    use crate::collectors::pacemaker::crm_mon::{self, tests::fixture};
    use crate::collectors::pacemaker::{PollError, Polled};
    use crate::collectors::CollectorStats;
    use std::sync::Arc;

    /// A fresh snapshot of a recorded scenario, as the poller would publish it.
    pub(crate) fn snapshot(scenario: &str, now: Instant) -> PacemakerSnapshot {
        let cluster = crm_mon::parse(&fixture(&format!("{scenario}.crm_mon.xml"))).unwrap();
        let constraints = constraints::parse(&fixture(&format!("{scenario}.constraints.xml")))
            .map_err(|e| e.to_string());
        PacemakerSnapshot {
            taken_at: Some(now),
            outcome: Ok(Arc::new(Polled {
                cluster,
                constraints,
            })),
            ..PacemakerSnapshot::initial()
        }
    }

    fn check(scenario: &str, node: &str, config: &PacemakerConfig) -> Verdict {
        let now = Instant::now();
        verdict(&snapshot(scenario, now), config, node, now)
    }

    #[test]
    fn healthy_on_every_online_node() {
        let config = PacemakerConfig::default();
        for node in ["controller01", "controller02", "controller03"] {
            let v = check("healthy", node, &config);
            assert!(v.healthy, "{node}: {}", v.reason);
        }
        assert!(check("live-healthy", "vm", &config).healthy);
    }

    #[test]
    fn quorum_lost_is_unhealthy_unless_allowed() {
        let mut config = PacemakerConfig::default();
        let v = check("quorum-lost", "controller01", &config);
        assert_eq!(
            v.rule,
            Reason::NoQuorum {
                dc: "controller01".into()
            }
        );
        assert_eq!(
            v.reason,
            "Pacemaker: partition has no quorum (DC controller01)."
        );
        config.require_quorum = false;
        assert!(check("quorum-lost", "controller01", &config).healthy);
    }

    #[test]
    fn local_node_rules() {
        let config = PacemakerConfig::default();
        assert_eq!(
            check("node-down", "controller02", &config).rule,
            Reason::NodeOffline("controller02".into())
        );
        assert!(check("node-down", "controller01", &config).healthy);
        assert_eq!(
            check("standby", "controller01", &config).rule,
            Reason::NodeStandby("controller01".into())
        );
        assert!(check("standby", "controller02", &config).healthy);
        assert_eq!(
            check("healthy", "nosuchnode", &config).rule,
            Reason::NodeUnknown("nosuchnode".into())
        );
        let relaxed = PacemakerConfig {
            require_local_node_online: false,
            ..PacemakerConfig::default()
        };
        assert!(check("standby", "controller01", &relaxed).healthy);
    }

    #[test]
    fn failed_actions_count_only_when_asked() {
        let config = PacemakerConfig::default();
        // The monitor failure was recovered: the resource is not failed.
        assert!(check("vip-monitor-failed", "controller01", &config).healthy);
        let strict = PacemakerConfig {
            fail_on_failed_actions: true,
            ..PacemakerConfig::default()
        };
        let v = check("vip-monitor-failed", "controller01", &strict);
        assert!(!v.healthy);
        assert!(
            v.reason.contains("vip_monitor_10000 on controller01"),
            "{}",
            v.reason
        );
        let v = check("live-dummy-failed", "vm", &strict);
        assert!(v.reason.contains("dummy_monitor_5000"), "{}", v.reason);
    }

    #[test]
    fn unknown_and_stale_are_unhealthy() {
        let config = PacemakerConfig::default();
        let now = Instant::now();
        let v = verdict(&PacemakerSnapshot::initial(), &config, "vm", now);
        assert_eq!(v.rule, Reason::NeverPolled);
        let old = snapshot("healthy", now);
        let later = now + Duration::from_secs(60);
        assert!(matches!(
            verdict(&old, &config, "controller01", later).rule,
            Reason::Stale { .. }
        ));
        let down = PacemakerSnapshot {
            taken_at: Some(now),
            outcome: Err(PollError::CrmMon(crm_mon::CrmMonError::NoSummary)),
            ..PacemakerSnapshot::initial()
        };
        let v = verdict(&down, &config, "vm", now);
        assert!(!v.healthy);
        assert!(v.reason.contains("no cluster summary"), "{}", v.reason);
        let _ = CollectorStats::new();
    }
}
