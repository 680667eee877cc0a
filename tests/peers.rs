//! `[peers]` on the real sandbox: three daemons, one per Galera node, each with the two others as
//! peers, and what they make of each other.
//!
//! - `three_daemons_agree_on_the_cluster`: /cluster on every daemon lists all three nodes,
//!   healthy, in one Primary view; the metrics say so.
//! - `an_unreachable_or_hanging_peer_is_reported_and_the_check_stays_200`: a refused and a hung
//!   peer are reported in /cluster and `clustercheckd_peer_up`, while the check keeps answering
//!   200 at its usual speed (a peer is never on a check's path).
//! - `https_peers_with_a_ca_and_basic_auth`: a peer whose pages use the web config (TLS from a
//!   test CA, basic auth) is read with `ca_file`, `username` and `password_file`; a wrong password
//!   is reported as the peer's 401.
//! - `a_resumed_node_stays_503_until_its_peers_list_it_again`: node 3's mysqld frozen (SIGSTOP)
//!   for 20 s, longer than evs.suspect_timeout (5 s) and evs.inactive_timeout (15 s) in the
//!   sandbox, so nodes 1 and 2 evict it; then resumed. Sampling every ~75 ms, node 3's daemon
//!   must never answer 200 while nodes 1 and 2 (asked over SQL, the ground truth) both leave it
//!   out of mysql.wsrep_cluster_members, must say "stale view" after the resume, and must answer
//!   200 within 5 s of their listing it again. Its post-outage hold is turned off
//!   (`recovery_max_hold = "0s"`), so the peers' evidence is the only thing keeping it out.
//!
//! The stale-view rule needs the peers' member lists: the daemons here use a user of the test's
//! own (PROCESS and SELECT on mysql.wsrep_cluster_members, as the README grants), created at the
//! start and dropped at the end. Every test holds the Galera lock (the one that disturbs the
//! cluster heals it, even when it fails).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{galera_peer_daemons, Daemon, Restore};
use serde_json::Value;

const USER: &str = "clustercheck_peers";
const PASSWORD: &str = "sandbox-peers-pw";

fn socket(n: u8) -> PathBuf {
    PathBuf::from(&common::env()["SANDBOX_DIR"]).join(format!("galera/node{n}/mysqld.sock"))
}

/// The test's check user (PROCESS, SELECT on mysql.wsrep_cluster_members), dropped by the
/// returned guard; and the `[galera]` section of each node for it.
fn members_user() -> (Restore, [String; 3]) {
    for host in ["localhost", "127.0.0.1"] {
        common::galera_sql(
            1,
            &format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}';\
                 ALTER USER '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}';\
                 GRANT PROCESS ON *.* TO '{USER}'@'{host}';\
                 GRANT SELECT ON mysql.wsrep_cluster_members TO '{USER}'@'{host}';"
            ),
        );
    }
    let drop_user = Restore::new(|| {
        // Not galera_sql: a panic in a guard that runs while unwinding would abort.
        let _ = Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args([
                "galera",
                "sql",
                "1",
                &format!("DROP USER IF EXISTS '{USER}'@'localhost', '{USER}'@'127.0.0.1'"),
            ])
            .output();
    });
    let section = |n: u8| {
        format!(
            "[galera]\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\nsocket = \"{}\"\n\
             interval = \"1s\"\ntimeout = \"1s\"\n",
            socket(n).display()
        )
    };
    (drop_user, [section(1), section(2), section(3)])
}

fn cluster(d: &Daemon) -> Value {
    let answer = d.get("/cluster");
    assert_eq!(answer.status, 200, "/cluster: {answer:?}");
    serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("/cluster: {e}: {}", answer.body))
}

/// Poll `/cluster` of `d` until `want` holds; panics with the last document after `within`.
fn wait_cluster(d: &Daemon, within: Duration, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let doc = cluster(d);
        if want(&doc) {
            return doc;
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}; /cluster:\n{doc:#}\nlog:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn names(doc: &Value) -> BTreeSet<String> {
    doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str().map(str::to_owned))
        .collect()
}

