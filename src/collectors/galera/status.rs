//! One poll's worth of wsrep status, parsed from the name/value rows the server returns.
//!
//! The server sends every value as text; this module is the one place that turns that text into
//! types, so the decisions and the metrics never parse. Names are matched case-insensitively
//! (information_schema returns them upper-case, SHOW STATUS lower-case).
//!
//! Only the fields the verdict (or the post-outage hold) reads may fail a poll: a server that
//! prints one of those in a form we do not understand is not one we can judge. Every other field
//! only feeds a metric; an unparsable value there drops that metric (`None`, listed in
//! [`GaleraStatus::dropped`] for the poller to log once) and never the poll: a server version
//! that prints a counter differently must not take a healthy node out of HAProxy.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error("{0} is missing from the server's status (is the Galera provider loaded?)")]
    Missing(&'static str),
    #[error("{name} has the unexpected value `{value}`")]
    Malformed { name: &'static str, value: String },
}

/// A metric-only field whose value could not be read; the metric is left out of this poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedField {
    pub name: &'static str,
    pub value: String,
}

/// wsrep_local_state: where this node is in Galera's node state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalState {
    /// 1: receiving a state transfer or catching up; not serving consistent data yet.
    Joining,
    /// 2: serving a state transfer to a joiner, or desynced on purpose (wsrep_desync=ON).
    DonorDesynced,
    /// 3: state received, applying the write-sets queued meanwhile.
    Joined,
    /// 4: in sync with the cluster: the only state in which a node is fully trustworthy.
    Synced,
    /// 0 or anything else (Initialized, Waiting for SST, ...).
    Other(u8),
}

impl LocalState {
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Joining,
            2 => Self::DonorDesynced,
            3 => Self::Joined,
            4 => Self::Synced,
            other => Self::Other(other),
        }
    }

    /// Stable label value for the state metric.
    pub fn label(self) -> &'static str {
        match self {
            Self::Joining => "joining",
            Self::DonorDesynced => "donor_desynced",
            Self::Joined => "joined",
            Self::Synced => "synced",
            Self::Other(_) => "other",
        }
    }

    pub const LABELS: [&'static str; 5] =
        ["joining", "donor_desynced", "joined", "synced", "other"];
}

/// wsrep_cluster_status: whether this node belongs to the component that holds quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterStatus {
    Primary,
    NonPrimary,
    Disconnected,
    Other(String),
}

impl ClusterStatus {
    fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "primary" => Self::Primary,
            "non-primary" => Self::NonPrimary,
            "disconnected" => Self::Disconnected,
            _ => Self::Other(text.to_owned()),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::NonPrimary => "non_primary",
            Self::Disconnected => "disconnected",
            Self::Other(_) => "other",
        }
    }

    pub const LABELS: [&'static str; 4] = ["primary", "non_primary", "disconnected", "other"];
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Primary => f.write_str("Primary"),
            Self::NonPrimary => f.write_str("non-Primary"),
            Self::Disconnected => f.write_str("Disconnected"),
            Self::Other(text) => f.write_str(text),
        }
    }
}

/// wsrep_reject_queries: an operator's switch to make a node refuse client queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectQueries {
    None,
    All,
    AllKill,
    Other(String),
}

impl RejectQueries {
    fn parse(text: &str) -> Self {
        match text.to_ascii_uppercase().as_str() {
            "NONE" | "" => Self::None,
            "ALL" => Self::All,
            "ALL_KILL" => Self::AllKill,
            _ => Self::Other(text.to_owned()),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::All => "all",
            Self::AllKill => "all_kill",
            Self::Other(_) => "other",
        }
    }

