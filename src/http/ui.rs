//! /ui: one self-contained HTML page for people, for the moment Grafana is down or not set up yet.
//!
//! It renders the /status document on the server (no JavaScript, no external assets) and reloads
//! itself every few seconds. Each subsystem section of /status becomes a card: its verdict in
//! colour, its one-line reason, and its key figures; a subsystem added to /status appears here
//! without changes to this module. The writer card (`[writer]`) is coloured by the lease, not by
//! this node's `/writer` answer: a node that is not the writer while another one is, is fine.

use std::fmt::Write;
use std::time::Instant;

use axum::extract::State;
use axum::response::Html;
use serde_json::Value;

use super::AppState;
use super::{cluster, status};

/// How often the page reloads itself.
const REFRESH_SECONDS: u32 = 2;

/// Per subsystem, its title and the figures worth a glance, in order, as (label, JSON pointer
/// into the section); the rest stays in /status. Arrays of objects show as their length.
/// A subsystem's /status key, its title, and its figures as (label, JSON pointer).
type Card = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const KEY_FIGURES: &[Card] = &[
    (
        "galera",
        "Galera",
        &[
            ("state", "/state"),
            ("cluster status", "/cluster_status"),
            ("cluster size", "/cluster_size"),
            ("expected nodes", "/expected_nodes"),
            ("maintenance file", "/maintenance_file"),
            ("recovering", "/recovering"),
            ("provider version", "/provider_version"),
            ("snapshot age seconds", "/snapshot_age_seconds"),
            ("error", "/error"),
        ],
    ),
    (
        "pacemaker",
        "Pacemaker",
        &[
            ("quorum", "/summary/with_quorum"),
            ("DC", "/summary/dc_name"),
            ("nodes configured", "/summary/nodes_configured"),
            ("local node online", "/local_node/online"),
            ("failed actions", "/failed_actions"),
            ("stonith enabled", "/summary/stonith_enabled"),
            ("snapshot age seconds", "/snapshot_age_seconds"),
            ("error", "/error"),
        ],
    ),
    (
        "rabbitmq",
        "RabbitMQ",
        &[
            ("node", "/node"),
            ("RabbitMQ version", "/rabbitmq_version"),
            ("cluster nodes", "/nodes"),
            ("alarms", "/alarms"),
            ("policy present", "/policies/0/present"),
            ("policy matching", "/policies/0/matching"),
            ("AMQP probe", "/probe/last/outcome"),
            (
                "queues with unsynchronised mirrors",
                "/queues/summary/unsynchronised_mirrors",
            ),
            ("queues without HA policy", "/queues/summary/unprotected"),
            ("snapshot age seconds", "/snapshot_age_seconds"),
            ("error", "/error"),
        ],
    ),
    (
        "writer",
        "Writer",
        &[
            ("this node", "/identity"),
            ("lease holder", "/holder"),
            ("lease generation", "/generation"),
            ("holds the lease", "/holds_lease"),
            ("lease unchanged for seconds", "/lease_age_seconds"),
            ("since renewal seconds", "/since_renewal_seconds"),
            (
                "handover gap ends in seconds",
                "/handover_gap_remaining_seconds",
            ),
            ("last lease statement", "/last_statement/statement"),
            ("its result", "/last_statement/result"),
            ("error", "/error"),
        ],
    ),
    (
        "vip",
        "VIP",
        &[
            ("VIP", "/vips/0/name"),
            ("address", "/vips/0/address"),
            ("Pacemaker runs it on", "/vips/0/pacemaker_nodes"),
            ("held by this host", "/vips/0/held_locally"),
            ("Pacemaker and interface agree", "/vips/0/agree"),
        ],
    ),
];

pub async fn page(State(state): State<AppState>) -> Html<String> {
    let now = Instant::now();
    let status = status::document(&state, now);
    // The cluster section only with `[peers]`: without them it would be this node alone.
    let cluster = state
        .peers
        .is_some()
        .then(|| cluster::document(&state, now));
    Html(render_with(&status, cluster.as_ref()))
}

#[cfg(test)]
fn render(status: &Value) -> String {
    render_with(status, None)
}

