//! The RabbitMQ collector and /rabbitmq check against the real three-node sandbox cluster
//! (scripts/sandbox.sh up rabbitmq: node 1 disc, 2 and 3 ram, ha-all), plus a hostile local
//! HTTP server for the cases a real broker will not produce on demand.
//!
//! Every test that reads or disturbs the cluster holds the RabbitMQ lock and registers Restore
//! guards (alarm off, start_app, ha-all back, test queues deleted), so a failed test leaves a
//! healthy cluster for the next one.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fault_matrix::{record, FAULT};
use common::prometheus::{shortened_rules, Prometheus};
use common::{env, env_num, lock, sandbox, wait_for, Answer, Daemon, Restore};

/// Every queue a test creates starts so, and is deleted by the guard.
const QUEUE_PREFIX: &str = "ccdtest";

fn mgmt_port(n: u8) -> u16 {
    env_num("RABBITMQ_MGMT_PORT_BASE") + u16::from(n)
}

fn password() -> String {
    env()["RABBITMQ_PASSWORD"].clone()
}

fn nodename(n: u8) -> String {
    sandbox(&["rabbitmq", "nodename", &n.to_string()])
        .trim()
        .to_owned()
}

/// A `[rabbitmq]` section for sandbox node `n`, fast intervals, Galera off.
fn section(n: u8, extra: &str) -> String {
    format!(
        "[galera]\nenabled = false\n{}",
        common::rabbitmq_section(n, extra)
    )
}

fn daemon(n: u8, extra: &str) -> Daemon {
    Daemon::start(&section(n, extra))
}

fn rabbit_check(d: &Daemon) -> Answer {
    d.get("/rabbitmq")
}

/// The `rabbitmq` part of the daemon's /status: verdict, reason and node list in one sample.
fn rabbit_status(d: &Daemon) -> serde_json::Value {
    let status: serde_json::Value =
        serde_json::from_str(&d.get("/status").body).expect("/status is JSON");
    status["rabbitmq"].clone()
}

