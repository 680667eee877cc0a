//! The Pacemaker verdict: may this controller be trusted as a member of a working cluster?
//!
//! Healthy iff crm_mon answered recently, the partition this node sees has quorum (a DC exists and
//! says so: without quorum, with no-quorum-policy=ignore, both halves of a split keep running
//! everything), this node (`node_name`, else `crm_node -n`) is online and neither standby nor in
//! maintenance (nor is the whole cluster in maintenance mode: nothing would be recovered), and no
//! resource is marked failed on this node. A failed resource elsewhere (a failed stop of an
//! unrelated resource on another controller, which stays FAILED while stonith is disabled) is
//! that node's business, a metric and an alert: failing every controller's check for it would
//! empty HAProxy's backends at once. `fail_on_failed_resources_anywhere` keeps the cluster-wide
//! rule. Each rule can be switched off. Recorded failed actions only count with
//! `fail_on_failed_actions`: they stay until someone runs `crm_resource --cleanup`, long after
//! the resource recovered. Anything we cannot see (no answer, a stale snapshot) is 503.

use std::time::{Duration, Instant};

use super::{freshness, Rule, Unknown};
use crate::collectors::pacemaker::crm_mon::Instance;
use crate::collectors::pacemaker::{LocalNode, PacemakerSnapshot};
use crate::config::PacemakerConfig;

pub type Verdict = super::Verdict<Reason>;

/// Why (not) healthy: one variant per rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    Healthy {
        node: String,
        dc: String,
        /// Failed resources on other nodes (not this check's business).
        failed_elsewhere: usize,
    },
    NeverPolled,
    /// `crm_node -n` could not say which node this is.
    NodeNameUnknown(String),
    Stale {
        age: Duration,
    },
    CollectorDown(String),
    NoDc,
    NoQuorum {
        dc: String,
    },
    NodeUnknown {
        node: String,
        /// `node_name` or `crm_node -n`.
        source: &'static str,
        /// The nodes the cluster has.
        existing: Vec<String>,
    },
    NodeOffline(String),
    NodeStandby(String),
    NodeMaintenance(String),
    ClusterMaintenance,
    /// Failed resources on `node` (`None`: on any node, `fail_on_failed_resources_anywhere`).
    FailedResources {
        node: Option<String>,
        ids: Vec<String>,
    },
    FailedActions(Vec<String>),
}

impl Rule for Reason {
    fn healthy(&self) -> bool {
        matches!(self, Reason::Healthy { .. })
    }

    fn stale(&self) -> bool {
        matches!(self, Reason::Stale { .. })
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
            Reason::Healthy {
                node,
                dc,
                failed_elsewhere: 0,
            } => format!(
                "Pacemaker: partition has quorum (DC {dc}), node {node} is online, no failed resources."
            ),
            Reason::Healthy {
                node,
                dc,
                failed_elsewhere,
            } => format!(
                "Pacemaker: partition has quorum (DC {dc}), node {node} is online, no failed resources on it ({failed_elsewhere} failed elsewhere)."
            ),
            Reason::NeverPolled => "Pacemaker: no crm_mon result yet.".to_owned(),
            Reason::NodeNameUnknown(why) => format!(
                "Pacemaker: state unknown: cannot tell this node's name: {why}."
            ),
            Reason::Stale { age } => format!(
                "Pacemaker: last crm_mon result is {:.1} s old (collector stuck).",
                age.as_secs_f64()
            ),
            Reason::CollectorDown(error) => format!("Pacemaker: cannot read the cluster: {error}."),
            Reason::NoDc => "Pacemaker: no DC elected, so no quorum.".to_owned(),
            Reason::NoQuorum { dc } => format!("Pacemaker: partition has no quorum (DC {dc})."),
            Reason::NodeUnknown {
                node,
                source,
                existing,
            } => format!(
                "Pacemaker: node {node} ({source}) is not in the cluster; its nodes are: {}.",
                if existing.is_empty() {
                    "none".to_owned()
                } else {
                    list(existing)
                }
            ),
            Reason::NodeOffline(node) => format!("Pacemaker: node {node} is offline."),
            Reason::NodeStandby(node) => format!("Pacemaker: node {node} is in standby."),
            Reason::NodeMaintenance(node) => format!("Pacemaker: node {node} is in maintenance."),
            Reason::ClusterMaintenance => {
                "Pacemaker: the cluster is in maintenance mode.".to_owned()
            }
            Reason::FailedResources { node: None, ids } => {
                format!("Pacemaker: failed resources: {}.", list(ids))
            }
            Reason::FailedResources {
                node: Some(node),
                ids,
            } => format!("Pacemaker: failed resources on node {node}: {}.", list(ids)),
            Reason::FailedActions(keys) => format!("Pacemaker: failed actions: {}.", list(keys)),
        }
    }
}

/// The verdict for this node: the one the snapshot names (`node_name`, else `crm_node -n`).
pub fn verdict(snapshot: &PacemakerSnapshot, config: &PacemakerConfig, now: Instant) -> Verdict {
    Verdict::of(reason(snapshot, config, now))
}

