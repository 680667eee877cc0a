//! The cluster as every node's daemon sees it: do the views agree, which node is stale, who is
//! the writer, and what the peers' member lists say about this node. Pure functions of the
//! snapshots (the caller passes `now`); /cluster, the cluster metrics and the Galera check's
//! stale-view rule all ask here, so they never disagree.
//!
//! **Views agree** when every node in the Primary component by its own account (this node and
//! every reachable peer) reports the same cluster state UUID, conf_id and size. Two Primary
//! views at once is the split-brain signal; for a few seconds it is also what a node resumed
//! after a hang looks like (it still claims its old view), which is why alerts wait.
//!
//! **Stale** is exact, not a guess: a Primary node whose cluster state UUID is shared by a
//! Primary node with a newer conf_id that does not list it among its members (by its group UUID,
//! wsrep_gcomm_uuid = mysql.wsrep_cluster_members.node_uuid) has been left behind.
//!
//! **This node's evidence** ([`stale_view`]): in one round of peer answers, the *witnesses* are
//! the reachable peers that are Primary, have a current member list and share this node's
//! cluster state UUID. When there is at least one and they agree with each other (same conf_id
//! and size), they either all list this node (`Listed`) or none does (`Excluded`); anything else
//! (no witness, witnesses that disagree, some listing it and some not) is no evidence either way.
//! Excluded in the last two rounds is a stale view; Listed in the last round is a current one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::collectors::galera::status::ClusterStatus;
use crate::collectors::galera::GaleraSnapshot;
use crate::collectors::peers::{PeerGalera, PeerMember, PeersSnapshot, Round, WriterClaim};

/// What one round of peer answers says about the node with group UUID `uuid`.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// Every witness lists it, in view `conf_id`; the earliest moment any of them can have
    /// observed that is `observed_at` (`None` when a peer did not say how old its answer was).
    Listed {
        conf_id: u64,
        observed_at: Option<Instant>,
    },
    /// No witness lists it; `by` names them.
    Excluded { by: Vec<String> },
    /// No witness, or witnesses that disagree: nothing to conclude.
    None,
}

/// The peers' verdict on this node's view, from the last two rounds.
#[derive(Debug, Clone, PartialEq)]
pub enum StaleView {
    /// Excluded in both of the last two rounds: the peers have moved on without this node.
    Excluded { by: Vec<String> },
    /// Listed in the last round.
    Listed {
        conf_id: u64,
        observed_at: Option<Instant>,
    },
    /// No usable evidence (no peers, no answers, rounds too old, or witnesses that disagree):
    /// the checks fall back to what the node itself says (and the post-outage hold).
    Unknown,
}

/// The witnesses of one round for a node in cluster `cluster_uuid`: reachable, Primary, with a
/// current member list, in the same cluster. With their display names and when they observed.
fn witnesses<'a>(round: &'a Round, cluster_uuid: &str) -> Vec<Witness<'a>> {
    round
        .answers
        .iter()
        .filter_map(|a| {
            let g = a.galera()?;
            let same_cluster = g.cluster_state_uuid.as_deref() == Some(cluster_uuid);
            let current = g.members.is_some() && !g.members_stale;
            (g.primary() && same_cluster && current).then(|| Witness {
                name: peer_name(g, &a.url),
                galera: g,
                observed_at: a.observed_at,
            })
        })
        .collect()
}

struct Witness<'a> {
    name: String,
    galera: &'a PeerGalera,
    observed_at: Option<Instant>,
}

/// What one round says about the node `uuid` of cluster `cluster_uuid`.
pub fn evidence(round: &Round, uuid: &str, cluster_uuid: &str) -> Evidence {
    if uuid.is_empty() || cluster_uuid.is_empty() {
        return Evidence::None;
    }
    let witnesses = witnesses(round, cluster_uuid);
    let Some(first) = witnesses.first() else {
        return Evidence::None;
    };
    let agree = witnesses.iter().all(|w| {
        w.galera.conf_id == first.galera.conf_id
            && w.galera.cluster_size == first.galera.cluster_size
    });
    let Some(conf_id) = first.galera.conf_id.filter(|_| agree) else {
        return Evidence::None;
    };
    let listing: Vec<bool> = witnesses
        .iter()
        .map(|w| w.galera.lists(uuid) == Some(true))
        .collect();
    if listing.iter().all(|l| *l) {
        // The earliest of their observations; unknown when any of them did not say.
        let observed_at = witnesses
            .iter()
            .map(|w| w.observed_at)
            .collect::<Option<Vec<Instant>>>()
            .and_then(|all| all.into_iter().min());
        Evidence::Listed {
            conf_id,
            observed_at,
        }
    } else if listing.iter().all(|l| !*l) {
        Evidence::Excluded {
            by: witnesses.into_iter().map(|w| w.name).collect(),
        }
    } else {
        Evidence::None
    }
}

