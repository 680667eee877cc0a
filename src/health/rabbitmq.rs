//! The RabbitMQ verdict: should HAProxy send AMQP clients to this node?
//!
//! Healthy iff we have a fresh answer from the local node's management API, the local node is
//! listed and running, it is a member of a cluster (not alone when more nodes are expected;
//! `require_cluster_member`), it is not on the minority side of a partition
//! (`fail_on_partition`), and the AMQP round trip works or is only blocked by a resource alarm
//! (`fail_on_probe_failure`).
//!
//! Partitions: with `cluster_partition_handling = ignore` both sides of a partition list the
//! other side in `partitions` once they have seen each other again, so "any partition fails" would
//! fail every node and empty HAProxy's backend. The nodes this node reaches are the running nodes
//! minus those in its own `partitions` list, plus itself; only a node that reaches fewer than a
//! majority of `expected_nodes` fails. While the network is still cut, the minority side sees
//! its peers as not running, which the same count catches (a node cannot tell peers it cannot
//! reach from peers that stopped: a lone survivor fails too, as pause_minority would pause it).
//!
//! Alarms do not fail the check by default. A memory or disk alarm on any node blocks publishers
//! on every node; failing all three checks would also keep consumers from reconnecting, and
//! consumers are what drains the queues and clears the alarm. A file-descriptor alarm only makes
//! that node refuse new connections. The one-line reason names every alarm in effect with what
//! it does, and `fail_on_local_alarm = true` fails the node that raised one.
//!
//! Also here, because it is a decision too: whether the expected policies are present, match,
//! and are effective on this version.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{freshness, Rule, Unknown};
use crate::collectors::rabbitmq::api::{Alarm, ApiError, Policy};
use crate::collectors::rabbitmq::probe::ProbeOutcome;
use crate::collectors::rabbitmq::{ClusterState, RabbitSnapshot};
use crate::config::{ExpectedPolicy, RabbitmqConfig};

pub type Verdict = super::Verdict<Reason>;

/// One variant per rule, so tests and logs can name the rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    Healthy {
        node: String,
        running: usize,
        listed: usize,
        /// Running nodes this node cannot reach (the minority side of a partition).
        partitions: Vec<String>,
        /// It reaches fewer than a majority, which is healthy only with `fail_on_partition`
        /// off: the text must not claim the majority then.
        minority: bool,
        alarms: Vec<Alarm>,
        probe_blocked: bool,
    },
    NeverPolled,
    Stale {
        age: Duration,
    },
    AuthenticationFailed(String),
    ApiFailed(String),
    NotListed {
        node: String,
    },
    NotRunning {
        node: String,
    },
    NotClusterMember {
        node: String,
        expected: u32,
    },
    /// This node reaches fewer than a majority of the expected nodes.
    Minority {
        node: String,
        reachable: usize,
        expected: u32,
        partitions: Vec<String>,
    },
    ProbeFailed {
        error: String,
        alarms: Vec<Alarm>,
    },
    ProbeNotRun,
    LocalAlarm {
        node: String,
        alarms: Vec<Alarm>,
    },
}

const NODE: &str = "RabbitMQ node";

