//! A peer's /status document, reduced to what the cluster view needs.
//!
//! The document is outside input (another daemon, possibly another version of this one, or
//! something else answering at that URL), so it is read field by field from a JSON value, every
//! field optional and of a checked type, every string cut to a bounded length and the member list
//! to a bounded size: a field that is missing or of another type is absent here, never an error,
//! and a body that is not a JSON object is a typed error, never a panic.

use serde::Serialize;
use serde_json::Value;

/// Longer strings are cut: a reason is one line, a UUID 36 characters, a name a host name.
const MAX_TEXT: usize = 512;

/// No real Galera cluster has more members than this; a longer list is cut.
pub const MAX_MEMBERS: usize = 64;

/// What a peer's daemon reports about itself and its Galera node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerStatus {
    /// The daemon's `node_name` (its Pacemaker name), when it has one configured.
    pub node_name: Option<String>,
    pub version: Option<String>,
    /// `None`: the peer does not watch Galera (its section is off).
    pub galera: Option<PeerGalera>,
}

/// The peer's Galera section: its verdict as its own daemon decides it, and its view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerGalera {
    pub healthy: bool,
    pub reason: String,
    /// How old the peer's own Galera snapshot was when it answered.
    pub snapshot_age_seconds: Option<f64>,
    /// wsrep_local_state_comment (Synced, Donor/Desynced, ...).
    pub state: Option<String>,
    /// wsrep_cluster_status as the peer prints it (Primary, non-Primary, ...).
    pub cluster_status: Option<String>,
    /// Galera's name for the node (wsrep_node_name).
    pub galera_node_name: Option<String>,
    /// The node's group identity (wsrep_gcomm_uuid).
    pub node_uuid: Option<String>,
    pub cluster_state_uuid: Option<String>,
    /// wsrep_cluster_conf_id; u64::MAX stands for -1 (outside a Primary component).
    pub conf_id: Option<u64>,
    pub cluster_size: Option<u64>,
    /// mysql.wsrep_cluster_members as the peer read it; `None` when it cannot read it.
    pub members: Option<Vec<PeerMember>>,
    /// The peer marks its member list stale outside the Primary component.
    pub members_stale: bool,
    /// wsrep_last_committed, or, while its mysqld is down, the seqno in its grastate.dat.
    pub last_committed: Option<i64>,
    /// The peer's writer claim (`galera.writer`), when its daemon publishes one.
    pub writer: Option<WriterClaim>,
}

impl PeerGalera {
    /// In the Primary component, by its own account.
    pub fn primary(&self) -> bool {
        self.cluster_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("primary"))
    }

    /// Whether its member list names `uuid`; `None` when it has no current list.
    pub fn lists(&self, uuid: &str) -> Option<bool> {
        match (&self.members, self.members_stale) {
            (Some(members), false) => Some(members.iter().any(|m| m.uuid == uuid)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerMember {
    pub name: String,
    pub uuid: String,
}

/// What a daemon says about the writer role (docs/writer.md): whether it answers /writer with
/// 200 now (`claimed`), and whom it believes holds the lease (`holder`). Read from
/// the top-level `writer` object of `[writer]` (`is_writer`, `holder`), else `galera.writer`: an
/// object with a boolean `claimed` (or `writer`/`holding`) and a string `holder`, or a bare
/// boolean.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WriterClaim {
    pub claimed: bool,
    pub holder: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusDocError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a clustercheckd /status document (no JSON object)")]
    NotAnObject,
}

/// Read a peer's /status body.
pub fn parse(body: &[u8]) -> Result<PeerStatus, StatusDocError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| StatusDocError::NotJson(cut(&e.to_string())))?;
    let Value::Object(_) = &value else {
        return Err(StatusDocError::NotAnObject);
    };
    Ok(PeerStatus {
        node_name: text(&value, "/node_name"),
        version: text(&value, "/version"),
        galera: value
            .get("galera")
            .filter(|g| g.is_object())
            .map(galera)
            .map(|mut g| {
                // The writer lease's own object (`[writer]`, docs/writer.md) is top-level;
                // `galera.writer` is the older place.
                if let Some(claim) = value.get("writer").and_then(writer) {
                    g.writer = Some(claim);
                }
                g
            }),
    })
}

fn galera(g: &Value) -> PeerGalera {
    let members = g
        .pointer("/members/nodes")
        .and_then(Value::as_array)
        .map(|nodes| {
            nodes
                .iter()
                .take(MAX_MEMBERS)
                .filter_map(|m| {
                    Some(PeerMember {
                        name: text(m, "/name").unwrap_or_default(),
                        uuid: text(m, "/uuid")?,
                    })
                })
                .collect()
        });
    let last_committed = g
        .pointer("/wsrep/last_committed")
        .and_then(Value::as_i64)
        .or_else(|| {
            g.pointer("/state_files/grastate/seqno")
                .and_then(Value::as_i64)
        });
    PeerGalera {
        healthy: g.get("healthy").and_then(Value::as_bool).unwrap_or(false),
        reason: text(g, "/reason").unwrap_or_default(),
        snapshot_age_seconds: g
            .get("snapshot_age_seconds")
            .and_then(Value::as_f64)
            .filter(|a| a.is_finite() && *a >= 0.0),
        state: text(g, "/state"),
        cluster_status: text(g, "/cluster_status"),
        galera_node_name: text(g, "/node_name"),
        node_uuid: text(g, "/wsrep/gcomm_uuid").filter(|u| !u.is_empty()),
        cluster_state_uuid: text(g, "/wsrep/cluster_state_uuid").filter(|u| !u.is_empty()),
        conf_id: g.pointer("/wsrep/cluster_conf_id").and_then(Value::as_u64),
        cluster_size: g
            .get("cluster_size")
            .and_then(Value::as_u64)
            .or_else(|| g.pointer("/wsrep/cluster_size").and_then(Value::as_u64)),
        members,
        members_stale: g
            .pointer("/members/stale")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        last_committed,
        writer: g.get("writer").and_then(writer),
    }
}