    pub const LABELS: [&'static str; 4] = ["none", "all", "all_kill", "other"];
}

/// Everything one poll learns about the local node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaleraStatus {
    pub local_state: LocalState,
    pub local_state_code: u8,
    pub local_state_comment: String,
    pub cluster_status: ClusterStatus,
    pub ready: bool,
    pub connected: bool,
    /// Metric-only fields are `None` when the server does not report them or reports something
    /// unreadable (see the module header).
    pub cluster_size: Option<u64>,
    pub cluster_state_uuid: String,
    pub local_state_uuid: String,
    /// wsrep_gcomm_uuid: this node's identity in the group (what the peers' member lists,
    /// mysql.wsrep_cluster_members.node_uuid, name it by). Empty when not reported.
    pub gcomm_uuid: String,
    /// Galera reports -1 (as 18446744073709551615) while the node is outside a Primary component.
    /// Read by the post-outage hold, so it may fail a poll.
    pub cluster_conf_id: u64,
    /// -1 (u64::MAX) outside a Primary component, as for cluster_conf_id.
    pub local_index: Option<u64>,
    pub desync: Option<bool>,
    pub reject_queries: RejectQueries,
    pub sst_donor_rejects_queries: bool,
    pub read_only: bool,
    /// Percona XtraDB Cluster only; `None` on MariaDB.
    pub pxc_maint_mode: Option<String>,
    pub recv_queue: Option<u64>,
    pub recv_queue_avg: Option<f64>,
    pub send_queue: Option<u64>,
    pub send_queue_avg: Option<f64>,
    /// Total time replication was paused by flow control since the server started.
    #[serde(with = "optional_seconds")]
    pub flow_control_paused: Option<Duration>,
    pub flow_control_sent: Option<u64>,
    pub flow_control_recv: Option<u64>,
    pub cert_failures: Option<u64>,
    pub bf_aborts: Option<u64>,
    pub last_committed: Option<i64>,
    pub provider_version: String,
    pub cluster_name: String,
    pub incoming_addresses: Vec<String>,
    /// How long peers wait before suspecting a silent node (evs.suspect_timeout); after an
    /// outage longer than this the node may have been evicted.
    #[serde(with = "optional_seconds")]
    pub evs_suspect_timeout: Option<Duration>,
    /// wsrep_evs_state: the group membership protocol's state, upper-case (OPERATIONAL while
    /// the node agrees with its peers on the membership; GATHER/INSTALL while a new view is
    /// being formed). `None` when the server does not report it.
    pub evs_state: Option<String>,
    /// wsrep_node_name: this node's name in the cluster; empty when not reported.
    #[serde(skip)]
    pub node_name: String,
    /// wsrep_on (a variable): whether this server replicates at all. `None` when not asked for.
    #[serde(skip)]
    pub wsrep_on: Option<bool>,
    /// Metric-only fields left out of this poll because their values were unreadable.
    #[serde(skip)]
    pub dropped: Vec<DroppedField>,
}

mod optional_seconds {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// The rows of one poll, by lower-case name.
pub struct StatusRows(HashMap<String, String>);

impl FromIterator<(String, String)> for StatusRows {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(rows: I) -> Self {
        Self(
            rows.into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect(),
        )
    }
}

impl StatusRows {
    fn text(&self, name: &'static str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim())
    }

    fn required(&self, name: &'static str) -> Result<&str, StatusError> {
        self.text(name).ok_or(StatusError::Missing(name))
    }

    /// A metric-only value: absent or empty means the server does not report it (older versions);
    /// one that does not parse is recorded in `dropped` and left out, never an error.
    fn metric<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        dropped: &mut Vec<DroppedField>,
    ) -> Option<T> {
        let value = self.text(name).filter(|v| !v.is_empty())?;
        let parsed = parse(value);
        if parsed.is_none() {
            dropped.push(DroppedField {
                name,
                value: value.chars().take(64).collect(),
            });
        }
        parsed
    }

    fn switch(&self, name: &'static str) -> Result<bool, StatusError> {
        match self.text(name) {
            None => Ok(false),
            Some(value) => parse_switch(value).ok_or_else(|| StatusError::Malformed {
                name,
                value: value.to_owned(),
            }),
        }
    }

    fn string(&self, name: &'static str) -> String {
        self.text(name).unwrap_or_default().to_owned()
    }

