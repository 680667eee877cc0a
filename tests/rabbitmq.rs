//! The RabbitMQ collector and /rabbitmq check against the real three-node sandbox cluster
//! (scripts/sandbox.sh up rabbitmq: node 1 disc, 2 and 3 ram, ha-all), plus a hostile local
//! HTTP server for the cases a real broker will not produce on demand.
//!
//! Every test that reads or disturbs the cluster holds the RabbitMQ lock and registers Restore
//! guards (alarm off, start_app, ha-all back, test queues deleted), so a failed test leaves a
//! healthy cluster for the next one.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::prometheus::{shortened_rules, Prometheus};
use common::{env, env_num, lock, sandbox, Answer, Daemon, Restore};

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

/// Poll until `want` holds or fail with what was last seen.
fn wait_for<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    want: impl Fn(&T) -> bool,
) -> T {
    let start = Instant::now();
    loop {
        let value = probe();
        if want(&value) {
            return value;
        }
        assert!(
            start.elapsed() < within,
            "no {what} within {within:?}; last: {value:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
}

fn ready() -> common::ClusterLock {
    let guard = lock("rabbitmq");
    heal();
    guard
}

#[test]
fn healthy_cluster_is_200_everywhere_with_the_expected_metrics() {
    let _lock = ready();
    let daemons: Vec<Daemon> = (1..=3).map(|n| daemon(n, "")).collect();
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
    // The probes leave no connection and no queue behind.
    std::thread::sleep(Duration::from_millis(500));
    drop(daemons);
    std::thread::sleep(Duration::from_secs(1));
    let listing = api_get(1, "queues?columns=name,exclusive");
    assert!(!listing.contains("\"exclusive\":true"), "{listing}");
    let connections = api_get(1, "connections?columns=name");
    assert_eq!(connections.trim(), "[]", "probe connections left behind");
}

/// GET the sandbox API of node `n` (raw HTTP/1.0 with basic auth; the test needs no client).
fn api_get(n: u8, path: &str) -> String {
    let auth = base64(&format!("{}:{}", env()["RABBITMQ_USER"], password()));
    let answer = common::request(
        std::net::SocketAddr::from(([127, 0, 0, 1], mgmt_port(n))),
        &format!("GET /api/{path} HTTP/1.0\r\nAuthorization: Basic {auth}\r\n\r\n"),
    );
    assert_eq!(answer.status, 200, "GET /api/{path}: {}", answer.body);
    answer.body
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
    let _undo = Restore::new(|| {
        sandbox(&["rabbitmq", "start_app", "3"]);
    });
    sandbox(&["rabbitmq", "stop_app", "3"]);
    let name3 = nodename(3);
    wait_metric(
        &peer,
        &format!("clustercheckd_rabbitmq_node_running{{node=\"{name3}\"}}"),
        Duration::from_secs(15),
        |v| v == 0.0,
    );
    assert_eq!(
        peer.metric("clustercheckd_rabbitmq_cluster_nodes_running"),
        Some(2.0)
    );
    let answer = rabbit_check(&peer);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("2 of 3 nodes running"),
        "{}",
        answer.body
    );

    let answer = wait_status(&own, 503, Duration::from_secs(10));
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
    let lenient: Vec<Daemon> = (1..=3).map(|n| daemon(n, "")).collect();
    let strict: Vec<Daemon> = (1..=3)
        .map(|n| daemon(n, "fail_on_local_alarm = true"))
        .collect();
    for d in lenient.iter().chain(&strict) {
        wait_status(d, 200, Duration::from_secs(10));
    }
    let _undo = Restore::new(|| {
        sandbox(&["rabbitmq", "alarm", "2", "off"]);
    });
    sandbox(&["rabbitmq", "alarm", "2", "on"]);
    let name2 = nodename(2);
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

    sandbox(&["rabbitmq", "alarm", "2", "off"]);
    wait_status(&strict[1], 200, Duration::from_secs(10));
    for d in &lenient {
        wait_metric(
            d,
            "clustercheckd_rabbitmq_probe_success",
            Duration::from_secs(10),
            |v| v == 1.0,
        );
    }
    // Blocked probes left nothing behind once the broker noticed their sockets closed.
    drop(lenient);
    drop(strict);
    wait_for(
        Duration::from_secs(15),
        "no probe connection left",
        || api_get(1, "connections?columns=name"),
        |body| body.trim() == "[]",
    );
}

#[test]
fn deleted_ha_all_policy_is_reported_missing() {
    let _lock = ready();
    let d = daemon(1, "");
    wait_status(&d, 200, Duration::from_secs(10));
    let _undo = Restore::new(|| {
        sandbox(&["rabbitmq", "policy_restore"]);
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
        sandbox(&["rabbitmq", "delete_queues", QUEUE_PREFIX]);
    });
    let _app = Restore::new(|| {
        sandbox(&["rabbitmq", "start_app", "3"]);
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
    // Manual sync mode: it stays unsynchronised on its own.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(d.metric(unsync), Some(1.0));
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
    let answer = wait_status(&d, 503, Duration::from_secs(10));
    assert!(
        answer.body.contains("authentication failed"),
        "{}",
        answer.body
    );
    wait_metric(
        &d,
        "clustercheckd_collector_up{collector=\"rabbitmq\"}",
        Duration::from_secs(5),
        |v| v == 0.0,
    );
    // Galera's check, on the same daemon, is unaffected.
    let (galera, _) = d.wait_check(Duration::from_secs(10), "galera 200", |a| a.status == 200);
    assert_eq!(galera.body, "Galera cluster node is synced.\n");
    std::thread::sleep(Duration::from_secs(2));
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
        // Still alive, still bounded, several polls later.
        std::thread::sleep(Duration::from_secs(3));
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
    for d in &daemons {
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
    let answer = wait_status(&daemons[2], 503, Duration::from_secs(15));
    assert!(
        answer.body.contains("is in a minority: it reaches 1 of 3"),
        "{}",
        answer.body
    );
    for d in &daemons[..2] {
        let answer = wait_status(d, 200, Duration::from_secs(15));
        assert!(
            answer.body.contains("2 of 3 nodes running"),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        daemons[2].metric("clustercheckd_rabbitmq_minority"),
        Some(1.0)
    );
    assert_eq!(
        daemons[0].metric("clustercheckd_rabbitmq_minority"),
        Some(0.0)
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