fn writer(w: &Value) -> Option<WriterClaim> {
    match w {
        Value::Bool(claimed) => Some(WriterClaim {
            claimed: *claimed,
            holder: None,
        }),
        Value::Object(_) => {
            let claimed = ["/is_writer", "/claimed", "/writer", "/holding"]
                .iter()
                .find_map(|p| w.pointer(p).and_then(Value::as_bool))
                .unwrap_or(false);
            Some(WriterClaim {
                claimed,
                holder: text(w, "/holder"),
            })
        }
        _ => None,
    }
}

/// A string field, cut to [`MAX_TEXT`] characters and to its first line.
fn text(value: &Value, pointer: &str) -> Option<String> {
    value.pointer(pointer).and_then(Value::as_str).map(cut)
}

fn cut(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(MAX_TEXT)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shape this daemon's /status has (http::status), trimmed to what is read.
    fn document() -> Value {
        json!({
            "node_name": "controller02",
            "version": "0.1.0",
            "galera": {
                "healthy": true,
                "reason": "Galera cluster node is synced.",
                "snapshot_age_seconds": 0.4,
                "state": "Synced",
                "cluster_status": "Primary",
                "cluster_size": 3,
                "node_name": "node2",
                "wsrep": {
                    "gcomm_uuid": "b2", "cluster_state_uuid": "c1",
                    "cluster_conf_id": 7, "last_committed": 1234
                },
                "members": {"nodes": [
                    {"name": "node1", "address": "10.0.0.11:3306", "uuid": "b1"},
                    {"name": "node2", "address": "10.0.0.12:3306", "uuid": "b2"}
                ], "stale": false},
                "writer": {"claimed": true, "holder": "node2"}
            }
        })
    }

    #[test]
    fn the_writer_lease_object_at_the_top_level_is_the_claim() {
        let mut doc = document();
        doc["writer"] = serde_json::json!({"is_writer": false, "holder": "node1"});
        let status = parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(
            status.galera.unwrap().writer,
            Some(WriterClaim {
                claimed: false,
                holder: Some("node1".to_owned())
            })
        );
    }

    #[test]
    fn reads_this_daemons_status_document() {
        let body = serde_json::to_vec(&document()).unwrap();
        let status = parse(&body).unwrap();
        assert_eq!(status.node_name.as_deref(), Some("controller02"));
        let g = status.galera.unwrap();
        assert!(g.healthy && g.primary());
        assert_eq!(g.node_uuid.as_deref(), Some("b2"));
        assert_eq!(g.conf_id, Some(7));
        assert_eq!(g.cluster_size, Some(3));
        assert_eq!(g.last_committed, Some(1234));
        assert_eq!(g.lists("b1"), Some(true));
        assert_eq!(g.lists("b3"), Some(false));
        assert_eq!(
            g.writer,
            Some(WriterClaim {
                claimed: true,
                holder: Some("node2".into())
            })
        );
    }

    #[test]
    fn a_stale_or_missing_member_list_is_no_evidence() {
        let mut doc = document();
        doc["galera"]["members"]["stale"] = json!(true);
        let g = parse(&serde_json::to_vec(&doc).unwrap())
            .unwrap()
            .galera
            .unwrap();
        assert_eq!(g.lists("b1"), None);
        doc["galera"]["members"] = Value::Null;
        let g = parse(&serde_json::to_vec(&doc).unwrap())
            .unwrap()
            .galera
            .unwrap();
        assert_eq!(g.lists("b1"), None);
    }

    #[test]
    fn garbage_is_a_typed_error_or_absent_fields_never_a_panic() {
        for body in [
            &b""[..],
            b"<html>",
            b"\xff\xfe",
            b"{\"galera\": ",
            b"[1,2]",
            b"42",
        ] {
            assert!(parse(body).is_err(), "{body:?}");
        }
        // Wrong types everywhere: every field absent, no error.
        let odd = json!({"node_name": 7, "galera": {"healthy": "yes", "reason": ["x"],
            "snapshot_age_seconds": -3, "wsrep": {"cluster_conf_id": "7"},
            "members": {"nodes": [{"uuid": 1}, "x", null]}, "writer": "me"}});
        let g = parse(&serde_json::to_vec(&odd).unwrap())
            .unwrap()
            .galera
            .unwrap();
        assert!(!g.healthy);
        assert_eq!(g.reason, "");
        assert_eq!(g.conf_id, None);
        assert_eq!(g.snapshot_age_seconds, None);
        assert_eq!(g.members, Some(vec![]));
        assert_eq!(g.writer, None);
        // No galera section: a peer that does not watch Galera.
        assert_eq!(parse(b"{\"node_name\": \"x\"}").unwrap().galera, None);
    }

    #[test]
    fn long_text_and_long_lists_are_cut() {
        let mut doc = document();
        doc["galera"]["reason"] = json!(format!("{}\nsecond line", "r".repeat(5000)));
        let nodes: Vec<Value> = (0..1000)
            .map(|i| json!({"name": format!("n{i}"), "uuid": format!("u{i}")}))
            .collect();
        doc["galera"]["members"]["nodes"] = Value::Array(nodes);
        let g = parse(&serde_json::to_vec(&doc).unwrap())
            .unwrap()
            .galera
            .unwrap();
        assert_eq!(g.reason.len(), MAX_TEXT);
        assert_eq!(g.members.unwrap().len(), MAX_MEMBERS);
    }
}
