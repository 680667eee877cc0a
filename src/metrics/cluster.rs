//! Peer and cluster-view series (`[peers]`), rendered from the peers' latest round and the
//! cluster view decided in [`crate::health::cluster`]. Documented in docs/metrics.md.

use super::Exposition;
use crate::collectors::peers::PeersSnapshot;
use crate::health::cluster::ClusterView;

pub fn render(e: &mut Exposition, snapshot: &PeersSnapshot, view: &ClusterView) {
    e.collector("peers", &snapshot.stats);
    for node in view.nodes.iter().filter(|n| !n.is_self) {
        let peer = node.url.as_deref().unwrap_or(&node.name);
        e.flag(
            "peer_up",
            "Whether the peer's daemon answered its /status in the last round (1) or not (0).",
            &[("peer", peer)],
            node.reachable,
        );
    }
    for answer in snapshot.latest.iter().flat_map(|r| r.answers.iter()) {
        e.gauge(
            "peer_last_success_timestamp_seconds",
            "Unix time of the peer's last answer (0: never).",
            &[("peer", &answer.url)],
            answer
                .last_success_wall
                .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
        );
    }
    e.flag(
        "cluster_views_agree",
        "1 when every node in the Primary component (this one and the peers that answered) \
         reports the same cluster state UUID, conf_id and size; 0 when two Primary views exist \
         (split brain, or for seconds a node resumed after a hang).",
        &[],
        view.views_agree,
    );
    e.gauge(
        "cluster_primary_views",
        "Distinct Primary views among the nodes that answered (1 when they agree).",
        &[],
        view.views.len() as f64,
    );
    e.gauge(
        "cluster_stale_nodes",
        "Nodes that claim to be Primary while a Primary node of the same cluster with a newer \
         view does not list them.",
        &[],
        view.stale_nodes.len() as f64,
    );
    e.gauge(
        "cluster_nodes_reporting",
        "Nodes whose Galera report this daemon has: itself and the peers that answered.",
        &[],
        view.nodes.iter().filter(|n| n.reachable).count() as f64,
    );
    e.gauge(
        "cluster_writer_claims",
        "Nodes whose daemon claims the writer role (more than 1 is a conflict).",
        &[],
        view.writer_claims.len() as f64,
    );
    if let Some(writer) = &view.writer {
        e.gauge(
            "cluster_writer_info",
            "The node that claims the writer role, when exactly one does; always 1.",
            &[("node", writer)],
            1.0,
        );
    }
}
