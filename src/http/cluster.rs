//! The /cluster document: every node (this one and each peer) with its Galera verdict as its own
//! daemon reports it, whether the Primary views agree, which node is stale, the writer, and the
//! peers that did not answer. Decided in [`crate::health::cluster`]; this module only reads the
//! latest snapshots (no request waits on a peer) and serialises. /ui renders the same document.

use std::time::Instant;

use serde_json::{json, Value};

use super::AppState;
use crate::health::cluster::{self, StaleView};

pub fn document(state: &AppState, now: Instant) -> Value {
    let max_staleness = state.config.peers.max_staleness();
    let galera = state.galera.as_ref().map(|w| w.borrow().clone());
    let writer = state.writer.as_ref().map(|w| w.borrow().clone());
    let local = galera.as_deref().map(|snapshot| {
        let verdict = state.galera_verdict(snapshot, now);
        let claim = writer.as_deref().map(|writer| {
            let writer_verdict = super::check::writer_verdict(state, writer, snapshot, now);
            crate::health::writer::claim(writer, &writer_verdict)
        });
        cluster::local_report(snapshot, verdict.healthy, &verdict.reason, claim, now)
    });
    let peers = state.peers.as_ref().map(|w| w.borrow().clone());
    let view = cluster::view(local.as_ref(), peers.as_deref(), max_staleness, now);
    let mut body = json!({
        "node_name": state.config.node_name,
        "peers_configured": state.config.peers.urls.len(),
    });
    if let (Value::Object(body), Value::Object(view)) = (&mut body, json!(view)) {
        body.extend(view);
    }
    // What the peers' member lists say about this node (the stale-view rule's input).
    let evidence = match (local.as_ref(), peers.as_deref()) {
        (Some(local), Some(peers)) => cluster::stale_view(
            peers,
            local.node_uuid.as_deref().unwrap_or(""),
            local.cluster_state_uuid.as_deref().unwrap_or(""),
            max_staleness,
            now,
        ),
        _ => StaleView::Unknown,
    };
    body["this_node_in_peers_view"] = match evidence {
        StaleView::Excluded { by } => json!({"listed": false, "excluded_by": by}),
        StaleView::Listed { conf_id, .. } => json!({"listed": true, "conf_id": conf_id}),
        StaleView::Unknown => json!({"listed": null}),
    };
    body
}