/// The stale-view rule for the node `uuid` of cluster `cluster_uuid`, from the latest peer
/// snapshot. Rounds older than `max_staleness` are no evidence.
pub fn stale_view(
    peers: &PeersSnapshot,
    uuid: &str,
    cluster_uuid: &str,
    max_staleness: Duration,
    now: Instant,
) -> StaleView {
    let fresh = |round: &Option<std::sync::Arc<Round>>| {
        round
            .as_ref()
            .filter(|r| now.saturating_duration_since(r.finished) <= max_staleness)
            .map(|r| evidence(r, uuid, cluster_uuid))
    };
    // The previous round may be up to one interval older than the latest: allow for it.
    let previous = peers
        .previous
        .as_ref()
        .filter(|r| now.saturating_duration_since(r.finished) <= max_staleness * 2)
        .map(|r| evidence(r, uuid, cluster_uuid));
    match (fresh(&peers.latest), previous) {
        (Some(Evidence::Excluded { by }), Some(Evidence::Excluded { .. })) => {
            StaleView::Excluded { by }
        }
        (
            Some(Evidence::Listed {
                conf_id,
                observed_at,
            }),
            _,
        ) => StaleView::Listed {
            conf_id,
            observed_at,
        },
        _ => StaleView::Unknown,
    }
}

/// A peer's name for people: Galera's name for it, else its daemon's node name, else its URL.
pub fn peer_name(g: &PeerGalera, url: &str) -> String {
    g.galera_node_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| url.to_owned())
}

/// This node's own report, in the shape a peer's is read in, from its snapshot and verdict.
pub fn local_report(
    snapshot: &GaleraSnapshot,
    healthy: bool,
    reason: &str,
    writer: Option<WriterClaim>,
    now: Instant,
) -> PeerGalera {
    let polled = snapshot.outcome.as_ref().ok();
    let status = polled.map(|p| &p.status);
    let members = polled.and_then(|p| p.members.as_ref());
    PeerGalera {
        healthy,
        reason: reason.to_owned(),
        snapshot_age_seconds: snapshot
            .taken_at
            .map(|t| now.saturating_duration_since(t).as_secs_f64()),
        state: status.map(|s| s.local_state_comment.clone()),
        cluster_status: status.map(|s| s.cluster_status.to_string()),
        galera_node_name: status
            .map(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        node_uuid: status
            .map(|s| s.gcomm_uuid.clone())
            .filter(|u| !u.is_empty()),
        cluster_state_uuid: status
            .map(|s| s.cluster_state_uuid.clone())
            .filter(|u| !u.is_empty()),
        conf_id: status.map(|s| s.cluster_conf_id),
        cluster_size: status.and_then(|s| s.cluster_size),
        members: members.map(|m| {
            m.nodes
                .iter()
                .map(|n| PeerMember {
                    name: n.name.clone(),
                    uuid: n.uuid.clone(),
                })
                .collect()
        }),
        members_stale: members.is_some_and(|m| m.stale)
            || status.is_some_and(|s| s.cluster_status != ClusterStatus::Primary),
        last_committed: status.and_then(|s| s.last_committed).or_else(|| {
            let files = snapshot.state_files.as_deref()?;
            files.grastate.as_ref().ok().map(|g| g.seqno)
        }),
        writer,
    }
}

/// One node in /cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    pub name: String,
    /// This daemon's own node.
    #[serde(rename = "self")]
    pub is_self: bool,
    /// The peer URL (`None` for this node).
    pub url: Option<String>,
    pub reachable: bool,
    /// Why the peer gave no usable answer (one line).
    pub error: Option<String>,
    /// The node's Galera verdict, as its own daemon decides it.
    pub healthy: Option<bool>,
    pub reason: Option<String>,
    pub state: Option<String>,
    pub cluster_status: Option<String>,
    pub node_uuid: Option<String>,
    pub cluster_state_uuid: Option<String>,
    /// -1 outside a Primary component.
    pub conf_id: Option<i64>,
    pub cluster_size: Option<u64>,
    /// The names in its member list (`None`: it cannot read it, or it is stale).
    pub members: Option<Vec<String>>,
    pub last_committed: Option<i64>,
    pub writer: Option<WriterClaim>,
    /// Left behind by the Primary component (module header).
    pub stale: bool,
    /// Seconds since its daemon's answer was taken (this node: its own snapshot's age).
    pub age_seconds: Option<f64>,
}