    pub fn parse(&self) -> Result<GaleraStatus, StatusError> {
        let code_text = self.required("wsrep_local_state")?;
        let local_state_code: u8 = code_text.parse().map_err(|_| StatusError::Malformed {
            name: "wsrep_local_state",
            value: code_text.to_owned(),
        })?;
        let ready =
            parse_switch(self.required("wsrep_ready")?).ok_or_else(|| StatusError::Malformed {
                name: "wsrep_ready",
                value: self.string("wsrep_ready"),
            })?;
        let connected = parse_switch(self.required("wsrep_connected")?).ok_or_else(|| {
            StatusError::Malformed {
                name: "wsrep_connected",
                value: self.string("wsrep_connected"),
            }
        })?;
        // Absent (no such server seen) reads as 0, as before; unreadable fails the poll because
        // the post-outage hold compares it.
        let cluster_conf_id = match self.text("wsrep_cluster_conf_id") {
            None | Some("") => 0,
            Some(text) => parse_index(text).ok_or_else(|| StatusError::Malformed {
                name: "wsrep_cluster_conf_id",
                value: text.to_owned(),
            })?,
        };
        let mut dropped = Vec::new();
        let d = &mut dropped;
        let count = |v: &str| v.parse::<u64>().ok();
        let average = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite());
        Ok(GaleraStatus {
            local_state: LocalState::from_code(local_state_code),
            local_state_code,
            local_state_comment: self.string("wsrep_local_state_comment"),
            cluster_status: ClusterStatus::parse(self.required("wsrep_cluster_status")?),
            ready,
            connected,
            cluster_size: self.metric("wsrep_cluster_size", count, d),
            cluster_state_uuid: self.string("wsrep_cluster_state_uuid"),
            local_state_uuid: self.string("wsrep_local_state_uuid"),
            gcomm_uuid: self.string("wsrep_gcomm_uuid"),
            cluster_conf_id,
            local_index: self.metric("wsrep_local_index", parse_index, d),
            desync: match self.text("wsrep_desync") {
                None => Some(false),
                Some(_) => self.metric("wsrep_desync", parse_switch, d),
            },
            reject_queries: RejectQueries::parse(&self.string("wsrep_reject_queries")),
            sst_donor_rejects_queries: self.switch("wsrep_sst_donor_rejects_queries")?,
            read_only: self.switch("read_only")?,
            pxc_maint_mode: self.text("pxc_maint_mode").map(str::to_owned),
            recv_queue: self.metric("wsrep_local_recv_queue", count, d),
            recv_queue_avg: self.metric("wsrep_local_recv_queue_avg", average, d),
            send_queue: self.metric("wsrep_local_send_queue", count, d),
            send_queue_avg: self.metric("wsrep_local_send_queue_avg", average, d),
            flow_control_paused: self
                .metric("wsrep_flow_control_paused_ns", count, d)
                .map(Duration::from_nanos),
            flow_control_sent: self.metric("wsrep_flow_control_sent", count, d),
            flow_control_recv: self.metric("wsrep_flow_control_recv", count, d),
            cert_failures: self.metric("wsrep_local_cert_failures", count, d),
            bf_aborts: self.metric("wsrep_local_bf_aborts", count, d),
            last_committed: self.metric("wsrep_last_committed", parse_seqno, d),
            provider_version: self.string("wsrep_provider_version"),
            cluster_name: self.string("wsrep_cluster_name"),
            incoming_addresses: self
                .string("wsrep_incoming_addresses")
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            evs_suspect_timeout: self
                .text("wsrep_provider_options")
                .and_then(suspect_timeout_from_provider_options),
            evs_state: self
                .text("wsrep_evs_state")
                .filter(|state| !state.is_empty())
                .map(str::to_ascii_uppercase),
            node_name: self.string("wsrep_node_name"),
            wsrep_on: self.text("wsrep_on").and_then(parse_switch),
            dropped,
        })
    }
}

/// wsrep_cluster_conf_id and wsrep_local_index are unsigned in the server, so the -1 Galera
/// means outside a Primary component prints as 18446744073709551615 (MariaDB, PXC); a server
/// that prints it signed gets the same value.
fn parse_index(text: &str) -> Option<u64> {
    match text {
        "-1" => Some(u64::MAX),
        _ => text.parse().ok(),
    }
}

/// A seqno: -1 before the first commit; read signed, or unsigned where -1 was meant.
fn parse_seqno(text: &str) -> Option<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| (text.parse::<u64>().ok() == Some(u64::MAX)).then_some(-1))
}

/// ON/OFF as the server prints it (read_only can also be 0/1 in some versions).
fn parse_switch(value: &str) -> Option<bool> {
    match value.to_ascii_uppercase().as_str() {
        "ON" | "1" | "YES" | "TRUE" => Some(true),
        "OFF" | "0" | "NO" | "FALSE" => Some(false),
        _ => None,
    }
}

