//! One poll's worth of wsrep status, parsed from the name/value rows the server returns.
//!
//! The server sends every value as text; this module is the one place that turns that text into
//! types, so the decisions and the metrics never parse. Names are matched case-insensitively
//! (information_schema returns them upper-case, SHOW STATUS lower-case).

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
    pub cluster_size: u64,
    pub cluster_state_uuid: String,
    pub local_state_uuid: String,
    /// Galera reports -1 (as 18446744073709551615) while the node is outside a Primary component.
    pub cluster_conf_id: u64,
    pub local_index: u64,
    pub desync: bool,
    pub reject_queries: RejectQueries,
    pub sst_donor_rejects_queries: bool,
    pub read_only: bool,
    /// Percona XtraDB Cluster only; `None` on MariaDB.
    pub pxc_maint_mode: Option<String>,
    pub recv_queue: u64,
    pub recv_queue_avg: f64,
    pub send_queue: u64,
    pub send_queue_avg: f64,
    /// Total time replication was paused by flow control since the server started.
    #[serde(serialize_with = "crate::collectors::seconds")]
    pub flow_control_paused: Duration,
    pub flow_control_sent: u64,
    pub flow_control_recv: u64,
    pub cert_failures: u64,
    pub bf_aborts: u64,
    pub last_committed: i64,
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

    /// Counters and gauges: absent means the server does not have it (older versions); a value
    /// that is present but not a number is an error, because the server is not what we think.
    fn number<T: std::str::FromStr + Default>(&self, name: &'static str) -> Result<T, StatusError> {
        match self.text(name) {
            None | Some("") => Ok(T::default()),
            Some(value) => value.parse().map_err(|_| StatusError::Malformed {
                name,
                value: value.to_owned(),
            }),
        }
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
        let paused_ns: u64 = self.number("wsrep_flow_control_paused_ns")?;
        Ok(GaleraStatus {
            local_state: LocalState::from_code(local_state_code),
            local_state_code,
            local_state_comment: self.string("wsrep_local_state_comment"),
            cluster_status: ClusterStatus::parse(self.required("wsrep_cluster_status")?),
            ready,
            connected,
            cluster_size: self.number("wsrep_cluster_size")?,
            cluster_state_uuid: self.string("wsrep_cluster_state_uuid"),
            local_state_uuid: self.string("wsrep_local_state_uuid"),
            cluster_conf_id: self.number("wsrep_cluster_conf_id")?,
            local_index: self.number("wsrep_local_index")?,
            desync: self.switch("wsrep_desync")?,
            reject_queries: RejectQueries::parse(&self.string("wsrep_reject_queries")),
            sst_donor_rejects_queries: self.switch("wsrep_sst_donor_rejects_queries")?,
            read_only: self.switch("read_only")?,
            pxc_maint_mode: self.text("pxc_maint_mode").map(str::to_owned),
            recv_queue: self.number("wsrep_local_recv_queue")?,
            recv_queue_avg: self.number("wsrep_local_recv_queue_avg")?,
            send_queue: self.number("wsrep_local_send_queue")?,
            send_queue_avg: self.number("wsrep_local_send_queue_avg")?,
            flow_control_paused: Duration::from_nanos(paused_ns),
            flow_control_sent: self.number("wsrep_flow_control_sent")?,
            flow_control_recv: self.number("wsrep_flow_control_recv")?,
            cert_failures: self.number("wsrep_local_cert_failures")?,
            bf_aborts: self.number("wsrep_local_bf_aborts")?,
            last_committed: self.number("wsrep_last_committed")?,
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
        })
    }
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
    /// A subset of the rows MariaDB 10.11 + galera-4 returned on a synced node of the sandbox.
    pub fn synced_rows() -> Vec<(String, String)> {
        [
            ("WSREP_LOCAL_STATE", "4"),
            ("WSREP_LOCAL_STATE_COMMENT", "Synced"),
            ("WSREP_CLUSTER_STATUS", "Primary"),
            ("WSREP_READY", "ON"),
            ("WSREP_CONNECTED", "ON"),
            ("WSREP_CLUSTER_SIZE", "3"),
            ("WSREP_CLUSTER_STATE_UUID", "3c5ba8f6-c9a4-11f0-a6b2-1f3c2a6e1b11"),
            ("WSREP_LOCAL_STATE_UUID", "3c5ba8f6-c9a4-11f0-a6b2-1f3c2a6e1b11"),
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
        assert!(s.ready && s.connected && !s.desync && !s.read_only);
        assert_eq!(s.cluster_size, 3);
        assert_eq!(s.flow_control_paused, Duration::from_millis(1500));
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
        let err = with(&[("wsrep_cluster_size", "-3")]).parse().unwrap_err();
        assert!(matches!(
            err,
            StatusError::Malformed {
                name: "wsrep_cluster_size",
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
}