/// What makes two Primary views the same: cluster state UUID, conf_id, size.
type ViewKey = (Option<String>, Option<u64>, Option<u64>);

/// One Primary view and the nodes that hold it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewGroup {
    pub cluster_state_uuid: Option<String>,
    pub conf_id: Option<i64>,
    pub cluster_size: Option<u64>,
    pub nodes: Vec<String>,
}

/// The /cluster document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterView {
    pub nodes: Vec<NodeView>,
    /// At most one Primary view among the nodes that answered.
    pub views_agree: bool,
    /// Every distinct Primary view, largest first.
    pub views: Vec<ViewGroup>,
    pub stale_nodes: Vec<String>,
    /// The node that claims the writer role, when exactly one does.
    pub writer: Option<String>,
    /// Every node that claims it (more than one is a conflict).
    pub writer_claims: Vec<String>,
    pub unreachable_peers: Vec<String>,
    /// Seconds since the last peer round ended; `None` before the first (or without peers).
    pub peers_age_seconds: Option<f64>,
}

/// The whole cluster as this daemon sees it: its own node (when it watches Galera) and every
/// peer of the latest round. A round older than `max_staleness` counts every peer unreachable.
pub fn view(
    local: Option<&PeerGalera>,
    peers: Option<&PeersSnapshot>,
    max_staleness: Duration,
    now: Instant,
) -> ClusterView {
    let mut nodes = Vec::new();
    let mut reports: Vec<Option<&PeerGalera>> = Vec::new();
    if let Some(g) = local {
        nodes.push(node(g, None, true, None, g.snapshot_age_seconds));
        reports.push(Some(g));
    }
    let round = peers.and_then(|p| p.latest.as_deref());
    let fresh = round.filter(|r| now.saturating_duration_since(r.finished) <= max_staleness);
    let mut unreachable_peers = Vec::new();
    for answer in round.map(|r| r.answers.as_slice()).unwrap_or_default() {
        let error = match (&answer.outcome, fresh.is_some()) {
            (_, false) => Some("no peer round within the last 3 intervals".to_owned()),
            (Err(e), true) => Some(e.to_string()),
            (Ok(s), true) if s.galera.is_none() => Some("the peer does not watch Galera".into()),
            (Ok(_), true) => None,
        };
        let age = now.saturating_duration_since(answer.sent).as_secs_f64();
        match (answer.galera(), &error) {
            (Some(g), None) => {
                let age = g.snapshot_age_seconds.map(|a| a + age);
                nodes.push(node(g, Some(&answer.url), false, None, age));
                reports.push(Some(g));
            }
            _ => {
                unreachable_peers.push(answer.url.clone());
                nodes.push(NodeView {
                    name: answer.url.clone(),
                    is_self: false,
                    url: Some(answer.url.clone()),
                    reachable: false,
                    error,
                    healthy: None,
                    reason: None,
                    state: None,
                    cluster_status: None,
                    node_uuid: None,
                    cluster_state_uuid: None,
                    conf_id: None,
                    cluster_size: None,
                    members: None,
                    last_committed: None,
                    writer: None,
                    stale: false,
                    age_seconds: None,
                });
                reports.push(None);
            }
        }
    }
    // The Primary views, grouped.
    let mut groups: BTreeMap<ViewKey, Vec<String>> = BTreeMap::new();
    for (n, r) in nodes.iter().zip(&reports) {
        if let Some(g) = r.filter(|g| g.primary()) {
            groups
                .entry((g.cluster_state_uuid.clone(), g.conf_id, g.cluster_size))
                .or_default()
                .push(n.name.clone());
        }
    }
    let mut views: Vec<ViewGroup> = groups
        .into_iter()
        .map(|((uuid, conf_id, size), nodes)| ViewGroup {
            cluster_state_uuid: uuid,
            conf_id: conf_id.map(signed),
            cluster_size: size,
            nodes,
        })
        .collect();
    views.sort_by_key(|v| std::cmp::Reverse(v.nodes.len()));
    // Stale: a Primary node left behind by a Primary node of the same cluster with a newer view.
    for i in 0..nodes.len() {
        let Some(g) = reports[i].filter(|g| g.primary()) else {
            continue;
        };
        nodes[i].stale = reports.iter().flatten().any(|other| {
            other.primary()
                && other.cluster_state_uuid == g.cluster_state_uuid
                && other.conf_id > g.conf_id
                && other.conf_id != Some(u64::MAX)
                && match (
                    &g.node_uuid,
                    other.lists(g.node_uuid.as_deref().unwrap_or("")),
                ) {
                    (Some(_), Some(listed)) => !listed,
                    _ => true,
                }
        });
    }
    let writer_claims: Vec<String> = nodes
        .iter()
        .filter(|n| n.writer.as_ref().is_some_and(|w| w.claimed))
        .map(|n| n.name.clone())
        .collect();
    ClusterView {
        views_agree: views.len() <= 1,
        views,
        stale_nodes: nodes
            .iter()
            .filter(|n| n.stale)
            .map(|n| n.name.clone())
            .collect(),
        writer: match writer_claims.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        writer_claims,
        unreachable_peers,
        peers_age_seconds: peers
            .and_then(|p| p.taken_at)
            .map(|t| now.saturating_duration_since(t).as_secs_f64()),
        nodes,
    }
}