/// Whether `node` runs, as the /status sample `status` lists it.
fn node_running(status: &serde_json::Value, node: &str) -> Option<bool> {
    status["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == node)?["running"]
        .as_bool()
}

fn wait_metric(d: &Daemon, series: &str, within: Duration, want: impl Fn(f64) -> bool) -> f64 {
    wait_for(
        within,
        &format!("{series} as wanted"),
        || d.metric(series),
        |v| v.is_some_and(&want),
    )
    .unwrap_or_default()
}

fn wait_status(d: &Daemon, status: u16, within: Duration) -> Answer {
    wait_for(
        within,
        &format!("/rabbitmq {status}"),
        || rabbit_check(d),
        |a| a.status == status,
    )
}

/// Three running nodes, ha-all present, no alarm, no partition rules, no test queues — whatever
/// came before.
fn heal() {
    for n in 1..=3u8 {
        let _ = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args(["rabbitmq", "alarm", &n.to_string(), "off"])
            .output();
        sandbox_quiet(&["rabbitmq", "disk_alarm", &n.to_string(), "off"]);
    }
    sandbox(&["rabbitmq", "partition", "1", "off"]);
    sandbox(&["up", "rabbitmq"]);
    sandbox(&["rabbitmq", "policy_restore"]);
    sandbox(&["rabbitmq", "delete_queues", QUEUE_PREFIX]);
    // Users and vhosts a killed test run could not delete.
    for kind in ["users", "vhosts"] {
        if let Ok((200, body)) = api(1, "GET", kind, None) {
            let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            for item in list.as_array().into_iter().flatten() {
                if let Some(name) = item["name"]
                    .as_str()
                    .filter(|n| n.starts_with(QUEUE_PREFIX))
                {
                    delete_test_user(name);
                }
            }
        }
    }
}

fn ready() -> common::ClusterLock {
    let guard = lock("rabbitmq");
    heal();
    guard
}

#[test]
fn healthy_cluster_is_200_everywhere_with_the_expected_metrics() {
    let _lock = ready();
    let user = ProbeUser::create("healthy");
    let daemons: Vec<Daemon> = (1..=3).map(|n| daemon_as(n, &user, "")).collect();
    let names: Vec<String> = (1..=3).map(nodename).collect();
    for (i, d) in daemons.iter().enumerate() {
        let answer = wait_status(d, 200, Duration::from_secs(10));
        assert_eq!(
            answer.body,
            format!(
                "RabbitMQ node {} is running in a cluster with 3 of 3 nodes running.\n",
                names[i]
            )
        );
        let head = answer.head.to_ascii_lowercase();
        assert!(head.contains("connection: close") && head.contains("content-type: text/plain"));
        // Any method, as HAProxy may send.
        let options = common::request(d.addr(), "OPTIONS /rabbitmq HTTP/1.0\r\n\r\n");
        assert_eq!(options.status, 200);
        for (series, value) in [
            ("clustercheckd_rabbitmq_healthy", 1.0),
            ("clustercheckd_rabbitmq_cluster_nodes_expected", 3.0),
            ("clustercheckd_rabbitmq_cluster_nodes", 3.0),
            ("clustercheckd_rabbitmq_cluster_nodes_running", 3.0),
            ("clustercheckd_rabbitmq_alarms", 0.0),
            ("clustercheckd_rabbitmq_local_alarm", 0.0),
            ("clustercheckd_rabbitmq_mirroring_supported", 1.0),
            ("clustercheckd_rabbitmq_probe_success", 1.0),
            ("clustercheckd_collector_up{collector=\"rabbitmq\"}", 1.0),
            (
                "clustercheckd_rabbitmq_policy_present{vhost=\"/\",policy=\"ha-all\"}",
                1.0,
            ),
            (
                "clustercheckd_rabbitmq_policy_matching{vhost=\"/\",policy=\"ha-all\"}",
                1.0,
            ),
            (
                "clustercheckd_rabbitmq_policy_effective{vhost=\"/\",policy=\"ha-all\"}",
                1.0,
            ),
        ] {
            assert_eq!(
                d.metric(series),
                Some(value),
                "{series} on daemon {}",
                i + 1
            );
        }
        for (j, name) in names.iter().enumerate() {
            assert_eq!(
                d.metric(&format!(
                    "clustercheckd_rabbitmq_node_running{{node=\"{name}\"}}"
                )),
                Some(1.0)
            );
            let kind = if j == 0 { "disc" } else { "ram" };
            assert_eq!(
                d.metric(&format!(
                    "clustercheckd_rabbitmq_node_info{{node=\"{name}\",type=\"{kind}\"}}"
                )),
                Some(1.0),
                "node {name} should be {kind}"
            );
            assert_eq!(
                d.metric(&format!(
                    "clustercheckd_rabbitmq_node_alarm{{node=\"{name}\",resource=\"memory\"}}"
                )),
                Some(0.0)
            );
        }
        wait_metric(
            d,
            "clustercheckd_collector_up{collector=\"rabbitmq_queues\"}",
            Duration::from_secs(10),
            |v| v == 1.0,
        );
        assert_eq!(
            d.metric("clustercheckd_rabbitmq_queues_unsynchronised_mirrors"),
            Some(0.0)
        );
        assert_eq!(
            d.metric("clustercheckd_rabbitmq_queues_unprotected"),
            Some(0.0)
        );
        let rtt = d
            .metric("clustercheckd_rabbitmq_probe_round_trip_seconds")
            .expect("round trip exported");
        assert!(rtt > 0.0 && rtt < 1.0, "{rtt}");
        let status: serde_json::Value =
            serde_json::from_str(&d.get("/status").body).expect("/status is JSON");
        assert_eq!(status["rabbitmq"]["healthy"], true);
        assert_eq!(status["rabbitmq"]["node"], names[i].as_str());
    }
    // The probes leave no connection and no queue behind, counted on the broker while the
    // daemons run (once they are dead the kernel has closed their sockets anyway).
    let footprint = probe_footprint(&user, &daemons, LEAK_WINDOW);
    footprint.assert_bounded(1, Duration::from_secs(6));
}

/// How long the probes' footprint is watched: many 1 s probe intervals, and more than the
/// broker's statistics interval (collect_statistics_interval = 5 s in the sandbox), after which
/// a connection still open is listed by /api/connections.
const LEAK_WINDOW: Duration = Duration::from_secs(12);

/// What the probes of a [`ProbeUser`] held on the broker, sampled about once a second while
/// the daemons ran.
struct Footprint {
    /// When each sample was taken, from the start of the window.
    at: Vec<Duration>,
    /// Per sample: the client ports of the user's connections named "clustercheckd probe"
    /// (/api/connections lists a connection only after a statistics interval, 5 s here).
    connections: Vec<BTreeSet<u64>>,
    /// Per sample: the queues in the user's vhost, which only the probes use (listed at once).
    queues: Vec<BTreeSet<String>>,
    /// Probes the daemons completed (any outcome) during the window.
    probes: f64,
    daemons: usize,
}

impl Footprint {
    /// At most `per_daemon` probe connections and queues per daemon in any sample, and none
    /// listed for longer than `max_listed`: nothing accumulates, nothing is kept.
    fn assert_bounded(&self, per_daemon: usize, max_listed: Duration) {
        eprintln!(
            "footprint: {} probes; connections per sample {:?}; queues per sample {:?}",
            self.probes,
            self.connections
                .iter()
                .map(BTreeSet::len)
                .collect::<Vec<_>>(),
            self.queues.iter().map(BTreeSet::len).collect::<Vec<_>>()
        );
        // Several probes each (a blocked one takes the 2 s probe timeout), or the window proves
        // nothing.
        assert!(
            self.probes >= 3.0 * self.daemons as f64,
            "{} daemons completed only {} probes in {:?}",
            self.daemons,
            self.probes,
            self.at.last()
        );
        let bound = per_daemon * self.daemons;
        for (i, (connections, queues)) in self.connections.iter().zip(&self.queues).enumerate() {
            assert!(
                connections.len() <= bound && queues.len() <= bound,
                "sample {i} at {:?}: {} probe connections and {} probe queues of {} daemons \
                 (at most {bound} each): {connections:?} {queues:?}",
                self.at[i],
                connections.len(),
                queues.len(),
                self.daemons
            );
        }
        self.assert_listed_at_most(&self.connections, "connection", max_listed);
        self.assert_listed_at_most(&self.queues, "queue", max_listed);
    }

    fn assert_listed_at_most<T: Ord + std::fmt::Debug>(
        &self,
        samples: &[BTreeSet<T>],
        what: &str,
        max_listed: Duration,
    ) {
        for item in samples.iter().flatten().collect::<BTreeSet<_>>() {
            let mut seen = self
                .at
                .iter()
                .zip(samples)
                .filter(|(_, s)| s.contains(item))
                .map(|(t, _)| *t);
            let first = seen.next().unwrap_or_default();
            let last = seen.last().unwrap_or(first);
            assert!(
                last - first <= max_listed,
                "probe {what} {item:?} listed from {first:?} to {last:?} of the window, longer \
                 than {max_listed:?}: left behind"
            );
        }
    }
}

/// Sample `user`'s probe connections and queues on node 1's API about once a second for
/// `window`, while `daemons` (all probing as `user`) run.
fn probe_footprint(user: &ProbeUser, daemons: &[Daemon], window: Duration) -> Footprint {
    let probes = |d: &Daemon| -> f64 {
        PROBE_OUTCOMES
            .iter()
            .filter_map(|o| {
                d.metric(&format!(
                    "clustercheckd_rabbitmq_probes_total{{outcome=\"{o}\"}}"
                ))
            })
            .sum()
    };
    let before: f64 = daemons.iter().map(probes).sum();
    let start = Instant::now();
    let mut footprint = Footprint {
        at: Vec::new(),
        connections: Vec::new(),
        queues: Vec::new(),
        probes: 0.0,
        daemons: daemons.len(),
    };
    while start.elapsed() < window {
        footprint.at.push(start.elapsed());
        let connections: serde_json::Value = serde_json::from_str(&api_get(
            1,
            "connections?columns=user,vhost,peer_port,client_properties",
        ))
        .expect("connections listing is JSON");
        footprint.connections.push(
            connections
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| {
                    c["user"] == user.name.as_str()
                        && c["client_properties"]["connection_name"] == "clustercheckd probe"
                })
                .filter_map(|c| c["peer_port"].as_u64())
                .collect(),
        );
        let queues: serde_json::Value =
            serde_json::from_str(&api_get(1, &format!("queues/{}?columns=name", user.name)))
                .expect("queue listing is JSON");
        footprint.queues.push(
            queues
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|q| q["name"].as_str().map(str::to_owned))
                .collect(),
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    footprint.probes = daemons.iter().map(probes).sum::<f64>() - before;
    footprint
}

/// The outcome labels of `clustercheckd_rabbitmq_probes_total`.
const PROBE_OUTCOMES: [&str; 3] = ["success", "blocked", "failed"];

/// A RabbitMQ user and a vhost of the test's own, both named `ccdtest-<tag>`: the user is an
/// administrator (as RABBITMQ_USER is), and its daemons probe in that vhost. So the probes'
/// connections (by user) and queues (by vhost) are told apart from those of every other daemon
/// on the shared sandbox (the demo daemons and tests/alerts_e2e.rs probe as RABBITMQ_USER in /).
/// Both are deleted when it is dropped (and by `heal` if a run was killed).
struct ProbeUser {
    name: String,
}

impl ProbeUser {
    fn create(tag: &str) -> ProbeUser {
        // Owned before anything is created, so a failure half-way is cleaned up too.
        let user = ProbeUser {
            name: format!("{QUEUE_PREFIX}-{tag}"),
        };
        let name = &user.name;
        let password = serde_json::json!({"password": password(), "tags": "administrator"});
        api_ok(
            1,
            "PUT",
            &format!("users/{name}"),
            Some(&password.to_string()),
        );
        api_ok(1, "PUT", &format!("vhosts/{name}"), Some("{}"));
        for vhost in ["%2F", name] {
            api_ok(
                1,
                "PUT",
                &format!("permissions/{vhost}/{name}"),
                Some(r#"{"configure":".*","write":".*","read":".*"}"#),
            );
        }
        user
    }
}

impl Drop for ProbeUser {
    fn drop(&mut self) {
        delete_test_user(&self.name);
    }
}

/// The user and the vhost `name`. For guards: never panics.
fn delete_test_user(name: &str) {
    for path in [format!("vhosts/{name}"), format!("users/{name}")] {
        match api(1, "DELETE", &path, None) {
            Ok((204 | 404, _)) => {}
            other => eprintln!("restore: DELETE /api/{path}: {other:?}"),
        }
    }
}

/// A daemon for node `n` that connects as `user` and probes in its vhost.
fn daemon_as(n: u8, user: &ProbeUser, extra: &str) -> Daemon {
    let name = &user.name;
    let text = section(n, &format!("vhost = \"{name}\"\n{extra}")).replace(
        &format!("user = \"{}\"", env()["RABBITMQ_USER"]),
        &format!("user = \"{name}\""),
    );
    assert!(text.contains(&format!("user = \"{name}\"")), "{text}");
    Daemon::start(&text)
}

/// One call to the management API of node `n` as RABBITMQ_USER (raw HTTP/1.0 with basic auth;
/// the test needs no client): the status and body. Never panics, so guards can use it.
fn api(n: u8, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], mgmt_port(n)));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let auth = base64(&format!("{}:{}", env()["RABBITMQ_USER"], password()));
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} /api/{path} HTTP/1.0\r\nAuthorization: Basic {auth}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("{method} /api/{path}: {e}"))?;
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{method} /api/{path}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} /api/{path}: no status line in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// `api`, which must answer 2xx.
fn api_ok(n: u8, method: &str, path: &str, body: Option<&str>) -> String {
    match api(n, method, path, body) {
        Ok((status, body)) if (200..300).contains(&status) => body,
        other => panic!("{method} /api/{path} on node {n}: {other:?}"),
    }
}