/// The page: one card per /status section, then the /cluster document as a table of nodes.
pub fn render_with(status: &Value, cluster: Option<&Value>) -> String {
    let node = status["node_name"].as_str().unwrap_or("?");
    let mut html = String::with_capacity(4096);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>clustercheckd on {node}</title><style>{STYLE}</style></head><body>\
         <h1>clustercheckd on {node}</h1><p class=\"meta\">version {version}, up {uptime:.0} s; \
         reloads every {REFRESH_SECONDS} s</p>",
        node = escape(node),
        version = escape(status["version"].as_str().unwrap_or("?")),
        uptime = status["uptime_seconds"].as_f64().unwrap_or(0.0),
    );
    let sections = status
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.get("healthy").is_some());
    for (name, section) in sections {
        let known = KEY_FIGURES
            .iter()
            .find(|(subsystem, _, _)| subsystem == name);
        let title = known.map_or_else(|| title_case(name), |(_, title, _)| (*title).to_owned());
        let figures = known.map_or(&[][..], |(_, _, figures)| *figures);
        let (class, verdict) = card_verdict(name, section);
        let _ = write!(
            html,
            "<section class=\"{class}\" id=\"{id}\"><h2>{title} <span class=\"verdict\">{verdict}</span></h2>\
             <p class=\"reason\">{reason}</p><table>",
            id = escape(name),
            title = escape(&title),
            reason = escape(section["reason"].as_str().unwrap_or("")),
        );
        for (label, pointer) in figures {
            let Some(value) = section.pointer(pointer).filter(|v| !v.is_null()) else {
                continue;
            };
            let _ = write!(
                html,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(label),
                escape(&display(value))
            );
        }
        html.push_str("</table></section>");
    }
    if let Some(cluster) = cluster {
        render_cluster(&mut html, cluster);
    }
    html.push_str("<p class=\"meta\">Details: <a href=\"/status\">/status</a> (JSON), <a href=\"/cluster\">/cluster</a>, <a href=\"/metrics\">/metrics</a></p></body></html>\n");
    html
}

/// A card's colour class and verdict word. Most cards: this node's verdict. The writer card: is
/// this node the writer, or does another node hold the lease (fine, blue), or nobody (red: the
/// writes go to HAProxy's backup lines).
fn card_verdict(name: &str, section: &Value) -> (&'static str, &'static str) {
    let healthy = section["healthy"].as_bool().unwrap_or(false);
    if name != "writer" {
        return if healthy {
            ("ok", "healthy")
        } else {
            ("bad", "unhealthy")
        };
    }
    if healthy {
        ("ok", "the writer")
    } else if !section["handover_gap_remaining_seconds"].is_null() {
        ("info", "handover gap")
    } else if !section["error"].is_null() {
        ("bad", "lease unreadable")
    } else if section["holder"].as_str().is_some_and(|h| !h.is_empty()) {
        ("info", "not the writer")
    } else {
        ("bad", "no lease holder")
    }
}