fn node(
    g: &PeerGalera,
    url: Option<&str>,
    is_self: bool,
    error: Option<String>,
    age_seconds: Option<f64>,
) -> NodeView {
    NodeView {
        name: match url {
            Some(url) => peer_name(g, url),
            None => g
                .galera_node_name
                .clone()
                .unwrap_or_else(|| "this node".into()),
        },
        is_self,
        url: url.map(str::to_owned),
        reachable: true,
        error,
        healthy: Some(g.healthy),
        reason: Some(g.reason.clone()),
        state: g.state.clone(),
        cluster_status: g.cluster_status.clone(),
        node_uuid: g.node_uuid.clone(),
        cluster_state_uuid: g.cluster_state_uuid.clone(),
        conf_id: g.conf_id.map(signed),
        cluster_size: g.cluster_size,
        members: g
            .members
            .as_ref()
            .filter(|_| !g.members_stale)
            .map(|m| m.iter().map(|m| m.name.clone()).collect()),
        last_committed: g.last_committed,
        writer: g.writer.clone(),
        stale: false,
        age_seconds,
    }
}

/// Galera's -1 (printed unsigned) as -1.
fn signed(conf_id: u64) -> i64 {
    i64::try_from(conf_id).unwrap_or(-1)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::collectors::peers::{PeerAnswer, PeerError, PeerStatus};
    use std::sync::Arc;

    pub const CLUSTER: &str = "c0ffee00-0000-0000-0000-000000000000";

    /// A Primary node `name` with group UUID `u-NAME`, in view `conf_id`, listing `members`.
    pub fn report(name: &str, conf_id: u64, members: &[&str]) -> PeerGalera {
        PeerGalera {
            healthy: true,
            reason: "Galera cluster node is synced.".into(),
            snapshot_age_seconds: Some(0.5),
            state: Some("Synced".into()),
            cluster_status: Some("Primary".into()),
            galera_node_name: Some(name.into()),
            node_uuid: Some(format!("u-{name}")),
            cluster_state_uuid: Some(CLUSTER.into()),
            conf_id: Some(conf_id),
            cluster_size: Some(members.len() as u64),
            members: Some(
                members
                    .iter()
                    .map(|m| PeerMember {
                        name: (*m).into(),
                        uuid: format!("u-{m}"),
                    })
                    .collect(),
            ),
            members_stale: false,
            last_committed: Some(100),
            writer: None,
        }
    }

    pub fn answer(url: &str, at: Instant, outcome: Result<PeerGalera, PeerError>) -> PeerAnswer {
        PeerAnswer {
            url: url.into(),
            outcome: outcome.map(|g| PeerStatus {
                node_name: None,
                version: None,
                galera: Some(g),
            }),
            sent: at,
            observed_at: Some(at),
            duration: Duration::from_millis(2),
            consecutive_failures: 0,
            last_success_wall: None,
        }
    }

    pub fn round(at: Instant, answers: Vec<PeerAnswer>) -> Arc<Round> {
        Arc::new(Round {
            started: at,
            finished: at,
            answers,
        })
    }

    /// The two peers node1 and node2, both in view `conf_id` listing `members`.
    pub fn peers_round(at: Instant, conf_id: u64, members: &[&str]) -> Arc<Round> {
        round(
            at,
            vec![
                answer(
                    "http://n1/status",
                    at,
                    Ok(report("node1", conf_id, members)),
                ),
                answer(
                    "http://n2/status",
                    at,
                    Ok(report("node2", conf_id, members)),
                ),
            ],
        )
    }

    pub fn snapshot(latest: Arc<Round>, previous: Option<Arc<Round>>) -> PeersSnapshot {
        PeersSnapshot {
            taken_at: Some(latest.finished),
            latest: Some(latest),
            previous,
            stats: Default::default(),
        }
    }

    const MAX: Duration = Duration::from_secs(6);

    #[test]
    fn excluded_twice_is_stale_once_is_not() {
        let t = Instant::now();
        let out = peers_round(t, 5, &["node1", "node2"]);
        let two = snapshot(out.clone(), Some(out.clone()));
        assert_eq!(
            stale_view(&two, "u-node3", CLUSTER, MAX, t),
            StaleView::Excluded {
                by: vec!["node1".into(), "node2".into()]
            }
        );
        let listed = peers_round(t, 4, &["node1", "node2", "node3"]);
        let once = snapshot(out, Some(listed.clone()));
        assert_eq!(
            stale_view(&once, "u-node3", CLUSTER, MAX, t),
            StaleView::Unknown
        );
        // Listed again: current at once, whatever the round before said.
        let back = snapshot(listed, Some(peers_round(t, 5, &["node1", "node2"])));
        assert!(matches!(
            stale_view(&back, "u-node3", CLUSTER, MAX, t),
            StaleView::Listed { conf_id: 4, .. }
        ));
    }

    #[test]
    fn no_witness_or_disagreeing_witnesses_are_no_evidence() {
        let t = Instant::now();
        let cases: Vec<(&str, Arc<Round>)> = vec![
            ("no peers", round(t, vec![])),
            (
                "unreachable",
                round(
                    t,
                    vec![answer("http://n1/status", t, Err(PeerError::Status(503)))],
                ),
            ),
            ("non-Primary", {
                let mut g = report("node1", u64::MAX, &["node1"]);
                g.cluster_status = Some("non-Primary".into());
                round(t, vec![answer("http://n1/status", t, Ok(g))])
            }),
            ("stale member list", {
                let mut g = report("node1", 5, &["node1", "node2"]);
                g.members_stale = true;
                round(t, vec![answer("http://n1/status", t, Ok(g))])
            }),
            ("no member list (no SELECT grant)", {
                let mut g = report("node1", 5, &["node1", "node2"]);
                g.members = None;
                round(t, vec![answer("http://n1/status", t, Ok(g))])
            }),
            ("another cluster", {
                let mut g = report("node1", 5, &["node1", "node2"]);
                g.cluster_state_uuid = Some("another".into());
                round(t, vec![answer("http://n1/status", t, Ok(g))])
            }),
            (
                "witnesses disagree",
                round(
                    t,
                    vec![
                        answer(
                            "http://n1/status",
                            t,
                            Ok(report("node1", 5, &["node1", "node2"])),
                        ),
                        answer(
                            "http://n2/status",
                            t,
                            Ok(report("node2", 6, &["node1", "node2"])),
                        ),
                    ],
                ),
            ),
            (
                "one lists it, one does not",
                round(
                    t,
                    vec![
                        answer(
                            "http://n1/status",
                            t,
                            Ok(report("node1", 5, &["node1", "node3"])),
                        ),
                        answer(
                            "http://n2/status",
                            t,
                            Ok(report("node2", 5, &["node1", "node2"])),
                        ),
                    ],
                ),
            ),
        ];
        for (what, r) in cases {
            assert_eq!(evidence(&r, "u-node3", CLUSTER), Evidence::None, "{what}");
            let s = snapshot(r.clone(), Some(r));
            assert_eq!(
                stale_view(&s, "u-node3", CLUSTER, MAX, t),
                StaleView::Unknown,
                "{what}"
            );
        }
        // Unknown own identity: no evidence either.
        let r = peers_round(t, 5, &["node1", "node2"]);
        assert_eq!(evidence(&r, "", CLUSTER), Evidence::None);
    }

    #[test]
    fn one_unreachable_peer_leaves_the_other_as_witness() {
        let t = Instant::now();
        let r = round(
            t,
            vec![
                answer(
                    "http://n1/status",
                    t,
                    Err(PeerError::Timeout(Duration::from_secs(1))),
                ),
                answer(
                    "http://n2/status",
                    t,
                    Ok(report("node2", 5, &["node2", "node1"])),
                ),
            ],
        );
        assert_eq!(
            evidence(&r, "u-node3", CLUSTER),
            Evidence::Excluded {
                by: vec!["node2".into()]
            }
        );
    }

    #[test]
    fn old_rounds_are_no_evidence() {
        let t = Instant::now();
        let out = peers_round(t, 5, &["node1", "node2"]);
        let s = snapshot(out.clone(), Some(out));
        let later = t + MAX + Duration::from_millis(1);
        assert_eq!(
            stale_view(&s, "u-node3", CLUSTER, MAX, later),
            StaleView::Unknown
        );
    }

    #[test]
    fn views_agree_and_the_left_behind_node_is_stale() {
        let t = Instant::now();
        let all = ["node1", "node2", "node3"];
        let local = report("node3", 5, &all);
        let s = snapshot(peers_round(t, 5, &all), None);
        let v = view(Some(&local), Some(&s), MAX, t);
        assert!(v.views_agree, "{v:?}");
        assert_eq!(v.nodes.len(), 3);
        assert!(v.nodes[0].is_self && v.nodes[0].name == "node3");
        assert!(v.stale_nodes.is_empty() && v.unreachable_peers.is_empty());
        assert_eq!(v.views[0].nodes.len(), 3);

        // node3 resumed after a hang: it still claims view 5, the others moved to 6 without it.
        let s = snapshot(peers_round(t, 6, &["node1", "node2"]), None);
        let v = view(Some(&local), Some(&s), MAX, t);
        assert!(!v.views_agree);
        assert_eq!(v.stale_nodes, vec!["node3".to_owned()]);
        assert_eq!(
            v.views[0].nodes,
            vec!["node1".to_owned(), "node2".to_owned()]
        );
    }

    #[test]
    fn unreachable_peers_and_writer_claims() {
        let t = Instant::now();
        let mut local = report("node1", 5, &["node1", "node2"]);
        local.writer = Some(WriterClaim {
            claimed: true,
            holder: Some("node1".into()),
        });
        let s = snapshot(
            round(
                t,
                vec![
                    answer(
                        "http://n2/status",
                        t,
                        Ok(report("node2", 5, &["node1", "node2"])),
                    ),
                    answer(
                        "http://n3/status",
                        t,
                        Err(PeerError::Unreachable("connection refused".into())),
                    ),
                ],
            ),
            None,
        );
        let v = view(Some(&local), Some(&s), MAX, t);
        assert_eq!(v.unreachable_peers, vec!["http://n3/status".to_owned()]);
        assert_eq!(v.nodes[2].error.as_deref(), Some("connection refused"));
        assert!(v.views_agree);
        assert_eq!(v.writer.as_deref(), Some("node1"));
        // A round too old makes every peer unreachable, never a silent agreement.
        let v = view(Some(&local), Some(&s), MAX, t + MAX * 2);
        assert_eq!(v.unreachable_peers.len(), 2);
    }

    #[test]
    fn two_writer_claims_name_no_writer() {
        let t = Instant::now();
        let claim = Some(WriterClaim {
            claimed: true,
            holder: None,
        });
        let mut local = report("node1", 5, &["node1", "node2"]);
        local.writer = claim.clone();
        let mut other = report("node2", 5, &["node1", "node2"]);
        other.writer = claim;
        let s = snapshot(
            round(t, vec![answer("http://n2/status", t, Ok(other))]),
            None,
        );
        let v = view(Some(&local), Some(&s), MAX, t);
        assert_eq!(v.writer, None);
        assert_eq!(v.writer_claims.len(), 2);
    }
}