/// GET the sandbox API of node `n`.
fn api_get(n: u8, path: &str) -> String {
    api_ok(n, "GET", path, None)
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn stopped_ram_node_is_seen_stopped_by_its_peers_and_503_by_itself() {
    let _lock = ready();
    let peer = daemon(1, "");
    let own = daemon(3, "");
    wait_status(&peer, 200, Duration::from_secs(10));
    wait_status(&own, 200, Duration::from_secs(10));
    let name3 = nodename(3);
    let _undo = Restore::new(|| {
        sandbox_quiet(&["rabbitmq", "start_app", "3"]);
    });
    let fault = Instant::now();
    sandbox(&["rabbitmq", "stop_app", "3"]);
    // The peer's verdict and its view of the nodes, from one /status document.
    let status = wait_for(
        Duration::from_secs(15),
        "node 3 not running in the peer's /status",
        || rabbit_status(&peer),
        |s| node_running(s, &name3) == Some(false),
    );
    let stopped = "RabbitMQ node stopped (stop_app on node 3)";
    let seen = fault.elapsed();
    record(
        stopped,
        "/rabbitmq, peer",
        &rabbit_check(&peer),
        FAULT,
        seen,
    );
    assert_eq!(status["healthy"], true, "{status}");
    let reason = status["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("2 of 3 nodes running"), "{reason}");

    let answer = wait_status(&own, 503, Duration::from_secs(10));
    record(stopped, "/rabbitmq, own", &answer, FAULT, fault.elapsed());
    assert!(
        answer.body.contains("management API unreachable"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("stopped"), "{}", answer.body);
    assert_eq!(
        own.metric("clustercheckd_collector_up{collector=\"rabbitmq\"}"),
        Some(0.0)
    );
    assert_eq!(
        own.metric("clustercheckd_rabbitmq_probe_success"),
        Some(0.0)
    );

    sandbox(&["rabbitmq", "start_app", "3"]);
    wait_status(&own, 200, Duration::from_secs(30));
    wait_metric(
        &peer,
        "clustercheckd_rabbitmq_cluster_nodes_running",
        Duration::from_secs(15),
        |v| v == 3.0,
    );
}

#[test]
fn memory_alarm_is_named_everywhere_and_fails_only_the_strict_local_node() {
    let _lock = ready();
    let user = ProbeUser::create("alarm");
    let lenient: Vec<Daemon> = (1..=3).map(|n| daemon_as(n, &user, "")).collect();
    let strict: Vec<Daemon> = (1..=3)
        .map(|n| daemon_as(n, &user, "fail_on_local_alarm = true"))
        .collect();
    for d in lenient.iter().chain(&strict) {
        wait_status(d, 200, Duration::from_secs(10));
    }
    let name2 = nodename(2);
    let _undo = Restore::new(|| {
        sandbox_quiet(&["rabbitmq", "alarm", "2", "off"]);
    });
    let fault_at = Instant::now();
    sandbox(&["rabbitmq", "alarm", "2", "on"]);
    let alarm = format!("memory alarm on {name2}");
    for (i, d) in lenient.iter().enumerate() {
        wait_metric(
            d,
            &format!("clustercheckd_rabbitmq_node_alarm{{node=\"{name2}\",resource=\"memory\"}}"),
            Duration::from_secs(10),
            |v| v == 1.0,
        );
        let answer = wait_for(
            Duration::from_secs(10),
            "a reason naming the alarm",
            || rabbit_check(d),
            |a| a.body.contains(&alarm),
        );
        if i == 1 {
            let fault = "RabbitMQ memory alarm on node 2";
            record(fault, "/rabbitmq, own", &answer, FAULT, fault_at.elapsed());
        }
        assert_eq!(answer.status, 200, "daemon {}: {}", i + 1, answer.body);
        assert_eq!(
            d.metric("clustercheckd_rabbitmq_local_alarm"),
            Some(if i == 1 { 1.0 } else { 0.0 })
        );
        // Publishing is blocked everywhere: the probe says so, and it is not a failure.
        wait_metric(
            d,
            "clustercheckd_rabbitmq_probe_outcome{outcome=\"blocked\"}",
            Duration::from_secs(10),
            |v| v == 1.0,
        );
    }
    let answer = wait_status(&strict[1], 503, Duration::from_secs(10));
    let took = fault_at.elapsed();
    let fault = "RabbitMQ memory alarm on node 2, fail_on_local_alarm = true";
    record(fault, "/rabbitmq, own", &answer, FAULT, took);
    assert!(answer.body.contains(&alarm), "{}", answer.body);
    assert!(
        answer.body.contains("fail_on_local_alarm"),
        "{}",
        answer.body
    );
    for i in [0, 2] {
        let answer = rabbit_check(&strict[i]);
        assert_eq!(
            answer.status,
            200,
            "strict daemon {}: {}",
            i + 1,
            answer.body
        );
    }

    // Blocked probes give up after the probe timeout and shut their socket; the broker, which
    // stops reading a blocked connection, notices at its next heartbeat. Counted on the broker
    // while the six daemons keep probing into the alarm: a bounded number, none kept.
    let daemons: Vec<Daemon> = lenient.into_iter().chain(strict).collect();
    let footprint = probe_footprint(&user, &daemons, BLOCKED_WINDOW);
    footprint.assert_bounded(3, Duration::from_secs(10));
    let (lenient, strict) = daemons.split_at(3);

    sandbox(&["rabbitmq", "alarm", "2", "off"]);
    wait_status(&strict[1], 200, Duration::from_secs(10));
    for d in lenient {
        wait_metric(
            d,
            "clustercheckd_rabbitmq_probe_success",
            Duration::from_secs(10),
            |v| v == 1.0,
        );
    }
}

/// Longer than a blocked probe connection can stay listed (2 s probe timeout, 2 s heartbeat,
/// the 5 s statistics interval): one kept open stays listed past `max_listed`.
const BLOCKED_WINDOW: Duration = Duration::from_secs(16);

#[test]
fn deleted_ha_all_policy_is_reported_missing() {
    let _lock = ready();
    let d = daemon(1, "");
    wait_status(&d, 200, Duration::from_secs(10));
    let _undo = Restore::new(|| {
        sandbox_quiet(&["rabbitmq", "policy_restore"]);
    });
    sandbox(&["rabbitmq", "ctl", "1", "clear_policy", "ha-all"]);
    let present = "clustercheckd_rabbitmq_policy_present{vhost=\"/\",policy=\"ha-all\"}";
    wait_metric(&d, present, Duration::from_secs(10), |v| v == 0.0);
    assert_eq!(
        d.metric("clustercheckd_rabbitmq_policy_matching{vhost=\"/\",policy=\"ha-all\"}"),
        Some(0.0)
    );
    sandbox(&["rabbitmq", "policy_restore"]);
    wait_metric(&d, present, Duration::from_secs(10), |v| v == 1.0);
}

#[test]
fn restarted_mirror_is_unsynchronised_until_sync_queue() {
    let _lock = ready();
    let _queues = Restore::new(|| {
        sandbox_quiet(&["rabbitmq", "delete_queues", QUEUE_PREFIX]);
    });
    let _app = Restore::new(|| {
        sandbox_quiet(&["rabbitmq", "start_app", "3"]);
    });
    let prefix = format!("{QUEUE_PREFIX}-sync");
    let queue = format!("{prefix}-00001");
    sandbox(&["rabbitmq", "make_queues", "1", "1", &prefix]);
    sandbox(&["rabbitmq", "publish", "1", &queue, "20"]);
    let d = daemon(1, "");
    let unsync = "clustercheckd_rabbitmq_queues_unsynchronised_mirrors";
    wait_metric(&d, unsync, Duration::from_secs(15), |v| v == 0.0);

    sandbox(&["rabbitmq", "stop_app", "3"]);
    sandbox(&["rabbitmq", "start_app", "3"]);
    wait_metric(&d, unsync, Duration::from_secs(20), |v| v >= 1.0);
    // Manual sync mode: it stays unsynchronised on its own, at every queue scan (2 s) of a
    // 6 s stretch.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(6) {
        assert_eq!(d.metric(unsync), Some(1.0), "after {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(500));
    }
    let status: serde_json::Value =
        serde_json::from_str(&d.get("/status").body).expect("/status is JSON");
    assert_eq!(
        status["rabbitmq"]["queues"]["summary"]["examples"]["unsynchronised_mirrors"][0],
        queue.as_str()
    );

    sandbox(&["rabbitmq", "ctl", "1", "sync_queue", &queue]);
    wait_metric(&d, unsync, Duration::from_secs(20), |v| v == 0.0);
}

#[test]
fn wrong_credentials_say_so_and_leave_galera_alone() {
    let _lock = ready();
    let _galera = lock("galera");
    let text = section(1, "")
        .replace("[galera]\nenabled = false\n", "")
        .replace(&password(), "not-the-password");
    let d = Daemon::start(&format!("{}{text}", common::galera_section(1, "")));
    // (Before the first poll completes the answer is 503 too, "no poll has completed yet".)
    let answer = wait_for(
        Duration::from_secs(10),
        "503 for the failed authentication",
        || rabbit_check(&d),
        |a| a.body.contains("authentication failed"),
    );
    assert_eq!(answer.status, 503, "{}", answer.body);
    wait_metric(
        &d,
        "clustercheckd_collector_up{collector=\"rabbitmq\"}",
        Duration::from_secs(5),
        |v| v == 0.0,
    );
    // Galera's check, on the same daemon, is unaffected.
    let (galera, _) = d.wait_check(Duration::from_secs(10), "galera 200", |a| a.status == 200);
    assert_eq!(galera.body, "Galera cluster node is synced.\n");
    // Still polling (two more failed polls), still 503.
    let errors = "clustercheckd_collector_poll_errors_total{collector=\"rabbitmq\"}";
    let seen = d.metric(errors).unwrap_or_default();
    wait_metric(&d, errors, Duration::from_secs(10), |v| v >= seen + 2.0);
    assert_eq!(rabbit_check(&d).status, 503, "still running, still 503");
    let log = d.log_text();
    assert!(log.contains("authentication failed"), "{log}");
    for page in [log, d.get("/status").body, d.get("/metrics").body] {
        assert!(
            !page.contains("not-the-password"),
            "password leaked: {page}"
        );
    }
}

/// How the hostile management API misbehaves.
#[derive(Clone, Copy)]
enum Hostile {
    InvalidJson,
    Hang,
    CloseMidBody,
}

/// A local HTTP server answering every request the same broken way, until dropped.
struct HostileServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl HostileServer {
    fn start(mode: Hostile) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                match mode {
                    Hostile::InvalidJson => {
                        let body = "{\"node\": \"rabbit@x\", oops";
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    // Keep the connection open and say nothing.
                    Hostile::Hang => held.push(stream),
                    Hostile::CloseMidBody => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n[{{\"name\": \"q1\", \"vh"
                        );
                    }
                }
            }
        });
        Self { port, stop }
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn hostile_management_api_is_bounded_and_reported() {
    for (mode, expect) in [
        (Hostile::InvalidJson, "is not what we expect"),
        (Hostile::Hang, "no complete answer within 1.0 s"),
        (Hostile::CloseMidBody, "management API"),
    ] {
        let server = HostileServer::start(mode);
        // AMQP goes to a closed port (held for the test, so nothing can listen there): only the
        // API is under test here.
        let closed = common::closed_port();
        let d = Daemon::start(&format!(
            "[galera]\nenabled = false\n[rabbitmq]\nenabled = true\ninterval = \"1s\"\n\
             queue_interval = \"1s\"\ntimeout = \"1s\"\nprobe_timeout = \"1s\"\n\
             management_url = \"http://127.0.0.1:{}\"\namqp_port = {}\n\
             user = \"u\"\npassword = \"p\"\n",
            server.port, closed.port
        ));
        let started = Instant::now();
        let answer = wait_for(
            Duration::from_secs(6),
            "503 naming the broken API",
            || rabbit_check(&d),
            |a| a.status == 503 && a.body.contains(expect),
        );
        assert!(started.elapsed() < Duration::from_secs(6));
        assert!(
            answer.elapsed < Duration::from_millis(500),
            "checks answer from memory"
        );
        assert_eq!(
            d.metric("clustercheckd_collector_up{collector=\"rabbitmq\"}"),
            Some(0.0)
        );
        // Still alive, still bounded, three polls later.
        let errors = "clustercheckd_collector_poll_errors_total{collector=\"rabbitmq\"}";
        let seen = d.metric(errors).unwrap_or_default();
        wait_metric(&d, errors, Duration::from_secs(10), |v| v >= seen + 3.0);
        let answer = rabbit_check(&d);
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(!d.log_text().contains("panicked"), "{}", d.log_text());
        let duration = d
            .metric("clustercheckd_collector_poll_duration_seconds{collector=\"rabbitmq\"}")
            .expect("poll duration");
        assert!(
            duration < 1.5,
            "a poll took {duration} s with a 1 s timeout"
        );
    }
}

/// Run `scripts/sandbox.sh ARGS` for a Restore guard: never panics (a panic while unwinding
/// aborts), reports a failure on stderr.
fn sandbox_quiet(args: &[&str]) {
    match std::process::Command::new("bash")
        .arg(common::repo().join("scripts/sandbox.sh"))
        .args(args)
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "restore: scripts/sandbox.sh {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("restore: scripts/sandbox.sh {}: {e}", args.join(" ")),
    }
}

/// Our own Prometheus (shortened `for:`) scraping `daemons`.
fn prometheus(daemons: &[&Daemon]) -> (tempfile::TempDir, Prometheus) {
    let rules = shortened_rules();
    let targets: Vec<String> = daemons.iter().map(|d| d.addr().to_string()).collect();
    let prometheus = Prometheus::start(rules.path(), &targets);
    prometheus.wait_targets_up(Duration::from_secs(30));
    (rules, prometheus)
}

/// Item 4: before the fix the health check's "disk space" matched no label, so
/// `node_alarm{resource="disk"}` stayed 0 and RabbitMQResourceAlarm never fired for a disk alarm.
#[test]
fn memory_and_disk_alarms_set_their_series_and_fire_the_alert() {
    let _lock = ready();
    let daemons: Vec<Daemon> = (1..=3).map(|n| daemon(n, "")).collect();
    for d in &daemons {
        wait_status(d, 200, Duration::from_secs(10));
    }
    let (_rules, prometheus) = prometheus(&daemons.iter().collect::<Vec<_>>());
    let _undo = Restore::new(|| {
        sandbox_quiet(&["rabbitmq", "alarm", "2", "off"]);
        sandbox_quiet(&["rabbitmq", "disk_alarm", "3", "off"]);
    });
    let (name2, name3) = (nodename(2), nodename(3));
    sandbox(&["rabbitmq", "alarm", "2", "on"]);
    sandbox(&["rabbitmq", "disk_alarm", "3", "on"]);
    for (i, d) in daemons.iter().enumerate() {
        for (node, resource) in [(&name2, "memory"), (&name3, "disk")] {
            wait_metric(
                d,
                &format!(
                    "clustercheckd_rabbitmq_node_alarm{{node=\"{node}\",resource=\"{resource}\"}}"
                ),
                Duration::from_secs(10),
                |v| v == 1.0,
            );
        }
        assert_eq!(
            d.metric(&format!(
                "clustercheckd_rabbitmq_node_alarm{{node=\"{name3}\",resource=\"memory\"}}"
            )),
            Some(0.0)
        );
        let answer = wait_for(
            Duration::from_secs(10),
            "a reason naming both alarms",
            || rabbit_check(d),
            |a| a.body.contains(&format!("disk alarm on {name3}")),
        );
        assert_eq!(answer.status, 200, "daemon {}: {}", i + 1, answer.body);
        for text in [
            format!("memory alarm on {name2} blocks publishers on every node"),
            format!("disk alarm on {name3} blocks publishers on every node"),
        ] {
            assert!(answer.body.contains(&text), "{}", answer.body);
        }
    }
    for (node, resource) in [(name2.as_str(), "memory"), (name3.as_str(), "disk")] {
        prometheus.wait_alert(
            "RabbitMQResourceAlarm",
            &[("node", node), ("resource", resource)],
            Some("firing"),
            Duration::from_secs(30),
        );
    }
    sandbox(&["rabbitmq", "disk_alarm", "3", "off"]);
    sandbox(&["rabbitmq", "alarm", "2", "off"]);
    for d in &daemons {
        wait_metric(
            d,
            "clustercheckd_rabbitmq_alarms",
            Duration::from_secs(10),
            |v| v == 0.0,
        );
    }
    prometheus.wait_alert(
        "RabbitMQResourceAlarm",
        &[("node", name3.as_str()), ("resource", "disk")],
        None,
        Duration::from_secs(30),
    );
}

/// Item 6: a durable queue whose home node stopped is listed with state `down` and no policy;
/// before the scan asked for `state`, it was counted unprotected and never as down.
#[test]
fn queue_whose_home_node_is_down_is_counted_down_not_unprotected() {
    let _lock = ready();
    let policy = format!("{QUEUE_PREFIX}-nomirror");
    let prefix = format!("{QUEUE_PREFIX}-down");
    let _undo = Restore::new({
        let policy = policy.clone();
        move || {
            sandbox_quiet(&["rabbitmq", "start_app", "3"]);
            sandbox_quiet(&["rabbitmq", "delete_queues", QUEUE_PREFIX]);
            sandbox_quiet(&["rabbitmq", "ctl", "1", "clear_policy", &policy]);
        }
    });
    // A higher-priority policy without mirroring wins over ha-all for these queues.
    sandbox(&[
        "rabbitmq",
        "ctl",
        "1",
        "set_policy",
        &policy,
        &format!("^{prefix}"),
        r#"{"max-length":100000}"#,
        "--priority",
        "10",
        "--apply-to",
        "queues",
    ]);
    sandbox(&["rabbitmq", "make_queues", "3", "2", &prefix]);
    let d = daemon(1, "");
    let (_rules, prometheus) = prometheus(&[&d]);
    let down = "clustercheckd_rabbitmq_queues_by_state{state=\"down\"}";
    let unprotected = "clustercheckd_rabbitmq_queues_unprotected";
    wait_metric(&d, unprotected, Duration::from_secs(15), |v| v == 2.0);
    assert_eq!(d.metric(down), Some(0.0));

    sandbox(&["rabbitmq", "stop_app", "3"]);
    wait_metric(&d, down, Duration::from_secs(20), |v| v == 2.0);
    assert_eq!(
        d.metric(unprotected),
        Some(0.0),
        "a down queue is not unprotected"
    );
    let status: serde_json::Value =
        serde_json::from_str(&d.get("/status").body).expect("/status is JSON");
    let examples = &status["rabbitmq"]["queues"]["summary"]["examples"]["unavailable"];
    assert!(
        examples.to_string().contains(&prefix),
        "examples of down queues: {examples}"
    );
    prometheus.wait_pending_then_firing(
        &[("RabbitMQQueuesUnavailable", &[("state", "down")])],
        Duration::from_secs(40),
    );

    sandbox(&["rabbitmq", "start_app", "3"]);
    wait_metric(&d, down, Duration::from_secs(30), |v| v == 0.0);
    assert_eq!(d.metric(unprotected), Some(2.0));
}

/// Every node's net_ticktime (seconds), at run time only; 60 is the default.
fn set_ticktime(seconds: u32) {
    for n in 1..=3u8 {
        sandbox_quiet(&[
            "rabbitmq",
            "ctl",
            &n.to_string(),
            "-q",
            "eval",
            &format!("net_kernel:set_net_ticktime({seconds}, 0)."),
        ]);
    }
}

/// The running nodes of `rabbitmqctl cluster_status` on node `n` (its own view), sorted.
fn running_nodes(n: u8) -> Vec<String> {
    let out = sandbox(&[
        "rabbitmq",
        "ctl",
        &n.to_string(),
        "cluster_status",
        "--formatter",
        "json",
    ]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let mut nodes: Vec<String> = status["running_nodes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// Item 5: with `ignore`, both sides list the partition; before the fix every node's /rabbitmq
/// failed. Node 3 is cut off from 1 and 2 in both directions (nft on the distribution ports and
/// source addresses); the minority answers 503 and the majority 200, during the cut and after the
/// network heals (partitions listed on every side), until node 3 restarts.
#[test]
fn partition_fails_only_the_minority() {
    let _lock = ready();
    let daemons: Vec<Daemon> = (1..=3).map(|n| daemon(n, "")).collect();
    // The same minority node with fail_on_partition off: it keeps answering 200.
    let lenient = daemon(3, "fail_on_partition = false");
    for d in daemons.iter().chain([&lenient]) {
        wait_status(d, 200, Duration::from_secs(10));
    }
    let (_rules, prometheus) = prometheus(&daemons.iter().collect::<Vec<_>>());
    let names: Vec<String> = (1..=3).map(nodename).collect();
    let healed = Arc::new(AtomicBool::new(false));
    let _undo = Restore::new({
        let healed = healed.clone();
        move || {
            sandbox_quiet(&["rabbitmq", "partition", "3", "off"]);
            set_ticktime(60);
            // With `ignore` the partition stays listed until one side restarts.
            if !healed.load(Ordering::Relaxed) {
                sandbox_quiet(&["rabbitmq", "restart_node", "3"]);
            }
            sandbox_quiet(&["up", "rabbitmq"]);
        }
    });
    set_ticktime(10);
    sandbox(&["rabbitmq", "partition", "3", "on"]);
    // The cut, as RabbitMQ itself sees it on each side.
    wait_for(
        Duration::from_secs(40),
        "node 3 running alone in its own view",
        || running_nodes(3),
        |nodes| nodes == &[names[2].clone()],
    );
    wait_for(
        Duration::from_secs(20),
        "nodes 1 and 2 without node 3",
        || running_nodes(1),
        |nodes| nodes == &[names[0].clone(), names[1].clone()],
    );
    // While the cut settles, node 3's management API can answer 500 for a moment (a 503
    // "state unknown", also right for HAProxy); the minority verdict follows.
    wait_for(
        Duration::from_secs(30),
        "/rabbitmq 503 naming the minority on node 3",
        || rabbit_check(&daemons[2]),
        |a| a.status == 503 && a.body.contains("is in a minority: it reaches 1 of 3"),
    );
    for d in &daemons[..2] {
        wait_for(
            Duration::from_secs(15),
            "/rabbitmq 200 with node 3 gone on the majority",
            || rabbit_check(d),
            |a| a.status == 200 && a.body.contains("2 of 3 nodes running"),
        );
    }
    // The verdict and the minority flag from one scrape each.
    for (d, healthy, minority) in [(&daemons[2], 0.0, 1.0), (&daemons[0], 1.0, 0.0)] {
        let page = d.get("/metrics").body;
        assert_eq!(
            (
                common::metric_value(&page, "clustercheckd_rabbitmq_healthy"),
                common::metric_value(&page, "clustercheckd_rabbitmq_minority")
            ),
            (Some(healthy), Some(minority)),
            "healthy and minority of daemon {}",
            d.addr()
        );
    }
    // fail_on_partition = false: the same node, the same view (it reaches 1 of 3), still 200.
    let status = wait_for(
        Duration::from_secs(15),
        "the lenient daemon to see its peers stopped",
        || rabbit_status(&lenient),
        |s| node_running(s, &names[0]) == Some(false),
    );
    assert_eq!(
        status["healthy"], true,
        "fail_on_partition = false: {status}"
    );
    assert!(
        status["reason"].as_str().is_some_and(|r| r.contains(
            "1 of 3 nodes running; this side is in a minority (fail_on_partition is off)"
        )),
        "{status}"
    );

    // The network heals; with `ignore` both sides now list the partition.
    sandbox(&["rabbitmq", "partition", "3", "off"]);
    let own = |i: usize| {
        format!(
            "clustercheckd_rabbitmq_node_partitions{{node=\"{}\"}}",
            names[i]
        )
    };
    wait_metric(&daemons[2], &own(2), Duration::from_secs(40), |v| v == 2.0);
    wait_metric(&daemons[0], &own(0), Duration::from_secs(20), |v| v == 1.0);
    wait_metric(&daemons[1], &own(1), Duration::from_secs(20), |v| v == 1.0);
    let answer = rabbit_check(&daemons[2]);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.body.contains(&format!(
            "network partition with {}, {}",
            names[0], names[1]
        )),
        "{}",
        answer.body
    );
    // The partition listed on both sides: the lenient minority daemon still answers 200.
    let status = wait_for(
        Duration::from_secs(20),
        "the lenient daemon to list the partition",
        || rabbit_status(&lenient),
        |s| {
            s["reason"]
                .as_str()
                .is_some_and(|r| r.contains("network partition with"))
        },
    );
    assert_eq!(
        status["healthy"], true,
        "fail_on_partition = false: {status}"
    );
    let reason = status["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("this side is in a minority") && !reason.contains("majority"),
        "{reason}"
    );
    for d in &daemons[..2] {
        let answer = wait_status(d, 200, Duration::from_secs(10));
        assert!(
            answer.body.contains(&format!(
                "network partition with {}, this side holds the majority",
                names[2]
            )),
            "{}",
            answer.body
        );
    }
    prometheus.wait_alert(
        "RabbitMQNodeInMinority",
        &[("instance", &daemons[2].addr().to_string())],
        Some("firing"),
        Duration::from_secs(30),
    );
    prometheus.wait_alert(
        "RabbitMQPartition",
        &[("node", names[0].as_str())],
        Some("firing"),
        Duration::from_secs(30),
    );
    assert_eq!(
        prometheus.alert_state(
            "RabbitMQNodeInMinority",
            &[("instance", &daemons[0].addr().to_string())]
        ),
        None,
        "the majority is not in a minority"
    );

    // Heal: restart the minority node.
    set_ticktime(60);
    sandbox(&["rabbitmq", "restart_node", "3"]);
    healed.store(true, Ordering::Relaxed);
    for (i, d) in daemons.iter().enumerate() {
        wait_status(d, 200, Duration::from_secs(30));
        wait_metric(d, &own(i), Duration::from_secs(20), |v| v == 0.0);
    }
}

/// Every node of node 1's cluster as (name, type, running), sorted by name.
fn cluster_nodes() -> Vec<(String, String, bool)> {
    let nodes: serde_json::Value =
        serde_json::from_str(&api_get(1, "nodes?columns=name,type,running")).expect("nodes JSON");
    let mut list: Vec<(String, String, bool)> = nodes
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or_default().to_owned(),
                n["type"].as_str().unwrap_or_default().to_owned(),
                n["running"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    list.sort();
    list
}

/// Issue #10 item 3: node 3 really leaves the cluster (`stop_app`, `reset`, `start_app`: it runs
/// alone, with a fresh database). Its own check fails as not a cluster member (not merely as a
/// minority, which `fail_on_partition` would also report); node 1's peers see a 2-node cluster
/// and stay 200. The guard joins node 3 back as a RAM node (`scripts/sandbox.sh up rabbitmq`),
/// and the test checks the cluster is as before.
#[test]
fn reset_node_is_not_a_cluster_member() {
    let _lock = ready();
    let names: Vec<String> = (1..=3).map(nodename).collect();
    let own = daemon(3, "");
    let peer = daemon(1, "");
    for d in [&own, &peer] {
        wait_status(d, 200, Duration::from_secs(10));
    }
    let undo = Restore::new(|| {
        // `up` finds node 3 alone, makes node 1 forget it if it still lists it, and joins it
        // back as a RAM node (stop_app, reset, join_cluster --ram, start_app).
        sandbox_quiet(&["up", "rabbitmq"]);
        sandbox_quiet(&["rabbitmq", "policy_restore"]);
    });
    for step in ["stop_app", "reset", "start_app"] {
        sandbox(&["rabbitmq", "ctl", "3", "-q", step]);
    }
    // (While the app was stopped, the answer was 503 for an unreachable API.)
    let answer = wait_for(
        Duration::from_secs(20),
        "node 3 alone",
        || rabbit_check(&own),
        |a| a.body.contains("not a cluster member"),
    );
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.body,
        format!(
            "RabbitMQ node {} is not a cluster member: it is alone, 3 nodes expected.\n",
            names[2]
        )
    );
    // Node 1's side, in one /status sample: two nodes listed, healthy.
    let status = wait_for(
        Duration::from_secs(15),
        "node 1's cluster without node 3",
        || rabbit_status(&peer),
        |s| s["nodes"].as_array().is_some_and(|n| n.len() == 2),
    );
    assert_eq!(status["healthy"], true, "{status}");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("2 of 2 nodes running")),
        "{status}"
    );

    drop(undo);
    assert_eq!(
        cluster_nodes(),
        vec![
            (names[0].clone(), "disc".to_owned(), true),
            (names[1].clone(), "ram".to_owned(), true),
            (names[2].clone(), "ram".to_owned(), true),
        ],
        "the cluster as before"
    );
    wait_status(&own, 200, Duration::from_secs(30));
    wait_metric(
        &own,
        "clustercheckd_rabbitmq_policy_present{vhost=\"/\",policy=\"ha-all\"}",
        Duration::from_secs(10),
        |v| v == 1.0,
    );
}

/// Issue #10 item 3: a real quorum queue (RabbitMQ 3.10 has them), declared through node 1 with
/// `x-queue-type = quorum`, so it has a member on each of the three nodes. With one member's
/// node stopped it keeps a majority; with two it is below quorum, as the broker's own listing
/// says (`online`). Replaces trusting only a hand-edited listing.
#[test]
fn quorum_queue_with_two_members_down_is_below_quorum() {
    let _lock = ready();
    let queue = format!("{QUEUE_PREFIX}-quorum");
    let _undo = Restore::new({
        let queue = queue.clone();
        move || {
            sandbox_quiet(&["rabbitmq", "start_app", "2"]);
            sandbox_quiet(&["rabbitmq", "start_app", "3"]);
            match api(1, "DELETE", &format!("queues/%2F/{queue}"), None) {
                Ok((204 | 404, _)) => {}
                other => eprintln!("restore: deleting queue {queue}: {other:?}"),
            }
        }
    });
    api_ok(
        1,
        "PUT",
        &format!("queues/%2F/{queue}"),
        Some(r#"{"durable":true,"auto_delete":false,"arguments":{"x-queue-type":"quorum"}}"#),
    );
    let online = || -> Vec<String> {
        let q: serde_json::Value =
            serde_json::from_str(&api_get(1, &format!("queues/%2F/{queue}"))).expect("queue JSON");
        q["online"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect()
    };
    wait_for(
        Duration::from_secs(15),
        "three members online",
        online,
        |o| o.len() == 3,
    );
    let d = daemon(1, "");
    let below = "clustercheckd_rabbitmq_quorum_queues_below_quorum";
    let scans = |d: &Daemon| rabbit_status(d)["api_calls"]["queues"]["calls_total"].as_f64();
    // The count of quorum queues and the verdict on them, from one scrape.
    let page = wait_for(
        Duration::from_secs(15),
        "the quorum queue counted",
        || d.get("/metrics").body,
        |p| common::metric_value(p, "clustercheckd_rabbitmq_queues{type=\"quorum\"}") == Some(1.0),
    );
    assert_eq!(common::metric_value(&page, below), Some(0.0));

    // One member down: 2 of 3 online is a majority.
    sandbox(&["rabbitmq", "stop_app", "3"]);
    wait_for(Duration::from_secs(20), "two members online", online, |o| {
        o.len() == 2
    });
    let seen = scans(&d).unwrap_or_default();
    wait_for(
        Duration::from_secs(10),
        "two more queue scans",
        || scans(&d),
        |s| s.is_some_and(|s| s >= seen + 2.0),
    );
    assert_eq!(d.metric(below), Some(0.0), "2 of 3 members online");

    // Two members down: 1 of 3 online, below quorum.
    sandbox(&["rabbitmq", "stop_app", "2"]);
    wait_metric(&d, below, Duration::from_secs(20), |v| v == 1.0);
    let examples = &rabbit_status(&d)["queues"]["summary"]["examples"]["quorum_below_quorum"];
    assert_eq!(examples, &serde_json::json!([queue]), "{examples}");

    sandbox(&["rabbitmq", "start_app", "2"]);
    wait_metric(&d, below, Duration::from_secs(30), |v| v == 0.0);
}