/// "memory alarm on rabbit1@host blocks publishers on every node, file descriptor alarm on
/// rabbit2@host refuses new connections on that node only": each alarm with what it does.
fn describe_alarms(alarms: &[Alarm]) -> String {
    alarms
        .iter()
        .map(|a| match a.resource.as_str() {
            "memory" | "disk" => format!(
                "{} alarm on {} blocks publishers on every node",
                a.resource, a.node
            ),
            "file_descriptors" => format!(
                "file descriptor alarm on {} refuses new connections on that node only",
                a.node
            ),
            other => format!("{} alarm on {}", other.replace('_', " "), a.node),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Rule for Reason {
    fn healthy(&self) -> bool {
        matches!(self, Reason::Healthy { .. })
    }

    fn stale(&self) -> bool {
        matches!(self, Reason::Stale { .. })
    }

    fn text(&self) -> String {
        match self {
            Reason::Healthy {
                node,
                running,
                listed,
                partitions,
                minority,
                alarms,
                probe_blocked,
            } => {
                let mut text = format!(
                    "{NODE} {node} is running in a cluster with {running} of {listed} nodes running"
                );
                if !partitions.is_empty() {
                    text.push_str(&format!(
                        "; network partition with {}",
                        partitions.join(", ")
                    ));
                    if !minority {
                        text.push_str(", this side holds the majority");
                    }
                }
                if *minority {
                    text.push_str("; this side is in a minority (fail_on_partition is off)");
                }
                if !alarms.is_empty() {
                    text.push_str(&format!("; {}", describe_alarms(alarms)));
                } else if *probe_blocked {
                    text.push_str("; publishing blocked by a cluster alarm");
                }
                text.push('.');
                text
            }
            Reason::NeverPolled => format!("{NODE} state unknown: no poll has completed yet."),
            Reason::Stale { age } => format!(
                "{NODE} state unknown: last poll result is {:.1} s old.",
                age.as_secs_f64()
            ),
            Reason::AuthenticationFailed(error) => {
                format!("{NODE} state unknown: management API authentication failed ({error}).")
            }
            Reason::ApiFailed(error) => {
                format!("{NODE} state unknown: {error} (is the node or its app stopped?).")
            }
            Reason::NotListed { node } => {
                format!("{NODE} {node} is not listed among the cluster's nodes.")
            }
            Reason::NotRunning { node } => format!("{NODE} {node} is not running."),
            Reason::NotClusterMember { node, expected } => format!(
                "{NODE} {node} is not a cluster member: it is alone, {expected} nodes expected."
            ),
            Reason::Minority {
                node,
                reachable,
                expected,
                partitions,
            } => {
                let mut text = format!(
                    "{NODE} {node} is in a minority: it reaches {reachable} of {expected} expected \
                     nodes (itself included), fewer than a majority"
                );
                if !partitions.is_empty() {
                    text.push_str(&format!(
                        "; network partition with {}",
                        partitions.join(", ")
                    ));
                }
                text.push('.');
                text
            }
            Reason::ProbeFailed { error, alarms } => {
                let mut text = format!("{NODE} AMQP round trip failed: {error}");
                if !alarms.is_empty() {
                    text.push_str(&format!("; {}", describe_alarms(alarms)));
                }
                text.push('.');
                text
            }
            Reason::ProbeNotRun => {
                format!("{NODE} state unknown: the AMQP probe has not completed yet.")
            }
            Reason::LocalAlarm { node, alarms } => format!(
                "{NODE} {node} raised a resource alarm ({}) and fail_on_local_alarm is set.",
                describe_alarms(alarms)
            ),
        }
    }
}

/// Decide from the latest snapshot. Pure: the caller supplies `now`.
pub fn verdict(snapshot: &RabbitSnapshot, config: &RabbitmqConfig, now: Instant) -> Verdict {
    Verdict::of(reason(snapshot, config, now))
}

fn reason(snapshot: &RabbitSnapshot, config: &RabbitmqConfig, now: Instant) -> Reason {
    match freshness(snapshot.cluster.taken_at, config.max_staleness(), now) {
        Err(Unknown::NeverPolled) => return Reason::NeverPolled,
        Err(Unknown::Stale { age }) => return Reason::Stale { age },
        Ok(()) => {}
    }
    let state = match &snapshot.cluster.outcome {
        Ok(state) => state,
        Err(ApiError::AuthenticationFailed(e)) => return Reason::AuthenticationFailed(e.clone()),
        Err(e) => return Reason::ApiFailed(e.to_string()),
    };
    let node = state.overview.node.clone();
    let Some(local) = state.local_node() else {
        return Reason::NotListed { node };
    };
    if !local.running {
        return Reason::NotRunning { node };
    }
    if config.require_cluster_member && config.expected_nodes > 1 && state.nodes.len() < 2 {
        return Reason::NotClusterMember {
            node,
            expected: config.expected_nodes,
        };
    }
    let reachable = reachable_nodes(state);
    if config.fail_on_partition && reachable < majority(config.expected_nodes) {
        return Reason::Minority {
            node,
            reachable,
            expected: config.expected_nodes,
            partitions: local.partitions.clone(),
        };
    }
    let local_alarms: Vec<Alarm> = state.local_alarms().cloned().collect();
    if config.fail_on_local_alarm && !local_alarms.is_empty() {
        return Reason::LocalAlarm {
            node,
            alarms: local_alarms,
        };
    }
    let mut probe_blocked = false;
    if config.probe {
        // The probe must be about as fresh as the API answer.
        let fresh = freshness(snapshot.probe.taken_at, config.max_staleness(), now).is_ok();
        match (&snapshot.probe.outcome, fresh) {
            (Some(ProbeOutcome::Success { .. }), true) => {}
            (Some(ProbeOutcome::Blocked { .. }), true) => probe_blocked = true,
            (Some(ProbeOutcome::Failed { error }), true) if config.fail_on_probe_failure => {
                return Reason::ProbeFailed {
                    error: error.clone(),
                    alarms: state.alarms.clone(),
                }
            }
            (Some(ProbeOutcome::Failed { .. }), true) => {}
            _ if config.fail_on_probe_failure => return Reason::ProbeNotRun,
            _ => {}
        }
    }
    Reason::Healthy {
        node,
        running: state.nodes.iter().filter(|n| n.running).count(),
        listed: state.nodes.len(),
        partitions: local.partitions.clone(),
        minority: reachable < majority(config.expected_nodes),
        alarms: state.alarms.clone(),
        probe_blocked,
    }
}

/// The nodes the local node reaches: the running nodes minus those in its own `partitions` list,
/// plus itself (counted once). 0 when the local node is not listed.
pub fn reachable_nodes(state: &ClusterState) -> usize {
    let Some(local) = state.local_node() else {
        return 0;
    };
    let others = state
        .nodes
        .iter()
        .filter(|n| n.name != local.name && n.running && !local.partitions.contains(&n.name))
        .count();
    others + 1
}

/// More than half of `expected` nodes (at least 1).
pub fn majority(expected: u32) -> usize {
    expected as usize / 2 + 1
}

/// Whether the local node reaches fewer than a majority of the expected nodes; `None` without a
/// node poll.
pub fn in_minority(snapshot: &RabbitSnapshot, config: &RabbitmqConfig) -> Option<bool> {
    let state = snapshot.cluster()?;
    state.local_node()?;
    Some(reachable_nodes(state) < majority(config.expected_nodes))
}

/// One expected policy against what the node reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyCheck {
    pub name: String,
    pub vhost: String,
    pub present: bool,
    /// Same pattern, definition and apply-to.
    pub matching: bool,
    /// Present, matching, and doing something on this version (`ha-mode` does nothing on 4.x).
    pub effective: bool,
    /// What differs, for /status.
    pub problem: Option<String>,
}

/// The expected policies checked against what the node reports; used by metrics and /status.
pub fn policy_checks(
    snapshot: &RabbitSnapshot,
    config: &RabbitmqConfig,
) -> Option<Vec<PolicyCheck>> {
    snapshot.cluster().map(|state| {
        check_policies(
            &config.expected_policies,
            &state.policies,
            state.mirroring_supported(),
        )
    })
}

pub fn check_policies(
    expected: &[ExpectedPolicy],
    actual: &[Policy],
    mirroring_supported: bool,
) -> Vec<PolicyCheck> {
    expected
        .iter()
        .map(|want| {
            let found = actual
                .iter()
                .find(|p| p.name == want.name && p.vhost == want.vhost);
            let (present, matching, mut problem) = match found {
                None => (false, false, Some("missing".to_owned())),
                Some(p) => {
                    let mut diffs = Vec::new();
                    if p.pattern != want.pattern {
                        diffs.push(format!("pattern is {:?}, want {:?}", p.pattern, want.pattern));
                    }
                    // serde_json's Map compares by key, so key order does not matter.
                    if p.definition != want.definition {
                        diffs.push(format!("definition is {}, want {}", p.definition, want.definition));
                    }
                    if p.apply_to != want.apply_to {
                        diffs.push(format!("apply-to is {:?}, want {:?}", p.apply_to, want.apply_to));
                    }
                    let matching = diffs.is_empty();
                    (true, matching, (!matching).then(|| diffs.join("; ")))
                }
            };
            let mirrors = want.definition.get("ha-mode").is_some();
            let effective = matching && (!mirrors || mirroring_supported);
            if matching && !effective {
                problem = Some(
                    "ha-mode is ignored on RabbitMQ 4.x (classic mirroring was removed): use quorum queues"
                        .to_owned(),
                );
            }
            PolicyCheck {
                name: want.name.clone(),
                vhost: want.vhost.clone(),
                present,
                matching,
                effective,
                problem,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collectors::rabbitmq::api::{Node, Overview};
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

    pub(crate) fn node(name: &str, kind: &str, running: bool) -> Node {
        Node {
            name: name.into(),
            kind: kind.into(),
            running,
            partitions: vec![],
            mem_alarm: false,
            disk_free_alarm: false,
            fd_used: running.then_some(42.0),
            fd_total: running.then_some(20000.0),
            sockets_used: running.then_some(1.0),
            sockets_total: running.then_some(17910.0),
            proc_used: running.then_some(387.0),
            proc_total: running.then_some(1048576.0),
            mem_used: running.then_some(140947456.0),
            mem_limit: running.then_some(10110604083.0),
            uptime: running.then_some(96806.0),
        }
    }

    /// A healthy 3-node cluster (one disc, two RAM nodes, ha-all) as the sandbox reports it.
    pub(crate) fn state() -> ClusterState {
        ClusterState {
            overview: Overview {
                cluster_name: "rabbit1@vm".into(),
                rabbitmq_version: "3.10.8".into(),
                erlang_version: "25.2.3".into(),
                node: "rabbit1@vm".into(),
            },
            nodes: vec![
                node("rabbit1@vm", "disc", true),
                node("rabbit2@vm", "ram", true),
                node("rabbit3@vm", "ram", true),
            ],
            policies: vec![Policy {
                name: "ha-all".into(),
                vhost: "/".into(),
                pattern: "^".into(),
                apply_to: "all".into(),
                definition: serde_json::json!({"ha-mode": "all"}),
                priority: 0,
            }],
            alarms: vec![],
            alarms_source: "health_check",
        }
    }

    fn snapshot(state: ClusterState, probe: ProbeOutcome, now: Instant) -> RabbitSnapshot {
        let mut s = RabbitSnapshot::initial();
        s.cluster.taken_at = Some(now);
        s.cluster.outcome = Ok(Arc::new(state));
        s.probe.taken_at = Some(now);
        s.probe.outcome = Some(probe);
        s
    }

    fn ok() -> ProbeOutcome {
        ProbeOutcome::Success {
            round_trip: Duration::from_millis(2),
        }
    }

    fn judge(state: ClusterState, probe: ProbeOutcome, config: &RabbitmqConfig) -> Verdict {
        let now = Instant::now();
        verdict(&snapshot(state, probe, now), config, now)
    }

    #[test]
    fn healthy_cluster() {
        let v = judge(state(), ok(), &RabbitmqConfig::default());
        assert!(v.healthy);
        assert_eq!(
            v.reason,
            "RabbitMQ node rabbit1@vm is running in a cluster with 3 of 3 nodes running."
        );
    }

    #[test]
    fn a_peer_down_is_still_healthy_but_counted() {
        let mut s = state();
        s.nodes[2].running = false;
        let v = judge(s, ok(), &RabbitmqConfig::default());
        assert!(v.healthy);
        assert!(v.reason.contains("2 of 3"), "{}", v.reason);
    }

    #[test]
    fn alarm_elsewhere_is_named_and_healthy_by_default() {
        let mut s = state();
        s.alarms = vec![Alarm {
            node: "rabbit3@vm".into(),
            resource: "memory".into(),
        }];
        let blocked = ProbeOutcome::Blocked {
            reason: "low on memory".into(),
        };
        let v = judge(s.clone(), blocked.clone(), &RabbitmqConfig::default());
        assert!(v.healthy);
        assert!(
            v.reason.contains("memory alarm on rabbit3@vm"),
            "{}",
            v.reason
        );
        // Only the node that raised it fails with fail_on_local_alarm.
        let strict = RabbitmqConfig {
            fail_on_local_alarm: true,
            ..RabbitmqConfig::default()
        };
        assert!(judge(s.clone(), blocked.clone(), &strict).healthy);
        s.alarms[0].node = "rabbit1@vm".into();
        let v = judge(s, blocked, &strict);
        assert!(!v.healthy);
        assert!(
            v.reason.contains("memory alarm on rabbit1@vm"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn local_node_not_running_partitioned_or_alone() {
        let mut s = state();
        s.nodes[0].running = false;
        assert_eq!(
            judge(s, ok(), &RabbitmqConfig::default()).reason,
            "RabbitMQ node rabbit1@vm is not running."
        );
        // The minority side of a partition (it lists both peers) fails...
        let mut s = state();
        s.nodes[0].partitions = vec!["rabbit2@vm".into(), "rabbit3@vm".into()];
        let v = judge(s.clone(), ok(), &RabbitmqConfig::default());
        assert!(
            !v.healthy
                && v.reason.contains("reaches 1 of 3")
                && v.reason
                    .contains("network partition with rabbit2@vm, rabbit3@vm"),
            "{}",
            v.reason
        );
        let lenient = RabbitmqConfig {
            fail_on_partition: false,
            ..RabbitmqConfig::default()
        };
        // ...unless fail_on_partition is off, and then it does not claim the majority.
        let v = judge(s, ok(), &lenient);
        assert!(v.healthy, "{}", v.reason);
        assert_eq!(
            v.reason,
            "RabbitMQ node rabbit1@vm is running in a cluster with 3 of 3 nodes running; \
             network partition with rabbit2@vm, rabbit3@vm; this side is in a minority \
             (fail_on_partition is off)."
        );
        let mut s = state();
        s.nodes.truncate(1);
        assert!(matches!(
            judge(s, ok(), &RabbitmqConfig::default()).rule,
            Reason::NotClusterMember { .. }
        ));
    }

    /// With `ignore`, both sides list partitions: only the side reaching fewer than a majority
    /// of expected_nodes fails; the majority names the partition and stays 200.
    #[test]
    fn partition_fails_only_the_minority() {
        let config = RabbitmqConfig::default();
        // Majority side: rabbit1 lists rabbit3; it reaches itself and rabbit2.
        let mut s = state();
        s.nodes[0].partitions = vec!["rabbit3@vm".into()];
        assert_eq!(reachable_nodes(&s), 2);
        let v = judge(s, ok(), &config);
        assert!(v.healthy, "{}", v.reason);
        assert!(
            v.reason
                .contains("network partition with rabbit3@vm, this side holds the majority"),
            "{}",
            v.reason
        );
        // While the network is still cut, the minority sees its peers as not running.
        let mut s = state();
        s.nodes[1].running = false;
        s.nodes[2].running = false;
        let v = judge(s.clone(), ok(), &config);
        assert!(
            matches!(
                v.rule,
                Reason::Minority {
                    reachable: 1,
                    expected: 3,
                    ..
                }
            ),
            "{:?}",
            v.rule
        );
        // One peer down leaves a majority.
        s.nodes[1].running = true;
        assert!(judge(s, ok(), &config).healthy);
        // Expected 5: 2 of 5 is a minority, 3 of 5 is not; itself counts once.
        let five = RabbitmqConfig {
            expected_nodes: 5,
            ..RabbitmqConfig::default()
        };
        let mut s = state();
        s.nodes[2].running = false;
        assert!(!judge(s.clone(), ok(), &five).healthy);
        s.nodes.push(node("rabbit4@vm", "ram", true));
        assert!(judge(s, ok(), &five).healthy);
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
    }

    #[test]
    fn alarm_reason_says_what_each_kind_does() {
        let mut s = state();
        s.alarms = vec![
            Alarm {
                node: "rabbit2@vm".into(),
                resource: "disk".into(),
            },
            Alarm {
                node: "rabbit3@vm".into(),
                resource: "file_descriptors".into(),
            },
        ];
        let v = judge(s, ok(), &RabbitmqConfig::default());
        assert!(v.healthy);
        assert_eq!(
            v.reason,
            "RabbitMQ node rabbit1@vm is running in a cluster with 3 of 3 nodes running; \
             disk alarm on rabbit2@vm blocks publishers on every node, file descriptor alarm on \
             rabbit3@vm refuses new connections on that node only."
        );
    }

    #[test]
    fn probe_failure_fails_unless_configured_not_to() {
        let failed = ProbeOutcome::Failed {
            error: "connect: Connection refused".into(),
        };
        let v = judge(state(), failed.clone(), &RabbitmqConfig::default());
        assert!(!v.healthy);
        assert!(
            v.reason.contains("AMQP round trip failed: connect"),
            "{}",
            v.reason
        );
        let lenient = RabbitmqConfig {
            fail_on_probe_failure: false,
            ..RabbitmqConfig::default()
        };
        assert!(judge(state(), failed, &lenient).healthy);
    }

    #[test]
    fn unreachable_stale_and_auth() {
        let now = Instant::now();
        let mut s = snapshot(state(), ok(), now);
        s.cluster.outcome = Err(ApiError::Unreachable("connection refused".into()));
        let v = verdict(&s, &RabbitmqConfig::default(), now);
        assert!(
            !v.healthy && v.reason.contains("connection refused"),
            "{}",
            v.reason
        );
        s.cluster.outcome = Err(ApiError::AuthenticationFailed("HTTP 401 for user x".into()));
        let v = verdict(&s, &RabbitmqConfig::default(), now);
        assert!(v.reason.contains("authentication failed"), "{}", v.reason);
        let v = verdict(
            &s,
            &RabbitmqConfig::default(),
            now + Duration::from_secs(31),
        );
        assert!(matches!(v.rule, Reason::Stale { .. }));
        let v = verdict(&RabbitSnapshot::initial(), &RabbitmqConfig::default(), now);
        assert_eq!(v.rule, Reason::NeverPolled);
    }

    #[test]
    fn policies_present_matching_effective() {
        let s = state();
        let expected = vec![ExpectedPolicy::ha_all()];
        let checks = check_policies(&expected, &s.policies, true);
        assert!(checks[0].present && checks[0].matching && checks[0].effective);
        let checks = check_policies(&expected, &[], true);
        assert!(!checks[0].present && !checks[0].matching);
        let mut wrong = s.policies.clone();
        wrong[0].pattern = "^notify".into();
        wrong[0].definition = serde_json::json!({"ha-mode": "exactly", "ha-params": 2});
        let checks = check_policies(&expected, &wrong, true);
        assert!(checks[0].present && !checks[0].matching);
        let problem = checks[0].problem.clone().unwrap_or_default();
        assert!(
            problem.contains("pattern") && problem.contains("definition"),
            "{problem}"
        );
    }

    /// RabbitMQ 4.x (from the documented 4.x API; 4.x cannot run in this sandbox): the policy
    /// is still listed, exactly as written, but `ha-mode` does nothing.
    #[test]
    fn on_4x_ha_all_is_present_but_ineffective() {
        let mut s = state();
        s.overview.rabbitmq_version = "4.0.5".into();
        assert!(!s.mirroring_supported());
        let checks = check_policies(
            &[ExpectedPolicy::ha_all()],
            &s.policies,
            s.mirroring_supported(),
        );
        assert!(checks[0].present && checks[0].matching && !checks[0].effective);
        assert!(checks[0].problem.as_deref().unwrap_or("").contains("4.x"));
    }
}
