//! crm_mon's XML, in both formats: `--output-as=xml` (Pacemaker 2.0+, root `<pacemaker-result>`
//! with a `<status code>` saying whether crm_mon could read the cluster) and the deprecated
//! `--as-xml` (root `<crm_mon>`, the only format of Pacemaker 1.1, with no status: a crm_mon that
//! could not connect prints just `<crm_mon version="..."/>`). Below the root both carry the same
//! `summary`, `nodes`, `resources`, `node_history`, `failures` and `bans` elements.
//!
//! Resources nest: a clone holds primitive instances or group instances, a group holds primitives,
//! a bundle holds replicas holding primitives. Everything is flattened here into one list of
//! primitive instances, each remembering its top-level resource, because that is what a metric or
//! a colocation constraint names. Anonymous clone instances share one id (`lb-haproxy` three
//! times, two of them Stopped), so consumers must aggregate by (top-level, id) and never emit one
//! series per instance.

use serde::Serialize;

use super::xml::{self, Element, XmlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// `crm_mon --output-as=xml`
    Xml,
    /// `crm_mon --as-xml` (deprecated since Pacemaker 2.0)
    Legacy,
}

impl OutputFormat {
    pub fn args(self) -> &'static [&'static str] {
        match self {
            OutputFormat::Xml => &["-1", "--output-as=xml"],
            OutputFormat::Legacy => &["-1", "--as-xml"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CrmMonError {
    #[error("crm_mon printed no usable XML: {0}")]
    Xml(#[from] XmlError),
    #[error("crm_mon printed <{0}>, expected <pacemaker-result> or <crm_mon>")]
    UnexpectedRoot(String),
    /// crm_mon ran but could not read the cluster (not running, no permission, ...).
    #[error("crm_mon: {message} (status {code}){}", if .detail.is_empty() { String::new() } else { format!(": {}", .detail) })]
    Reported {
        code: i64,
        message: String,
        detail: String,
    },
    #[error("crm_mon's XML has no cluster summary (not connected to the cluster?)")]
    NoSummary,
    #[error("crm_mon's XML is missing `{0}`")]
    Missing(&'static str),
}

/// Everything one crm_mon run said about the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterState {
    pub format: OutputFormat,
    pub summary: Summary,
    pub nodes: Vec<Node>,
    pub resources: Vec<Instance>,
    pub fail_counts: Vec<FailCount>,
    pub failures: Vec<FailedAction>,
    pub bans: Vec<Ban>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub stack: Option<String>,
    pub dc_present: bool,
    pub dc_name: Option<String>,
    /// The partition the DC belongs to has quorum. Without a DC nothing is decided, so no quorum.
    pub with_quorum: bool,
    pub pacemaker_version: Option<String>,
    pub last_update: Option<String>,
    pub last_change: Option<String>,
    pub last_change_by: Option<String>,
    pub nodes_configured: u64,
    pub resources_configured: u64,
    pub resources_disabled: u64,
    pub resources_blocked: u64,
    pub stonith_enabled: bool,
    pub no_quorum_policy: Option<String>,
    pub maintenance_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    /// `member` (a cluster node), `remote` (Pacemaker Remote or a bundle's guest) or `ping`.
    pub kind: String,
    pub online: bool,
    pub standby: bool,
    pub standby_onfail: bool,
    pub maintenance: bool,
    pub pending: bool,
    pub unclean: bool,
    pub shutdown: bool,
    pub is_dc: bool,
    pub resources_running: u64,
}

/// Node states as exported; a node can be in several at once (online and standby).
pub const NODE_STATES: [&str; 8] = [
    "online",
    "offline",
    "standby",
    "standby_onfail",
    "maintenance",
    "pending",
    "unclean",
    "shutdown",
];

impl Node {
    pub fn in_state(&self, state: &str) -> bool {
        match state {
            "online" => self.online,
            "offline" => !self.online,
            "standby" => self.standby,
            "standby_onfail" => self.standby_onfail,
            "maintenance" => self.maintenance,
            "pending" => self.pending,
            "unclean" => self.unclean,
            "shutdown" => self.shutdown,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Primitive,
    Clone,
    Group,
    Bundle,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Primitive => "primitive",
            Kind::Clone => "clone",
            Kind::Group => "group",
            Kind::Bundle => "bundle",
        }
    }
}

/// One primitive resource instance, wherever it sits in the resource tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// The top-level resource: what constraints and operators name (`lb-haproxy-clone`, a group,
    /// a bundle, or the primitive itself).
    pub top: String,
    pub top_kind: Kind,
    /// The primitive's id (`lb-haproxy`; `lb-haproxy:1` in a unique clone).
    pub id: String,
    pub agent: String,
    /// Lower-case role: one of [`ROLES`].
    pub role: &'static str,
    pub active: bool,
    pub failed: bool,
    pub managed: bool,
    pub blocked: bool,
    pub orphaned: bool,
    pub failure_ignored: bool,
    pub nodes: Vec<String>,
}

/// The roles crm_mon reports, lower-cased, with Pacemaker 1.1's Master/Slave mapped to their
/// current names. Exported as a state set so the label set of a resource never changes.
pub const ROLES: [&str; 8] = [
    "started",
    "stopped",
    "promoted",
    "unpromoted",
    "starting",
    "stopping",
    "migrating",
    "other",
];

fn role(text: &str) -> &'static str {
    match text.to_ascii_lowercase().as_str() {
        "started" => "started",
        "stopped" => "stopped",
        "promoted" | "master" => "promoted",
        "unpromoted" | "slave" => "unpromoted",
        "starting" => "starting",
        "stopping" => "stopping",
        "migrating" => "migrating",
        _ => "other",
    }
}

/// From `node_history`: a resource's fail count on a node, and its migration threshold (after that
/// many failures the resource is banned from the node until cleanup).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailCount {
    pub node: String,
    pub resource: String,
    pub fail_count: u64,
    pub migration_threshold: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedAction {
    pub node: String,
    pub op_key: String,
    /// The resource, taken from `op_key` (`vip_monitor_10000` -> `vip`).
    pub resource: String,
    pub task: String,
    pub exit_status: String,
    pub exit_reason: String,
    pub exit_code: Option<i64>,
    pub last_rc_change: Option<String>,
}

/// A `-INFINITY` location constraint on a node: `crm_resource --ban`, or a `--move` away from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ban {
    pub id: String,
    pub resource: String,
    pub node: String,
    pub weight: Option<i64>,
}

/// Parse one crm_mon document of either format.
pub fn parse(text: &str) -> Result<ClusterState, CrmMonError> {
    let root = xml::parse(text)?;
    let format = match root.name.as_str() {
        "pacemaker-result" => OutputFormat::Xml,
        "crm_mon" => OutputFormat::Legacy,
        other => {
            return Err(CrmMonError::UnexpectedRoot(
                other.chars().take(40).collect(),
            ))
        }
    };
    if let Some(status) = root.child("status") {
        let code: i64 = status
            .attr("code")
            .and_then(|c| c.trim().parse().ok())
            .ok_or(CrmMonError::Missing("status/@code"))?;
        if code != 0 {
            let detail = status
                .child("errors")
                .map(|errors| {
                    errors
                        .children_named("error")
                        .filter_map(|e| e.attr("#text").map(str::trim))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            return Err(CrmMonError::Reported {
                code,
                message: status.attr("message").unwrap_or("error").to_owned(),
                detail,
            });
        }
    }
    let summary = root.child("summary").ok_or(CrmMonError::NoSummary)?;
    Ok(ClusterState {
        format,
        summary: parse_summary(summary),
        nodes: match root.child("nodes") {
            Some(nodes) => nodes
                .children_named("node")
                .map(parse_node)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        },
        resources: {
            let mut out = Vec::new();
            if let Some(resources) = root.child("resources") {
                for el in &resources.children {
                    walk(el, None, &mut out)?;
                }
            }
            out
        },
        fail_counts: parse_history(root.child("node_history")),
        failures: root
            .child("failures")
            .map(|f| f.children_named("failure").map(parse_failure).collect())
            .unwrap_or_default(),
        bans: root
            .child("bans")
            .map(|b| {
                b.children_named("ban")
                    .filter_map(|ban| {
                        Some(Ban {
                            id: ban.attr("id").unwrap_or_default().to_owned(),
                            resource: ban.attr("resource")?.to_owned(),
                            node: ban.attr("node")?.to_owned(),
                            weight: ban.attr("weight").and_then(|w| w.parse().ok()),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

fn parse_summary(s: &Element) -> Summary {
    let dc = s.child("current_dc");
    let dc_present = dc.is_some_and(|d| d.flag("present"));
    let change = s.child("last_change");
    let resources = s.child("resources_configured");
    let options = s.child("cluster_options");
    Summary {
        stack: non_empty(s.child("stack").and_then(|e| e.attr("type"))),
        dc_present,
        dc_name: dc.and_then(|d| non_empty(d.attr("name"))),
        with_quorum: dc_present && dc.is_some_and(|d| d.flag("with_quorum")),
        pacemaker_version: dc.and_then(|d| non_empty(d.attr("version"))),
        last_update: non_empty(s.child("last_update").and_then(|e| e.attr("time"))),
        last_change: non_empty(change.and_then(|e| e.attr("time"))),
        last_change_by: change.and_then(|c| {
            let who = [c.attr("user"), c.attr("client"), c.attr("origin")]
                .into_iter()
                .flatten()
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>();
            (!who.is_empty()).then(|| who.join(" via "))
        }),
        nodes_configured: s
            .child("nodes_configured")
            .and_then(|e| e.number("number"))
            .unwrap_or(0),
        resources_configured: resources.and_then(|e| e.number("number")).unwrap_or(0),
        resources_disabled: resources.and_then(|e| e.number("disabled")).unwrap_or(0),
        resources_blocked: resources.and_then(|e| e.number("blocked")).unwrap_or(0),
        // Pacemaker's own defaults when an option is not printed: stonith on, maintenance off.
        stonith_enabled: options
            .and_then(|o| o.attr("stonith-enabled"))
            .map(|v| v == "true")
            .unwrap_or(true),
        no_quorum_policy: options.and_then(|o| non_empty(o.attr("no-quorum-policy"))),
        maintenance_mode: options.is_some_and(|o| o.flag("maintenance-mode")),
    }
}

fn parse_node(n: &Element) -> Result<Node, CrmMonError> {
    Ok(Node {
        name: n
            .attr("name")
            .ok_or(CrmMonError::Missing("nodes/node/@name"))?
            .to_owned(),
        kind: n.attr("type").unwrap_or("member").to_owned(),
        online: n.flag("online"),
        standby: n.flag("standby"),
        standby_onfail: n.flag("standby_onfail"),
        maintenance: n.flag("maintenance"),
        pending: n.flag("pending"),
        unclean: n.flag("unclean"),
        shutdown: n.flag("shutdown"),
        is_dc: n.flag("is_dc"),
        resources_running: n.number("resources_running").unwrap_or(0),
    })
}

/// Flatten the resource tree; `top` is the enclosing top-level resource, if any.
fn walk(
    el: &Element,
    top: Option<(&str, Kind)>,
    out: &mut Vec<Instance>,
) -> Result<(), CrmMonError> {
    let kind = match el.name.as_str() {
        "resource" => Kind::Primitive,
        "clone" => Kind::Clone,
        "group" => Kind::Group,
        "bundle" => Kind::Bundle,
        // A bundle's replica only groups the resources of one replica.
        "replica" => {
            for child in &el.children {
                walk(child, top, out)?;
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    let id = el.attr("id").ok_or(CrmMonError::Missing("resource/@id"))?;
    // A group inside a clone is named `grp:0`, `grp:1`: the clone stays the top level.
    let top = top.unwrap_or((id, kind));
    if kind != Kind::Primitive {
        for child in &el.children {
            walk(child, Some(top), out)?;
        }
        return Ok(());
    }
    out.push(Instance {
        top: top.0.to_owned(),
        top_kind: top.1,
        id: id.to_owned(),
        agent: el.attr("resource_agent").unwrap_or_default().to_owned(),
        role: role(el.attr("role").unwrap_or("unknown")),
        active: el.flag("active"),
        failed: el.flag("failed"),
        // Absent means managed, as in Pacemaker's own output.
        managed: el.attr("managed") != Some("false"),
        blocked: el.flag("blocked"),
        orphaned: el.flag("orphaned"),
        failure_ignored: el.flag("failure_ignored"),
        nodes: el
            .children_named("node")
            .filter_map(|n| n.attr("name"))
            .map(str::to_owned)
            .collect(),
    });
    Ok(())
}

fn parse_history(history: Option<&Element>) -> Vec<FailCount> {
    let mut out = Vec::new();
    let Some(history) = history else {
        return out;
    };
    for node in history.children_named("node") {
        let Some(name) = node.attr("name") else {
            continue;
        };
        for r in node.children_named("resource_history") {
            let Some(id) = r.attr("id") else { continue };
            out.push(FailCount {
                node: name.to_owned(),
                resource: id.to_owned(),
                fail_count: score(r, "fail-count").unwrap_or(0),
                migration_threshold: score(r, "migration-threshold"),
            });
        }
    }
    out
}

/// Pacemaker's INFINITY, as crm_mon prints it in numbers (a fail count after a failed start with
/// start-failure-is-fatal, the default migration-threshold).
pub const INFINITY: u64 = 1_000_000;

/// A count or threshold that may be written as `INFINITY` (capped at [`INFINITY`] either way).
fn score(e: &Element, name: &str) -> Option<u64> {
    let text = e.attr(name)?.trim();
    match text.trim_start_matches('+') {
        "INFINITY" => Some(INFINITY),
        number => number.parse::<u64>().ok().map(|n| n.min(INFINITY)),
    }
}

fn parse_failure(f: &Element) -> FailedAction {
    let op_key = f.attr("op_key").unwrap_or_default().to_owned();
    let task = f.attr("task").unwrap_or_default().to_owned();
    FailedAction {
        node: f.attr("node").unwrap_or_default().to_owned(),
        resource: resource_of(&op_key, &task, f.attr("interval")),
        op_key,
        task,
        exit_status: f.attr("exitstatus").unwrap_or_default().to_owned(),
        exit_reason: f.attr("exitreason").unwrap_or_default().to_owned(),
        exit_code: f.attr("exitcode").and_then(|c| c.parse().ok()),
        last_rc_change: non_empty(f.attr("last-rc-change")),
    }
}

/// An operation key is `RESOURCE_TASK_INTERVALMS`; resource ids may contain underscores, so strip
/// the known suffix instead of splitting on the first one.
fn resource_of(op_key: &str, task: &str, interval: Option<&str>) -> String {
    let interval = interval.unwrap_or("0").trim_end_matches("ms");
    let suffix = format!("_{task}_{interval}");
    if !task.is_empty() {
        if let Some(resource) = op_key.strip_suffix(&suffix) {
            return resource.to_owned();
        }
    }
    // Unknown shape: drop the last two `_` fields, or keep the key whole.
    let mut parts = op_key.rsplitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(resource)) if !resource.is_empty() => resource.to_owned(),
        _ => op_key.to_owned(),
    }
}

impl ClusterState {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Instances of a resource named by its top-level id or by its primitive id.
    pub fn instances<'a>(&'a self, resource: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.resources
            .iter()
            .filter(move |i| i.top == resource || i.id == resource)
    }

    /// Nodes where an instance of `resource` is active, sorted and without duplicates.
    pub fn running_on(&self, resource: &str) -> Vec<String> {
        let mut nodes: Vec<String> = self
            .instances(resource)
            .filter(|i| i.active)
            .flat_map(|i| i.nodes.iter().cloned())
            .collect();
        nodes.sort();
        nodes.dedup();
        nodes
    }

    pub fn failed_resources(&self) -> Vec<&Instance> {
        self.resources.iter().filter(|i| i.failed).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Every recorded scenario in tests/fixtures/pacemaker (both crm_mon formats exist for each).
    pub(crate) const SCENARIOS: &[&str] = &[
        "healthy",
        "vip-monitor-failed",
        "node-down",
        "vip-moved",
        "vip-banned",
        "quorum-lost",
        "quorum-lost-stop",
        "migration-threshold",
        "standby",
        "failed-stop-elsewhere",
        "bundle-group-clone",
        "live-healthy",
        "live-dummy-failed",
        "live-vip-banned",
    ];

    use super::*;
    use std::path::PathBuf;

    pub(crate) fn fixture(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pacemaker")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Both formats of a scenario, parsed; they must agree on everything but the format.
    fn both(scenario: &str) -> ClusterState {
        let xml = parse(&fixture(&format!("{scenario}.crm_mon.xml"))).unwrap();
        let legacy = parse(&fixture(&format!("{scenario}.crm_mon-legacy.xml"))).unwrap();
        assert_eq!(xml.format, OutputFormat::Xml);
        assert_eq!(legacy.format, OutputFormat::Legacy);
        assert_eq!(
            ClusterState {
                format: OutputFormat::Xml,
                ..legacy
            },
            xml,
            "{scenario}: the two formats disagree"
        );
        xml
    }

    #[test]
    fn healthy_three_nodes() {
        let s = both("healthy");
        assert_eq!(s.summary.stack.as_deref(), Some("corosync"));
        assert!(s.summary.dc_present && s.summary.with_quorum);
        assert_eq!(s.summary.dc_name.as_deref(), Some("controller01"));
        assert_eq!(s.summary.nodes_configured, 3);
        assert_eq!(s.summary.resources_configured, 4);
        assert!(!s.summary.stonith_enabled);
        assert_eq!(s.summary.no_quorum_policy.as_deref(), Some("ignore"));
        assert!(!s.summary.maintenance_mode);
        assert_eq!(s.nodes.len(), 3);
        assert!(s
            .nodes
            .iter()
            .all(|n| n.online && !n.standby && n.kind == "member"));
        assert!(s.node("controller01").unwrap().is_dc);
        assert_eq!(s.running_on("vip"), ["controller01"]);
        assert_eq!(s.running_on("lb-haproxy-clone"), ["controller01"]);
        // One Started and two Stopped anonymous instances, all with the same id.
        let haproxy: Vec<_> = s.instances("lb-haproxy-clone").collect();
        assert_eq!(haproxy.len(), 3);
        assert!(haproxy
            .iter()
            .all(|i| i.id == "lb-haproxy" && i.top_kind == Kind::Clone));
        assert_eq!(haproxy.iter().filter(|i| i.role == "stopped").count(), 2);
        assert!(s.failures.is_empty() && s.bans.is_empty());
        assert!(s.failed_resources().is_empty());
    }

    #[test]
    fn every_scenario_parses_in_both_formats() {
        for scenario in SCENARIOS {
            both(scenario);
        }
    }

    #[test]
    fn failed_monitor_and_fail_count() {
        let s = both("vip-monitor-failed");
        assert_eq!(s.failures.len(), 1);
        let f = &s.failures[0];
        assert_eq!(
            (f.node.as_str(), f.resource.as_str()),
            ("controller01", "vip")
        );
        assert_eq!((f.task.as_str(), f.exit_code), ("monitor", Some(7)));
        let fc = s
            .fail_counts
            .iter()
            .find(|f| f.node == "controller01" && f.resource == "vip")
            .unwrap();
        assert_eq!(fc.fail_count, 1);
        assert_eq!(s.running_on("vip"), ["controller01"]);
    }

    #[test]
    fn migration_threshold_reached_moves_the_vip() {
        let s = both("migration-threshold");
        let fc = s
            .fail_counts
            .iter()
            .find(|f| f.node == "controller01" && f.resource == "vip")
            .unwrap();
        assert_eq!((fc.fail_count, fc.migration_threshold), (1, Some(1)));
        assert_eq!(s.running_on("vip"), ["controller02"]);
        assert!(s.bans.is_empty());
    }

    #[test]
    fn node_down_standby_and_quorum() {
        let s = both("node-down");
        assert!(!s.node("controller02").unwrap().online);
        assert!(s.summary.with_quorum);
        let s = both("standby");
        let n = s.node("controller01").unwrap();
        assert!(n.online && n.standby && n.resources_running == 0);
        let s = both("quorum-lost");
        assert!(s.summary.dc_present && !s.summary.with_quorum);
        assert_eq!(s.running_on("vip"), ["controller01"]);
        let s = both("quorum-lost-stop");
        assert!(s.running_on("vip").is_empty());
        assert_eq!(s.summary.no_quorum_policy.as_deref(), Some("stop"));
    }

    #[test]
    fn bans_and_moves() {
        let s = both("vip-banned");
        assert_eq!(s.bans.len(), 1);
        assert_eq!(
            (s.bans[0].resource.as_str(), s.bans[0].node.as_str()),
            ("vip", "controller01")
        );
        assert_ne!(s.running_on("vip"), ["controller01"]);
        let s = both("vip-moved");
        assert_eq!(s.running_on("vip"), ["controller02"]);
        assert_eq!(s.running_on("lb-haproxy-clone"), ["controller02"]);
        let s = both("live-vip-banned");
        assert!(s.running_on("vip").is_empty());
        assert_eq!(s.bans[0].node, "vm");
    }

    #[test]
    fn groups_in_clones_and_bundles() {
        let s = both("bundle-group-clone");
        let galera: Vec<_> = s.instances("galera-grp-clone").collect();
        assert_eq!(galera.len(), 6);
        assert!(galera
            .iter()
            .all(|i| i.top_kind == Kind::Clone && i.role == "started"));
        assert_eq!(
            s.running_on("galera-grp-clone"),
            ["controller01", "controller02", "controller03"]
        );
        let rabbit: Vec<_> = s.instances("rabbitmq-bundle").collect();
        assert_eq!(rabbit.len(), 9);
        assert!(rabbit.iter().all(|i| i.top_kind == Kind::Bundle));
        assert_eq!(s.nodes.iter().filter(|n| n.kind == "remote").count(), 3);
        // `-r` changes nothing in XML output: inactive instances are always listed.
        let inactive = parse(&fixture("bundle-group-clone.crm_mon-inactive.xml")).unwrap();
        assert_eq!(inactive, s);
    }

    #[test]
    fn live_dummy_failure() {
        let s = both("live-dummy-failed");
        assert!(s
            .failures
            .iter()
            .any(|f| f.op_key == "dummy_monitor_5000" && f.resource == "dummy"));
        let h = both("live-healthy");
        assert_eq!(h.running_on("vip"), ["vm"]);
        assert!(h.failures.is_empty());
    }

    #[test]
    fn crm_mon_errors_are_reported_not_parsed_as_empty_clusters() {
        let err = parse(&fixture("live-no-permission.crm_mon.xml")).unwrap_err();
        assert!(
            matches!(err, CrmMonError::Reported { code: 4, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("Permission denied"), "{err}");
        let err = parse(&fixture("live-stopped.crm_mon.xml")).unwrap_err();
        assert!(
            matches!(err, CrmMonError::Reported { code: 102, .. }),
            "{err}"
        );
        for legacy in [
            "live-stopped.crm_mon-legacy.xml",
            "live-no-permission.crm_mon-legacy.xml",
        ] {
            assert_eq!(parse(&fixture(legacy)), Err(CrmMonError::NoSummary));
        }
        assert!(matches!(
            parse("<html/>"),
            Err(CrmMonError::UnexpectedRoot(_))
        ));
        assert!(matches!(
            parse("Segmentation fault"),
            Err(CrmMonError::Xml(_))
        ));
    }

    #[test]
    fn op_key_with_underscores() {
        assert_eq!(
            resource_of("my_vip_monitor_10000", "monitor", Some("10000ms")),
            "my_vip"
        );
        assert_eq!(
            resource_of("dummy_asyncmon_0", "asyncmon", Some("0")),
            "dummy"
        );
        assert_eq!(resource_of("a_b_c", "", None), "a");
        assert_eq!(resource_of("weird", "", None), "weird");
    }
}