/// wsrep_provider_options is one long `key = value; key = value` string; evs.suspect_timeout is
/// an ISO-8601 duration such as `PT5S`.
pub fn suspect_timeout_from_provider_options(options: &str) -> Option<Duration> {
    options
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim() == "evs.suspect_timeout")
        .and_then(|(_, value)| iso8601::duration(value.trim()).ok())
        .map(Duration::from)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::{GaleraStatus, StatusRows};

    /// [`synced_rows`] as the collector parses them: the status of a synced node.
    pub fn synced_status() -> GaleraStatus {
        let rows: StatusRows = synced_rows().into_iter().collect();
        rows.parse().expect("synced rows parse")
    }

    /// A subset of the rows MariaDB 10.11 + galera-4 returned on a synced node of the sandbox.
    pub fn synced_rows() -> Vec<(String, String)> {
        [
            ("WSREP_LOCAL_STATE", "4"),
            ("WSREP_LOCAL_STATE_COMMENT", "Synced"),
            ("WSREP_CLUSTER_STATUS", "Primary"),
            ("WSREP_NODE_NAME", "node1"),
            ("WSREP_READY", "ON"),
            ("WSREP_CONNECTED", "ON"),
            ("WSREP_CLUSTER_SIZE", "3"),
            ("WSREP_CLUSTER_STATE_UUID", "3c5ba8f6-c9a4-11f0-a6b2-1f3c2a6e1b11"),
            ("WSREP_LOCAL_STATE_UUID", "3c5ba8f6-c9a4-11f0-a6b2-1f3c2a6e1b11"),
            ("WSREP_GCOMM_UUID", "5f0b2a3e-c9a4-11f0-8a51-6b2f4d1c9e01"),
            ("WSREP_CLUSTER_CONF_ID", "3"),
            ("WSREP_LOCAL_INDEX", "0"),
            ("WSREP_DESYNC", "OFF"),
            ("WSREP_REJECT_QUERIES", "NONE"),
            ("WSREP_SST_DONOR_REJECTS_QUERIES", "OFF"),
            ("READ_ONLY", "OFF"),
            ("WSREP_LOCAL_RECV_QUEUE", "0"),
            ("WSREP_LOCAL_RECV_QUEUE_AVG", "0.0833333"),
            ("WSREP_LOCAL_SEND_QUEUE", "0"),
            ("WSREP_LOCAL_SEND_QUEUE_AVG", "0"),
            ("WSREP_FLOW_CONTROL_PAUSED_NS", "1500000000"),
            ("WSREP_FLOW_CONTROL_SENT", "2"),
            ("WSREP_FLOW_CONTROL_RECV", "5"),
            ("WSREP_LOCAL_CERT_FAILURES", "1"),
            ("WSREP_LOCAL_BF_ABORTS", "0"),
            ("WSREP_LAST_COMMITTED", "17"),
            ("WSREP_PROVIDER_VERSION", "26.4.23(r6b6d1f4)"),
            ("WSREP_CLUSTER_NAME", "sandbox_galera"),
            ("WSREP_EVS_STATE", "OPERATIONAL"),
            ("WSREP_INCOMING_ADDRESSES", "127.0.0.1:13301,127.0.0.1:13302,127.0.0.1:13303"),
            (
                "WSREP_PROVIDER_OPTIONS",
                "base_dir = /var/lib/mysql/; evs.inactive_timeout = PT15S; evs.suspect_timeout = PT5S; gcache.size = 32M",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::synced_rows;
    use super::*;

    fn with(overrides: &[(&str, &str)]) -> StatusRows {
        let mut rows = synced_rows();
        for (name, value) in overrides {
            rows.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            rows.push(((*name).to_owned(), (*value).to_owned()));
        }
        rows.into_iter().collect()
    }

    #[test]
    fn parses_a_synced_node() {
        let s = with(&[]).parse().unwrap();
        assert_eq!(s.local_state, LocalState::Synced);
        assert_eq!(s.cluster_status, ClusterStatus::Primary);
        assert!(s.ready && s.connected && s.desync == Some(false) && !s.read_only);
        assert_eq!(s.cluster_size, Some(3));
        assert_eq!(s.flow_control_paused, Some(Duration::from_millis(1500)));
        assert_eq!(s.incoming_addresses.len(), 3);
        assert_eq!(s.evs_suspect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(s.evs_state.as_deref(), Some("OPERATIONAL"));
        assert_eq!(s.pxc_maint_mode, None);
        assert_eq!(s.reject_queries, RejectQueries::None);
    }

    #[test]
    fn non_primary_conf_id_is_minus_one_as_unsigned() {
        let s = with(&[
            ("wsrep_cluster_status", "non-Primary"),
            ("wsrep_cluster_conf_id", "18446744073709551615"),
            ("wsrep_local_state", "0"),
            ("wsrep_ready", "OFF"),
        ])
        .parse()
        .unwrap();
        assert_eq!(s.cluster_status, ClusterStatus::NonPrimary);
        assert_eq!(s.cluster_conf_id, u64::MAX);
        assert_eq!(s.local_state, LocalState::Other(0));
        assert!(!s.ready);
    }

    #[test]
    fn missing_provider_is_an_error_naming_the_variable() {
        let rows: StatusRows = vec![("read_only".to_owned(), "OFF".to_owned())]
            .into_iter()
            .collect();
        assert_eq!(
            rows.parse().unwrap_err(),
            StatusError::Missing("wsrep_local_state")
        );
    }

    #[test]
    fn garbage_values_are_errors_not_panics() {
        let err = with(&[("wsrep_local_state", "synced")])
            .parse()
            .unwrap_err();
        assert!(matches!(
            err,
            StatusError::Malformed {
                name: "wsrep_local_state",
                ..
            }
        ));
        let err = with(&[("wsrep_cluster_conf_id", "-3")])
            .parse()
            .unwrap_err();
        assert!(matches!(
            err,
            StatusError::Malformed {
                name: "wsrep_cluster_conf_id",
                ..
            }
        ));
        let err = with(&[("wsrep_ready", "maybe")]).parse().unwrap_err();
        assert!(matches!(
            err,
            StatusError::Malformed {
                name: "wsrep_ready",
                ..
            }
        ));
        let err = with(&[("wsrep_local_state", "999")]).parse().unwrap_err();
        assert!(matches!(err, StatusError::Malformed { .. }));
    }

    #[test]
    fn evs_state_is_upper_case_and_optional() {
        let s = with(&[("wsrep_evs_state", "gather")]).parse().unwrap();
        assert_eq!(s.evs_state.as_deref(), Some("GATHER"));
        let mut rows = synced_rows();
        rows.retain(|(n, _)| !n.eq_ignore_ascii_case("wsrep_evs_state"));
        let s = rows.into_iter().collect::<StatusRows>().parse().unwrap();
        assert_eq!(s.evs_state, None);
    }

    #[test]
    fn percona_maint_mode_and_reject_queries() {
        let s = with(&[
            ("pxc_maint_mode", "MAINTENANCE"),
            ("wsrep_reject_queries", "ALL_KILL"),
        ])
        .parse()
        .unwrap();
        assert_eq!(s.pxc_maint_mode.as_deref(), Some("MAINTENANCE"));
        assert_eq!(s.reject_queries, RejectQueries::AllKill);
    }

    #[test]
    fn suspect_timeout_forms() {
        assert_eq!(
            suspect_timeout_from_provider_options("evs.suspect_timeout = PT1M30S; x = y"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            suspect_timeout_from_provider_options("a=b;evs.suspect_timeout=PT2.5S"),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            suspect_timeout_from_provider_options("evs.suspect_timeout = soon"),
            None
        );
        assert_eq!(suspect_timeout_from_provider_options(""), None);
    }

    /// A field that only feeds a metric drops that metric when unreadable; the poll (and so the
    /// verdict) stands.
    #[test]
    fn unreadable_metric_only_fields_drop_the_metric_not_the_poll() {
        let s = with(&[
            ("wsrep_cluster_size", "-3"),
            ("wsrep_local_recv_queue_avg", "nan"),
            ("wsrep_flow_control_paused_ns", "1.5e9"),
            ("wsrep_local_cert_failures", "many"),
            ("wsrep_desync", "maybe"),
        ])
        .parse()
        .expect("metric-only fields never fail the poll");
        assert_eq!(s.local_state, LocalState::Synced);
        assert_eq!(s.cluster_size, None);
        assert_eq!(s.recv_queue_avg, None);
        assert_eq!(s.flow_control_paused, None);
        assert_eq!(s.cert_failures, None);
        assert_eq!(s.desync, None);
        let mut names: Vec<_> = s.dropped.iter().map(|d| d.name).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "wsrep_cluster_size",
                "wsrep_desync",
                "wsrep_flow_control_paused_ns",
                "wsrep_local_cert_failures",
                "wsrep_local_recv_queue_avg"
            ]
        );
        // Absent is not unreadable: nothing to log.
        let mut rows = synced_rows();
        rows.retain(|(n, _)| !n.eq_ignore_ascii_case("wsrep_local_bf_aborts"));
        let s = rows.into_iter().collect::<StatusRows>().parse().unwrap();
        assert_eq!(s.bf_aborts, None);
        assert!(s.dropped.is_empty());
    }

    /// `SHOW GLOBAL STATUS LIKE 'wsrep%'` then `SHOW GLOBAL VARIABLES WHERE Variable_name IN
    /// (...)`, as the mysql client prints them in batch mode (`Variable_name<TAB>Value`).
    fn show_output(text: &str) -> StatusRows {
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("Variable_name"))
            .map(|l| {
                let (name, value) = l.split_once('\t').unwrap_or((l, ""));
                (name.trim().to_owned(), value.to_owned())
            })
            .collect()
    }

    /// MariaDB 10.3 with galera 25.3 (CentOS 8), on the survivor of an abrupt two-node loss:
    /// non-Primary, Initialized, with the unsigned -1 in conf_id and local_index.
    const MARIADB_10_3_NON_PRIMARY: &str = "\
Variable_name\tValue
wsrep_applier_thread_count\t1
wsrep_apply_oooe\t0.000000
wsrep_apply_oool\t0.000000
wsrep_apply_window\t1.000000
wsrep_causal_reads\t0
wsrep_cert_deps_distance\t1.000000
wsrep_cert_index_size\t3
wsrep_cert_interval\t0.000000
wsrep_cluster_conf_id\t18446744073709551615
wsrep_cluster_size\t1
wsrep_cluster_state_uuid\t5c9c2b4e-3f0a-11ee-9b1f-8a7d1c2e3f40
wsrep_cluster_status\tnon-Primary
wsrep_cluster_weight\t0
wsrep_commit_oooe\t0.000000
wsrep_commit_oool\t0.000000
wsrep_commit_window\t1.000000
wsrep_connected\tON
wsrep_desync_count\t0
wsrep_evs_delayed\t
wsrep_evs_evict_list\t
wsrep_evs_repl_latency\t0/0/0/0/0
wsrep_evs_state\tOPERATIONAL
wsrep_flow_control_paused\t0.000000
wsrep_flow_control_paused_ns\t0
wsrep_flow_control_recv\t0
wsrep_flow_control_sent\t0
wsrep_gcomm_uuid\t6a1b2c3d-3f0a-11ee-8e4f-2b3c4d5e6f70
wsrep_incoming_addresses\t10.0.0.11:3306
wsrep_last_committed\t1842
wsrep_local_bf_aborts\t0
wsrep_local_cached_downto\t1
wsrep_local_cert_failures\t0
wsrep_local_commits\t12
wsrep_local_index\t18446744073709551615
wsrep_local_recv_queue\t0
wsrep_local_recv_queue_avg\t0.000000
wsrep_local_recv_queue_max\t1
wsrep_local_recv_queue_min\t0
wsrep_local_replays\t0
wsrep_local_send_queue\t0
wsrep_local_send_queue_avg\t0.000000
wsrep_local_send_queue_max\t1
wsrep_local_send_queue_min\t0
wsrep_local_state\t0
wsrep_local_state_comment\tInitialized
wsrep_local_state_uuid\t5c9c2b4e-3f0a-11ee-9b1f-8a7d1c2e3f40
wsrep_open_connections\t0
wsrep_open_transactions\t0
wsrep_protocol_version\t9
wsrep_provider_name\tGalera
wsrep_provider_vendor\tCodership Oy <info@codership.com>
wsrep_provider_version\t25.3.37(r3e3e1bd)
wsrep_ready\tOFF
wsrep_received\t17
wsrep_received_bytes\t1952
wsrep_repl_data_bytes\t5116
wsrep_repl_keys\t36
wsrep_repl_keys_bytes\t576
wsrep_repl_other_bytes\t0
wsrep_replicated\t12
wsrep_replicated_bytes\t6528
wsrep_rollbacker_thread_count\t1
wsrep_thread_count\t2
Variable_name\tValue
read_only\tOFF
wsrep_cluster_name\topenstack
wsrep_desync\tOFF
wsrep_node_name\tcontroller-0
wsrep_on\tON
wsrep_provider_options\tbase_dir = /var/lib/mysql/; base_host = 10.0.0.11; base_port = 4567; cert.log_conflicts = no; evs.inactive_timeout = PT15S; evs.suspect_timeout = PT5S; gcache.size = 128M; pc.bootstrap = NO
wsrep_reject_queries\tNONE
wsrep_sst_donor_rejects_queries\tOFF
";

    /// MariaDB 10.11 with galera-4 26.4 (Debian 12), synced.
    const MARIADB_10_11_SYNCED: &str = "\
Variable_name\tValue
wsrep_local_state_uuid\t3c5ba8f6-c9a4-11f0-a6b2-1f3c2a6e1b11
wsrep_protocol_version\t10
wsrep_last_committed\t5
wsrep_replicated\t0
wsrep_received\t6
wsrep_local_commits\t0
wsrep_local_cert_failures\t0
wsrep_local_replays\t0
wsrep_local_send_queue\t0
wsrep_local_send_queue_max\t1
wsrep_local_send_queue_min\t0
wsrep_local_send_queue_avg\t0
wsrep_local_recv_queue\t0
wsrep_local_recv_queue_max\t1
wsrep_local_recv_queue_min\t0
wsrep_local_recv_queue_avg\t0
wsrep_local_cached_downto\t1
wsrep_flow_control_paused_ns\t0
wsrep_flow_control_paused\t0
wsrep_flow_control_sent\t0
wsrep_flow_control_recv\t0
wsrep_flow_control_active\tfalse
wsrep_flow_control_requested\tfalse
wsrep_cert_deps_distance\t0
wsrep_apply_oooe\t0
wsrep_local_state\t4
wsrep_local_state_comment\tSynced
wsrep_cert_index_size\t0
wsrep_causal_reads\t0
wsrep_cert_interval\t0
wsrep_open_transactions\t0
wsrep_open_connections\t0
wsrep_incoming_addresses\t127.0.0.1:13301,127.0.0.1:13302,127.0.0.1:13303
wsrep_cluster_weight\t3
wsrep_desync_count\t0
wsrep_evs_delayed\t
wsrep_evs_evict_list\t
wsrep_evs_repl_latency\t0/0/0/0/0
wsrep_evs_state\tOPERATIONAL
wsrep_gcomm_uuid\t3c5a1e2b-c9a4-11f0-8d0c-5e6f7a8b9c0d
wsrep_gmcast_segment\t0
wsrep_applier_thread_count\t1
wsrep_cluster_capabilities\t
wsrep_cluster_conf_id\t3
wsrep_cluster_size\t3
wsrep_cluster_state_uuid\t3c5ba8f6-c9a4-11f0-a6b2-1f3c2a6e1b11
wsrep_cluster_status\tPrimary
wsrep_connected\tON
wsrep_local_bf_aborts\t0
wsrep_local_index\t0
wsrep_provider_capabilities\t:MULTI_MASTER:CERTIFICATION:PARALLEL_APPLYING:TRX_REPLAY:ISOLATION:PAUSE:CAUSAL_READS:INCREMENTAL_WRITESET:UNORDERED:PREORDERED:STREAMING:NBO:
wsrep_provider_name\tGalera
wsrep_provider_vendor\tCodership Oy <info@codership.com>
wsrep_provider_version\t26.4.23(r6b6d1f4)
wsrep_ready\tON
wsrep_rollbacker_thread_count\t1
wsrep_thread_count\t2
Variable_name\tValue
read_only\tOFF
wsrep_cluster_name\tsandbox_galera
wsrep_desync\tOFF
wsrep_node_name\tnode1
wsrep_on\tON
wsrep_provider_options\tbase_dir = /var/lib/mysql/; evs.inactive_timeout = PT15S; evs.suspect_timeout = PT5S; gcache.size = 32M
wsrep_reject_queries\tNONE
wsrep_sst_donor_rejects_queries\tOFF
";

    /// Percona XtraDB Cluster 8.0 (galera 4): pxc_maint_mode, no wsrep_sst_donor_rejects_queries,
    /// and a counter printed in a form we do not expect (wsrep_local_recv_queue_avg as a ratio
    /// never seen, standing for any future change of format).
    const PXC_8_0_SYNCED: &str = "\
Variable_name\tValue
wsrep_local_state_uuid\t7d8e9fa0-1b2c-11ee-9d3e-4f5a6b7c8d9e
wsrep_protocol_version\t10
wsrep_last_applied\t58
wsrep_last_committed\t58
wsrep_monitor_status (L/A/C)\t[ (58, 58), (58, 58), (58, 58) ]
wsrep_replicated\t4
wsrep_replicated_bytes\t1208
wsrep_received\t14
wsrep_local_commits\t0
wsrep_local_cert_failures\t0
wsrep_local_replays\t0
wsrep_local_send_queue\t0
wsrep_local_send_queue_avg\t0.000000
wsrep_local_recv_queue\t0
wsrep_local_recv_queue_avg\t1/0
wsrep_local_cached_downto\t1
wsrep_flow_control_paused_ns\t0
wsrep_flow_control_paused\t0.000000
wsrep_flow_control_sent\t0
wsrep_flow_control_recv\t0
wsrep_flow_control_active\tfalse
wsrep_flow_control_requested\tfalse
wsrep_flow_control_interval\t[ 173, 173 ]
wsrep_flow_control_interval_low\t173
wsrep_flow_control_interval_high\t173
wsrep_flow_control_status\tOFF
wsrep_cert_deps_distance\t1.000000
wsrep_local_state\t4
wsrep_local_state_comment\tSynced
wsrep_cert_index_size\t2
wsrep_causal_reads\t0
wsrep_ist_receive_status\t
wsrep_ist_receive_seqno_start\t0
wsrep_ist_receive_seqno_current\t0
wsrep_ist_receive_seqno_end\t0
wsrep_incoming_addresses\t192.168.0.11:3306,192.168.0.12:3306,192.168.0.13:3306
wsrep_cluster_weight\t3
wsrep_desync_count\t0
wsrep_evs_state\tOPERATIONAL
wsrep_gcomm_uuid\t7d8a1b2c-1b2c-11ee-a1b2-c3d4e5f60718
wsrep_gmcast_segment\t0
wsrep_cluster_capabilities\t
wsrep_cluster_conf_id\t3
wsrep_cluster_size\t3
wsrep_cluster_state_uuid\t7d8e9fa0-1b2c-11ee-9d3e-4f5a6b7c8d9e
wsrep_cluster_status\tPrimary
wsrep_connected\tON
wsrep_local_bf_aborts\t0
wsrep_local_index\t1
wsrep_provider_name\tGalera
wsrep_provider_vendor\tCodership Oy <info@codership.com>
wsrep_provider_version\t4.14(779b689)
wsrep_ready\tON
Variable_name\tValue
pxc_maint_mode\tDISABLED
read_only\tOFF
wsrep_cluster_name\tpxc-cluster
wsrep_desync\tOFF
wsrep_node_name\tpxc2
wsrep_on\tON
wsrep_provider_options\tbase_dir = /var/lib/mysql/; evs.suspect_timeout = PT5S; gcache.size = 128M
wsrep_reject_queries\tNONE
";

    #[test]
    fn mariadb_10_3_non_primary_survivor() {
        let s = show_output(MARIADB_10_3_NON_PRIMARY).parse().unwrap();
        assert_eq!(s.cluster_status, ClusterStatus::NonPrimary);
        assert_eq!(s.local_state, LocalState::Other(0));
        assert!(!s.ready && s.connected);
        assert_eq!(s.cluster_conf_id, u64::MAX);
        assert_eq!(s.local_index, Some(u64::MAX));
        assert_eq!(s.cluster_size, Some(1));
        assert_eq!(s.provider_version, "25.3.37(r3e3e1bd)");
        assert_eq!(s.node_name, "controller-0");
        assert_eq!(s.wsrep_on, Some(true));
        assert_eq!(s.evs_suspect_timeout, Some(Duration::from_secs(5)));
        assert!(s.dropped.is_empty(), "{:?}", s.dropped);
    }

    #[test]
    fn mariadb_10_11_synced() {
        let s = show_output(MARIADB_10_11_SYNCED).parse().unwrap();
        assert_eq!(s.local_state, LocalState::Synced);
        assert_eq!(s.cluster_status, ClusterStatus::Primary);
        assert_eq!((s.cluster_conf_id, s.local_index), (3, Some(0)));
        assert_eq!(s.recv_queue_avg, Some(0.0));
        assert_eq!(s.pxc_maint_mode, None);
        assert_eq!(s.cluster_name, "sandbox_galera");
        assert!(s.dropped.is_empty(), "{:?}", s.dropped);
    }

    #[test]
    fn pxc_8_0_synced_with_an_unreadable_counter() {
        let s = show_output(PXC_8_0_SYNCED).parse().unwrap();
        assert_eq!(s.local_state, LocalState::Synced);
        assert_eq!(s.pxc_maint_mode.as_deref(), Some("DISABLED"));
        assert!(!s.sst_donor_rejects_queries, "absent in PXC 8.0");
        assert_eq!(s.last_committed, Some(58));
        assert_eq!(s.recv_queue_avg, None);
        assert_eq!(
            s.dropped,
            [DroppedField {
                name: "wsrep_local_recv_queue_avg",
                value: "1/0".into()
            }]
        );
    }

    #[test]
    fn minus_one_in_either_form() {
        assert_eq!(parse_index("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_index("-1"), Some(u64::MAX));
        assert_eq!(parse_index("-2"), None);
        assert_eq!(parse_seqno("18446744073709551615"), Some(-1));
        assert_eq!(parse_seqno("-1"), Some(-1));
        assert_eq!(parse_seqno("42"), Some(42));
    }
}