fn all_three_agree(doc: &Value) -> bool {
    let nodes = doc["nodes"].as_array().cloned().unwrap_or_default();
    doc["views_agree"] == true
        && nodes.len() == 3
        && nodes
            .iter()
            .all(|n| n["reachable"] == true && n["healthy"] == true)
        && doc["this_node_in_peers_view"]["listed"] == true
}

#[test]
fn three_daemons_agree_on_the_cluster() {
    let _galera = common::lock("galera");
    let (_user, sections) = members_user();
    let daemons = galera_peer_daemons(sections, "");
    for d in &daemons {
        let doc = wait_cluster(
            d,
            Duration::from_secs(30),
            "three nodes that agree",
            all_three_agree,
        );
        assert_eq!(
            names(&doc),
            ["node1", "node2", "node3"].map(String::from).into(),
            "{doc:#}"
        );
        let views = doc["views"].as_array().expect("views");
        assert_eq!(views.len(), 1, "{doc:#}");
        assert_eq!(views[0]["nodes"].as_array().map(Vec::len), Some(3));
        assert_eq!(views[0]["cluster_size"], 3);
        assert_eq!(doc["unreachable_peers"], serde_json::json!([]));
        assert_eq!(doc["stale_nodes"], serde_json::json!([]));
        let uuids: BTreeSet<&str> = doc["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["node_uuid"].as_str())
            .collect();
        assert_eq!(uuids.len(), 3, "three distinct node UUIDs: {doc:#}");
        // Each node lists all three members.
        for node in doc["nodes"].as_array().into_iter().flatten() {
            assert_eq!(
                node["members"].as_array().map(Vec::len),
                Some(3),
                "{node:#}"
            );
        }
        let page = d.get("/metrics").body;
        assert_eq!(
            common::metric_value(&page, "clustercheckd_cluster_views_agree"),
            Some(1.0)
        );
        assert_eq!(
            common::metric_value(&page, "clustercheckd_collector_up{collector=\"peers\"}"),
            Some(1.0)
        );
        assert_eq!(
            page.lines()
                .filter(|l| l.starts_with("clustercheckd_peer_up{") && l.ends_with(" 1"))
                .count(),
            2,
            "{page}"
        );
        assert_eq!(
            common::metric_value(&page, "clustercheckd_galera_stale_view"),
            Some(0.0)
        );
        let ui = d.get("/ui").body;
        assert!(ui.contains("id=\"cluster\""), "{ui}");
        assert!(ui.contains("node3"), "{ui}");
    }
}

#[test]
fn an_unreachable_or_hanging_peer_is_reported_and_the_check_stays_200() {
    let _galera = common::lock("galera");
    let closed = common::closed_port();
    // Accepts connections (the kernel does) but never answers: a hung peer.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused_url = format!("http://127.0.0.1:{}/status", closed.port);
    let hung_url = format!("http://{}/status", hung.local_addr().expect("address"));
    let d = Daemon::start(&format!(
        "{}[peers]\nurls = [\"{refused_url}\", \"{hung_url}\"]\ninterval = \"1s\"\n\
         timeout = \"500ms\"\n",
        common::galera_section(1, "")
    ));
    let doc = wait_cluster(&d, Duration::from_secs(15), "both peers reported", |doc| {
        doc["unreachable_peers"].as_array().map(Vec::len) == Some(2)
            && doc["nodes"][2]["error"].is_string()
    });
    let error = |url: &str| {
        doc["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["url"] == url)
            .and_then(|n| n["error"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        error(&refused_url).contains("Connection refused"),
        "{doc:#}"
    );
    assert!(
        error(&hung_url).contains("no answer within 0.5 s"),
        "{doc:#}"
    );
    assert_eq!(
        doc["views_agree"], true,
        "one node cannot disagree with itself"
    );
    let page = d.get("/metrics").body;
    for url in [&refused_url, &hung_url] {
        assert_eq!(
            common::metric_value(&page, &format!("clustercheckd_peer_up{{peer=\"{url}\"}}")),
            Some(0.0),
            "{page}"
        );
    }
    assert_eq!(
        common::metric_value(&page, "clustercheckd_collector_up{collector=\"peers\"}"),
        Some(0.0)
    );
    assert!(
        d.log_text().contains("peer unreachable"),
        "{}",
        d.log_text()
    );
    // The check: 200 throughout, answered from memory while a peer hangs for 0.5 s per round.
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(3) {
        let answer = d.check();
        assert_eq!(answer.status, 200, "{answer:?}");
        slowest = slowest.max(answer.elapsed);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        slowest < Duration::from_millis(200),
        "slowest check {slowest:?}"
    );
    drop(hung);
}

#[test]
fn https_peers_with_a_ca_and_basic_auth() {
    let _galera = common::lock("galera");
    let pki = common::pki::Pki::new();
    let web = pki.web_config("peer", "peer-pw");
    let peer = Daemon::start_with_args(
        &format!(
            "[listen]\nmetrics = \"127.0.0.1:0\"\n{}",
            common::galera_section(2, "")
        ),
        &[std::ffi::OsStr::new("--web.config.file"), web.as_os_str()],
    );
    let url = format!(
        "https://127.0.0.1:{}/status",
        peer.metrics.expect("metrics listener").port()
    );
    let reader = |password: &str| {
        Daemon::start(&format!(
            "{}{}",
            common::galera_section(1, ""),
            pki.peers_section(std::slice::from_ref(&url), "peer", password)
        ))
    };
    let good = reader("peer-pw");
    let doc = wait_cluster(
        &good,
        Duration::from_secs(15),
        "the https peer read",
        |doc| doc["nodes"][1]["reachable"] == true,
    );
    assert_eq!(doc["nodes"][1]["name"], "node2", "{doc:#}");
    let bad = reader("wrong-pw");
    let doc = wait_cluster(&bad, Duration::from_secs(15), "the 401 reported", |doc| {
        doc["nodes"][1]["error"].is_string()
    });
    assert_eq!(doc["nodes"][1]["error"], "answered HTTP 401", "{doc:#}");
    assert!(!bad.log_text().contains("wrong-pw"), "{}", bad.log_text());
}

/// Whether node `n` lists node3 in mysql.wsrep_cluster_members, asked over SQL as the test's
/// user through one persistent connection per node; `None` when it cannot tell (no answer within
/// a second, or the node is not Primary).
struct GroundTruth {
    runtime: tokio::runtime::Runtime,
    conns: Vec<Option<mysql_async::Conn>>,
}

impl GroundTruth {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Self {
            runtime,
            conns: vec![None, None],
        }
    }

    fn lists_node3(&mut self, n: u8) -> Option<bool> {
        use mysql_async::prelude::Queryable;
        let slot = usize::from(n - 1);
        let mut conn = self.conns[slot].take();
        let result = self.runtime.block_on(async {
            let query = async {
                if conn.is_none() {
                    let opts = mysql_async::OptsBuilder::default()
                        .user(Some(USER))
                        .pass(Some(PASSWORD))
                        .socket(Some(socket(n).to_string_lossy().into_owned()));
                    conn = Some(mysql_async::Conn::new(opts).await?);
                }
                let c = conn.as_mut().expect("connected");
                let status: Option<(String, String)> = c
                    .query_first("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_status'")
                    .await?;
                let names: Vec<String> = c
                    .query("SELECT node_name FROM mysql.wsrep_cluster_members")
                    .await?;
                Ok::<_, mysql_async::Error>((status, names))
            };
            tokio::time::timeout(Duration::from_secs(1), query).await
        });
        match result {
            Ok(Ok((Some((_, status)), names))) => {
                self.conns[slot] = conn;
                (status == "Primary").then(|| names.iter().any(|n| n == "node3"))
            }
            _ => None,
        }
    }

    /// Both peers list node3 (`Some(true)`), neither does (`Some(false)`), or not known.
    fn peers_list_node3(&mut self) -> Option<bool> {
        match (self.lists_node3(1), self.lists_node3(2)) {
            (Some(a), Some(b)) if a == b => Some(a),
            _ => None,
        }
    }
}

fn sandbox_galera(verb: &str, n: u8) {
    common::sandbox(&["galera", verb, &n.to_string()]);
}

#[test]
fn a_resumed_node_stays_503_until_its_peers_list_it_again() {
    let _galera = common::lock("galera");
    let (_user, [s1, s2, s3]) = members_user();
    // Node 3's daemon has no post-outage hold: only the peers can keep it out.
    let s3 = format!("{s3}recovery_max_hold = \"0s\"\n");
    let daemons = galera_peer_daemons([s1, s2, s3], "");
    let node3 = &daemons[2];
    wait_cluster(
        node3,
        Duration::from_secs(30),
        "three nodes that agree",
        all_three_agree,
    );
    let mut truth = GroundTruth::new();
    assert_eq!(truth.peers_list_node3(), Some(true), "before the freeze");

    let _heal = Restore::new(|| {
        let _ = Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args(["galera", "sigcont", "3"])
            .output();
        common::galera_heal();
    });
    sandbox_galera("sigstop", 3);
    let frozen_at = Instant::now();
    let mut resumed_at: Option<Instant> = None;
    let mut excluded_seen = false;
    let mut listed_again_at: Option<Instant> = None;
    let mut healthy_at: Option<Instant> = None;
    let mut violations = Vec::new();
    let mut stale_view_seen = false;
    let mut timeline: Vec<(f64, u16, String)> = Vec::new();
    let mut samples = 0u32;
    let deadline = frozen_at + Duration::from_secs(120);
    while Instant::now() < deadline {
        if resumed_at.is_none() && frozen_at.elapsed() >= Duration::from_secs(20) {
            sandbox_galera("sigcont", 3);
            resumed_at = Some(Instant::now());
        }
        let before = truth.peers_list_node3();
        let answer = node3.check();
        let after = truth.peers_list_node3();
        samples += 1;
        let at = frozen_at.elapsed().as_secs_f64();
        let reason = answer.body.trim_end().to_owned();
        if timeline.last().is_none_or(|(_, status, r)| {
            *status != answer.status || reason_kind(r) != reason_kind(&reason)
        }) {
            timeline.push((at, answer.status, reason.clone()));
        }
        if before == Some(false) || after == Some(false) {
            excluded_seen = true;
        }
        if before == Some(false) && after == Some(false) && answer.status == 200 {
            violations.push(format!(
                "{at:.2} s: 200 while nodes 1 and 2 exclude node 3: {reason}"
            ));
        }
        if resumed_at.is_some() && reason.contains("stale view:") {
            stale_view_seen = true;
        }
        if resumed_at.is_some()
            && excluded_seen
            && listed_again_at.is_none()
            && before == Some(true)
        {
            listed_again_at = Some(Instant::now());
        }
        if listed_again_at.is_some() && answer.status == 200 {
            healthy_at = Some(Instant::now());
            break;
        }
        std::thread::sleep(Duration::from_millis(75));
    }
    let summary = timeline
        .iter()
        .map(|(at, status, reason)| format!("  {at:6.2} s  {status}  {reason}"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("node 3's check ({samples} samples), changes:\n{summary}");
    assert!(
        excluded_seen,
        "nodes 1 and 2 never evicted node 3:\n{summary}"
    );
    assert!(violations.is_empty(), "{violations:#?}\n{summary}");
    assert!(
        stale_view_seen,
        "after the resume node 3 never said \"stale view\":\n{summary}"
    );
    let listed = listed_again_at.expect("nodes 1 and 2 never listed node 3 again");
    let healthy = healthy_at.unwrap_or_else(|| panic!("node 3 never answered 200:\n{summary}"));
    let delay = healthy.saturating_duration_since(listed);
    eprintln!(
        "resumed at {:.1} s; peers listed node 3 again {:.1} s after the resume; 200 {:.2} s later",
        resumed_at.map_or(0.0, |r| (r - frozen_at).as_secs_f64()),
        resumed_at.map_or(0.0, |r| (listed - r).as_secs_f64()),
        delay.as_secs_f64()
    );
    assert!(
        delay <= Duration::from_secs(5),
        "200 came {delay:?} after the peers listed node 3 again:\n{summary}"
    );
}

/// A reason without its changing numbers, for the timeline.
fn reason_kind(reason: &str) -> String {
    reason
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '.')
        .collect()
}