fn reason(snapshot: &PacemakerSnapshot, config: &PacemakerConfig, now: Instant) -> Reason {
    match freshness(snapshot.taken_at, config.max_staleness(), now) {
        Err(Unknown::NeverPolled) => return Reason::NeverPolled,
        Err(Unknown::Stale { age }) => return Reason::Stale { age },
        Ok(()) => {}
    }
    let polled = match &snapshot.outcome {
        Ok(polled) => polled,
        Err(error) => return Reason::CollectorDown(error.to_string()),
    };
    let node_name = match &snapshot.node {
        LocalNode::Unknown(why) => return Reason::NodeNameUnknown(why.clone()),
        known => known.name().unwrap_or_default(),
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
            return Reason::NodeUnknown {
                node: node_name.to_owned(),
                source: snapshot.node.source(),
                existing: cluster.nodes.iter().map(|n| n.name.clone()).collect(),
            };
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
    let anywhere = config.fail_on_failed_resources_anywhere;
    let here = |i: &Instance| anywhere || i.nodes.iter().any(|n| n == node_name);
    let failed_elsewhere = cluster
        .failed_resources()
        .iter()
        .filter(|i| !here(i))
        .count();
    if config.fail_on_failed_resources {
        let mut failed: Vec<String> = cluster
            .failed_resources()
            .iter()
            .filter(|i| here(i))
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
            return Reason::FailedResources {
                node: (!anywhere).then(|| node_name.to_owned()),
                ids: failed,
            };
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
        failed_elsewhere,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collectors::pacemaker::crm_mon::{self, tests::fixture};
    use crate::collectors::pacemaker::{constraints, resources};
    use crate::collectors::pacemaker::{PollError, Polled};
    use crate::collectors::CollectorStats;
    use std::sync::Arc;

    #[test]
    fn a_stale_verdict_keeps_one_state_key_as_it_ages() {
        let young = Reason::Stale {
            age: Duration::from_secs(31),
        };
        let old = Reason::Stale {
            age: Duration::from_secs(95),
        };
        assert_ne!(young.text(), old.text());
        assert_eq!(young.state_key(), old.state_key());
        assert_eq!(young.state_key(), crate::health::STALE_KEY);
    }

    /// A fresh snapshot of a recorded scenario as the poller of node `node` (configured
    /// `node_name`) would publish it. The IPaddr2 parameters come from `X.resources.xml` when it
    /// was recorded, else the list is empty.
    pub(crate) fn snapshot_of(scenario: &str, node: &str, now: Instant) -> PacemakerSnapshot {
        let cluster = crm_mon::parse(&fixture(&format!("{scenario}.crm_mon.xml"))).unwrap();
        let constraints = constraints::parse(&fixture(&format!("{scenario}.constraints.xml")))
            .map_err(|e| e.to_string());
        let ipaddr2 = match try_fixture(&format!("{scenario}.resources.xml")) {
            Some(text) => resources::parse(&text).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        };
        PacemakerSnapshot {
            taken_at: Some(now),
            outcome: Ok(Arc::new(Polled {
                cluster,
                constraints,
                ipaddr2,
            })),
            node: LocalNode::Configured(node.to_owned()),
            ..PacemakerSnapshot::initial()
        }
    }

    fn try_fixture(name: &str) -> Option<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pacemaker")
            .join(name);
        std::fs::read_to_string(path).ok()
    }

    fn check(scenario: &str, node: &str, config: &PacemakerConfig) -> Verdict {
        let now = Instant::now();
        verdict(&snapshot_of(scenario, node, now), config, now)
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
        let v = check("healthy", "nosuchnode", &config);
        assert_eq!(
            v.reason,
            "Pacemaker: node nosuchnode (node_name) is not in the cluster; its nodes are: \
             controller01, controller02, controller03."
        );
        let relaxed = PacemakerConfig {
            require_local_node_online: false,
            ..PacemakerConfig::default()
        };
        assert!(check("standby", "controller01", &relaxed).healthy);
    }

    #[test]
    fn a_failed_resource_fails_only_its_own_node_unless_anywhere() {
        let config = PacemakerConfig::default();
        let v = check("failed-stop-elsewhere", "controller01", &config);
        assert!(v.healthy, "{}", v.reason);
        assert_eq!(
            v.reason,
            "Pacemaker: partition has quorum (DC controller01), node controller01 is online, \
             no failed resources on it (1 failed elsewhere)."
        );
        let v = check("failed-stop-elsewhere", "controller02", &config);
        assert_eq!(
            v.reason,
            "Pacemaker: failed resources on node controller02: unrelated."
        );
        let anywhere = PacemakerConfig {
            fail_on_failed_resources_anywhere: true,
            ..PacemakerConfig::default()
        };
        for node in ["controller01", "controller02", "controller03"] {
            let v = check("failed-stop-elsewhere", node, &anywhere);
            assert_eq!(
                v.reason, "Pacemaker: failed resources: unrelated.",
                "{node}"
            );
        }
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
        let v = verdict(&PacemakerSnapshot::initial(), &config, now);
        assert_eq!(v.rule, Reason::NeverPolled);
        let old = snapshot_of("healthy", "controller01", now);
        let later = now + Duration::from_secs(60);
        assert!(matches!(
            verdict(&old, &config, later).rule,
            Reason::Stale { .. }
        ));
        // crm_node -n failed: state unknown, whatever crm_mon says.
        let unnamed = PacemakerSnapshot {
            node: LocalNode::Unknown("crm_node -n exited with exit status: 102".into()),
            ..snapshot_of("healthy", "controller01", now)
        };
        let v = verdict(&unnamed, &config, now);
        assert!(!v.healthy);
        assert!(
            v.reason
                .starts_with("Pacemaker: state unknown: cannot tell this node's name: crm_node"),
            "{}",
            v.reason
        );
        let down = PacemakerSnapshot {
            taken_at: Some(now),
            outcome: Err(PollError::CrmMon(crm_mon::CrmMonError::NoSummary)),
            ..PacemakerSnapshot::initial()
        };
        let v = verdict(&down, &config, now);
        assert!(!v.healthy);
        assert!(v.reason.contains("no cluster summary"), "{}", v.reason);
        let _ = CollectorStats::new();
    }
}