/// The cluster card: whether the views agree, the writer, unreachable peers, and one row per
/// node with its verdict as its own daemon gives it.
fn render_cluster(html: &mut String, cluster: &Value) {
    let list = |key: &str| {
        cluster[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let agree = cluster["views_agree"].as_bool().unwrap_or(false);
    let (unreachable, stale) = (list("unreachable_peers"), list("stale_nodes"));
    let class = if agree && unreachable.is_empty() && stale.is_empty() {
        "ok"
    } else {
        "bad"
    };
    let verdict = if agree {
        "views agree"
    } else {
        "views disagree"
    };
    let mut summary = vec![format!(
        "writer: {}",
        cluster["writer"].as_str().unwrap_or("none claimed")
    )];
    if !unreachable.is_empty() {
        summary.push(format!("unreachable peers: {unreachable}"));
    }
    if !stale.is_empty() {
        summary.push(format!("stale: {stale}"));
    }
    let _ = write!(
        html,
        "<section class=\"{class}\" id=\"cluster\"><h2>Cluster <span class=\"verdict\">{verdict}</span></h2>\
         <p class=\"reason\">{}</p><table><tr><th>node</th><th>verdict</th><th>state</th>\
         <th>view (conf_id, size)</th><th>last committed</th><th>reason</th></tr>",
        escape(&summary.join("; "))
    );
    for node in cluster["nodes"].as_array().into_iter().flatten() {
        let mut name = node["name"].as_str().unwrap_or("?").to_owned();
        if node["self"] == true {
            name.push_str(" (this node)");
        }
        let verdict = match (node["reachable"].as_bool(), node["healthy"].as_bool()) {
            (Some(false), _) => "unreachable",
            (_, Some(true)) => "healthy",
            _ => "unhealthy",
        };
        let view = format!(
            "{} {}, {}",
            node["cluster_status"].as_str().unwrap_or("-"),
            display(&node["conf_id"]),
            display(&node["cluster_size"])
        );
        let reason = node["reason"]
            .as_str()
            .or_else(|| node["error"].as_str())
            .unwrap_or("");
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&name),
            verdict,
            escape(node["state"].as_str().unwrap_or("-")),
            escape(&view),
            escape(&display(&node["last_committed"])),
            escape(reason)
        );
    }
    html.push_str("</table></section>");
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;background:#fafafa;color:#222}\
section{border-radius:6px;padding:.6em 1em;margin:1em 0;border-left:10px solid}\
section.ok{border-color:#2e7d32;background:#e8f5e9}section.bad{border-color:#c62828;background:#ffebee}\
section.info{border-color:#1565c0;background:#e3f2fd}\
h2{margin:.2em 0}.verdict{font-size:.7em;text-transform:uppercase;letter-spacing:.05em}\
.ok .verdict{color:#2e7d32}.bad .verdict{color:#c62828}.info .verdict{color:#1565c0}\
.reason{font-weight:bold}\
th{text-align:left;padding-right:1.5em;font-weight:normal;color:#555}.meta{color:#777}";

fn title_case(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            items.iter().map(display).collect::<Vec<_>>().join(", ")
        }
        Value::Array(items) => items.len().to_string(),
        other => other.to_string(),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_each_section_with_verdict_and_key_figures() {
        let html = render(&json!({
            "node_name": "controller01",
            "version": "0.1.0",
            "uptime_seconds": 12.0,
            "galera": {"healthy": false, "reason": "Galera cluster node is not synced: Donor/Desynced.",
                       "state": "Donor/Desynced", "cluster_size": 3, "wsrep": {"x": 1}},
        }));
        assert!(html.contains("<section class=\"bad\" id=\"galera\">"));
        assert!(html.contains("not synced: Donor/Desynced."));
        assert!(html.contains("<th>cluster size</th><td>3</td>"));
        assert!(!html.contains("wsrep"), "nested details stay in /status");
        assert!(html.contains("http-equiv=\"refresh\""));
        assert!(!html.contains("src=\"http"), "no external assets");
        assert!(
            !html.contains("id=\"writer\""),
            "no writer card without [writer]"
        );
    }

    /// The writer card: this node's part of the lease, coloured by whether the cluster has a
    /// writer (a node that is not the writer while another one is, is fine).
    #[test]
    fn the_writer_card_shows_the_lease_and_whether_the_cluster_has_a_writer() {
        let card = |writer: Value| {
            let html = render(&json!({"node_name": "node1", "writer": writer}));
            let start = html.find("id=\"writer\"").expect("a writer card");
            let end = start + html[start..].find("</section>").expect("card end");
            (
                html[..start]
                    .rsplit("<section")
                    .next()
                    .unwrap_or("")
                    .to_owned(),
                html[start..end].to_owned(),
            )
        };
        let (class, html) = card(json!({
            "healthy": true, "reason": "This node is the writer (lease generation 7).",
            "is_writer": true, "identity": "node1", "holder": "node1", "generation": 7,
            "holds_lease": true, "lease_age_seconds": 0.3, "since_renewal_seconds": 0.4,
            "handover_gap_remaining_seconds": null, "error": null,
            "last_statement": {"statement": "renewal", "result": "ok", "age_seconds": 0.4},
        }));
        assert!(class.contains("class=\"ok\""), "{class}");
        assert!(
            html.contains(">Writer <span class=\"verdict\">the writer</span>"),
            "{html}"
        );
        assert!(html.contains("This node is the writer (lease generation 7)."));
        assert!(html.contains("<th>lease holder</th><td>node1</td>"));
        assert!(html.contains("<th>lease generation</th><td>7</td>"));
        assert!(html.contains("<th>since renewal seconds</th><td>0.4</td>"));
        assert!(html.contains("<th>last lease statement</th><td>renewal</td></tr>"));
        assert!(html.contains("<th>its result</th><td>ok</td>"));
        assert!(
            !html.contains("handover gap"),
            "no countdown once the gap has passed"
        );

        // Just acquired: the countdown, the acquisition.
        let (class, html) = card(json!({
            "healthy": false,
            "reason": "Not the writer yet: generation 8 acquired; handover gap ends in 3.2 s.",
            "holder": "node1", "generation": 8, "holds_lease": true,
            "handover_gap_remaining_seconds": 3.2, "error": null,
            "last_statement": {"statement": "acquisition", "result": "ok", "age_seconds": 3.8},
        }));
        assert!(class.contains("class=\"info\""), "{class}");
        assert!(
            html.contains("<span class=\"verdict\">handover gap</span>"),
            "{html}"
        );
        assert!(html.contains("<th>handover gap ends in seconds</th><td>3.2</td>"));
        assert!(html.contains("<td>acquisition</td>"));

        // Another node is the writer: fine.
        let (class, html) = card(json!({
            "healthy": false, "reason": "Not the writer: the lease is held by node2.",
            "holder": "node2", "holds_lease": false, "error": null,
            "handover_gap_remaining_seconds": null,
        }));
        assert!(class.contains("class=\"info\""), "{class}");
        assert!(html.contains("not the writer"), "{html}");
        assert!(html.contains("<th>lease holder</th><td>node2</td>"));

        // Nobody holds it, or it cannot be read: the writes go to the backups.
        let (class, html) = card(json!({
            "healthy": false, "reason": "Not the writer: this node does not hold the lease.",
            "holder": null, "error": null,
        }));
        assert!(class.contains("class=\"bad\""), "{class}");
        assert!(html.contains("no lease holder"), "{html}");
        let (class, html) = card(json!({
            "healthy": false, "reason": "Not the writer: this node does not hold the lease.",
            "holder": null, "error": "query failed: Access denied (1142)",
        }));
        assert!(class.contains("class=\"bad\""), "{class}");
        assert!(html.contains("<th>error</th><td>query failed: Access denied (1142)</td>"));
    }

    #[test]
    fn the_cluster_card_lists_every_node_and_escapes_them() {
        let html = render_with(
            &json!({"node_name": "c1"}),
            Some(&json!({
                "views_agree": false, "writer": null, "stale_nodes": ["node3"],
                "unreachable_peers": ["http://10.0.0.13:9200/status"],
                "nodes": [
                    {"name": "node1", "self": true, "reachable": true, "healthy": true,
                     "state": "Synced", "cluster_status": "Primary", "conf_id": 6,
                     "cluster_size": 2, "last_committed": 12, "reason": "synced <b>"},
                    {"name": "http://10.0.0.13:9200/status", "self": false, "reachable": false,
                     "error": "no answer within 1.0 s"}
                ]
            })),
        );
        assert!(
            html.contains("<section class=\"bad\" id=\"cluster\">"),
            "{html}"
        );
        assert!(html.contains("views disagree"));
        assert!(html.contains("node1 (this node)"));
        assert!(html.contains("Primary 6, 2"));
        assert!(html.contains("synced &lt;b&gt;"));
        assert!(html.contains("<td>unreachable</td>"));
        assert!(html.contains("stale: node3"));
    }

    #[test]
    fn escapes_everything_that_comes_from_outside() {
        let html = render(&json!({
            "node_name": "<script>alert(1)</script>",
            "galera": {"healthy": true, "reason": "a & b <c>", "error": "\"quoted\""},
        }));
        assert!(!html.contains("<script>"));
        assert!(html.contains("a &amp; b &lt;c&gt;"));
        assert!(html.contains("&quot;quoted&quot;"));
    }
}
