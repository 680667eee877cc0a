//! The check listener's HTTP behaviour with whatever a load balancer, a scraper or a hostile
//! client sends, and start-up refusal of broken configurations. No cluster needed: the daemon
//! points at a socket where no server listens, so every check is a 503 "unreachable".
//!
//! HTTP behaviour is tested on the real server inside the test process ([`Server`]:
//! `clustercheckd::run` on listeners bound to 127.0.0.1:0); what only the binary does (exit
//! codes, signals, reporting the bound addresses) on a spawned [`Daemon`].

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{request, Answer, Daemon, Server};

const WITHOUT_DATABASE: &str =
    "[galera]\nsocket = \"/nonexistent/mysqld.sock\"\ninterval = \"200ms\"\n";

fn server_without_database(extra: &str) -> Server {
    Server::start(&format!("{WITHOUT_DATABASE}{extra}"))
}

fn daemon_without_database(extra: &str) -> Daemon {
    Daemon::start(&format!("{WITHOUT_DATABASE}{extra}"))
}

/// Poll the check of `server` until `want(answer)`, at most `within`.
fn wait_server(server: &Server, within: Duration, want: impl Fn(&Answer) -> bool) -> Answer {
    let start = Instant::now();
    loop {
        let answer = server.check();
        if want(&answer) {
            return answer;
        }
        assert!(
            start.elapsed() < within,
            "not as expected within {within:?}; last answer: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait (at most `within`) until the daemon's log holds `text`.
fn wait_log(daemon: &Daemon, within: Duration, text: &str) {
    let start = Instant::now();
    while !daemon.log_text().contains(text) {
        assert!(
            start.elapsed() < within,
            "no {text:?} in the log within {within:?}:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run the binary on `config` under `strace -f -e trace=bind,listen`; the exit status, stderr
/// and the traced calls. strace is installed by scripts/install-deps.sh; without it this fails.
fn traced_run(config: &std::path::Path, trace: &std::path::Path) -> (Option<i32>, String, String) {
    let output = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=bind,listen", "-o"])
        .arg(trace)
        .arg(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("--config")
        .arg(config)
        .output()
        .unwrap_or_else(|e| panic!("cannot run strace (scripts/install-deps.sh installs it): {e}"));
    let calls = std::fs::read_to_string(trace).expect("strace output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        calls,
    )
}

#[test]
fn answers_options_get_head_on_any_path_in_http_1_0_and_1_1() {
    let server = server_without_database("");
    // The first poll's verdict, not the "no poll has completed yet" answer before it.
    wait_server(&server, Duration::from_secs(3), |a| {
        a.body.contains("database unreachable")
    });
    for raw in [
        "OPTIONS / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET /any/path?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /whatever HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    ] {
        let answer = request(server.check, raw);
        assert_eq!(answer.status, 503, "{raw:?}: {answer:?}");
        assert!(
            answer.body.contains("database unreachable"),
            "{raw:?}: {}",
            answer.body
        );
        assert!(answer
            .head
            .to_ascii_lowercase()
            .contains("connection: close"));
    }
    let head = request(server.check, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 503);
    assert_eq!(head.body, "", "HEAD has no body");
}

#[test]
fn client_closing_without_reading_does_not_disturb_the_next_check() {
    let server = server_without_database("");
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.check).expect("connect");
        let _ = stream.write_all(b"OPTIONS / HTTP/1.0\r\n\r\n");
        drop(stream);
    }
    // Half a request, then gone.
    let mut stream = TcpStream::connect(server.check).expect("connect");
    let _ = stream.write_all(b"GET / HT");
    drop(stream);
    assert_eq!(server.check().status, 503);
}

#[test]
fn slow_client_is_cut_off_by_the_header_timeout_and_checks_keep_flowing() {
    let server = server_without_database("[listen]\nheader_read_timeout = \"500ms\"");
    let mut slow = TcpStream::connect(server.check).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\n").expect("partial head");
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let start = Instant::now();
    let mut buffer = Vec::new();
    let read = slow.read_to_end(&mut buffer);
    let cut_after = start.elapsed();
    // Closed by the server (end of file, not our 5 s read timeout), and by the header timeout:
    // not before 500 ms, not long after.
    assert!(read.is_ok(), "not closed by the server: {read:?}");
    assert!(
        cut_after >= Duration::from_millis(450) && cut_after < Duration::from_secs(3),
        "slow client cut off after {cut_after:?}, header_read_timeout is 500 ms"
    );
    assert_eq!(server.check().status, 503);
}

/// `max_connections` is the bound on connections served at once: with every slot held by a
/// silent client, a check is accepted by the kernel but not answered; when one slot frees, that
/// same check is served. One slot fewer held, and a check is answered at once.
#[test]
fn check_beyond_max_connections_waits_for_a_slot_and_is_then_served() {
    // A long header timeout, so the silent clients keep their slots for the whole test.
    let server = server_without_database(
        "[listen]\nheader_read_timeout = \"8s\"\nmax_connections = 2\n\
         max_connections_per_source = 64",
    );
    wait_server(&server, Duration::from_secs(3), |a| {
        a.body.contains("database unreachable")
    });

    // max_connections - 1 slots held: a check is still answered at once.
    let first = TcpStream::connect(server.check).expect("connect");
    let answer = server.check();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(
        answer.elapsed < Duration::from_millis(500),
        "with one of two slots held the check took {:?}",
        answer.elapsed
    );

    // Every slot held: a check waits.
    let second = TcpStream::connect(server.check).expect("connect");
    let mut waiting = TcpStream::connect(server.check).expect("connect (the kernel accepts)");
    waiting
        .write_all(b"OPTIONS / HTTP/1.0\r\n\r\n")
        .expect("send the check");
    waiting
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("read timeout");
    let mut byte = [0u8; 1];
    let early = waiting.read(&mut byte);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "a check beyond max_connections = 2 was answered while both slots were held: {early:?}"
    );

    // One slot frees: the waiting check is served, whole.
    drop(first);
    let freed = Instant::now();
    waiting
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("read timeout");
    let mut bytes = Vec::new();
    waiting
        .read_to_end(&mut bytes)
        .expect("the waiting check is answered once a slot frees");
    let served_after = freed.elapsed();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("HTTP/1.0 503") || text.starts_with("HTTP/1.1 503"),
        "{text}"
    );
    assert!(text.contains("database unreachable"), "{text}");
    assert!(
        served_after < Duration::from_secs(1),
        "served {served_after:?} after a slot freed"
    );
    drop(second);
}

#[test]
fn separate_metrics_listener_takes_the_pages_away_from_the_check_port() {
    let server = Server::start(
        "[listen]\ncheck = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n\
         [galera]\nsocket = \"/nonexistent/mysqld.sock\"\n",
    );
    let metrics = server.metrics.expect("a metrics listener");
    assert_ne!(metrics, server.check);
    // On the check port the pages answer 404 naming the listener they moved to, in any case and
    // with or without a trailing slash; never the Galera verdict.
    for path in ["/metrics", "/status", "/ui", "/Metrics/", "/STATUS"] {
        let on_check = server.get(path);
        assert_eq!(on_check.status, 404, "{path}: {on_check:?}");
        assert!(
            on_check.body.contains(&format!("http://{metrics}")),
            "{path}: {}",
            on_check.body
        );
        assert!(!on_check.body.contains("clustercheckd_"));
        assert!(!on_check.body.contains("unreachable"), "{}", on_check.body);
    }
    let page = request(metrics, "GET /metrics HTTP/1.0\r\n\r\n");
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("clustercheckd_collector_up{collector=\"galera\"} 0"));
    let status = request(metrics, "GET /status HTTP/1.0\r\n\r\n");
    assert_eq!(status.status, 200);
    assert!(status.body.contains("\"healthy\":false"));
}

/// The binary asked for port 0 on both listeners reports the ports it bound in its ready file
/// (which `Daemon` reads) and in its log, and each address is the listener it names.
#[test]
fn daemon_on_port_0_reports_the_addresses_it_bound() {
    let daemon = Daemon::start(&format!(
        "[listen]\ncheck = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n{WITHOUT_DATABASE}"
    ));
    let metrics = daemon.metrics.expect("metrics= in the ready file");
    assert_ne!(daemon.check.port(), 0);
    assert_ne!(metrics.port(), 0);
    assert_ne!(daemon.check, metrics);
    assert_eq!(daemon.check().status, 503);
    assert_eq!(
        request(metrics, "GET /metrics HTTP/1.0\r\n\r\n").status,
        200,
        "metrics= names the metrics listener"
    );
    let log = daemon.log_text();
    let listening = log
        .lines()
        .find(|l| l.contains("clustercheckd listening"))
        .unwrap_or_else(|| panic!("no listening line: {log}"));
    assert!(
        listening.contains(&format!("check={}", daemon.check)),
        "the log names the bound address: {listening}"
    );
}

#[test]
fn unreachable_database_is_503_within_an_interval_and_metrics_say_down() {
    // The fault is there from the start: the clock starts with the daemon, and the first poll
    // (at once, then every 200 ms) must name it within one interval plus 500 ms of slack.
    let started = Instant::now();
    let server = server_without_database("");
    let answer = wait_server(&server, Duration::from_secs(3), |a| {
        a.body.contains("/nonexistent/mysqld.sock") || a.body.contains("No such file")
    });
    let took = started.elapsed();
    assert_eq!(answer.status, 503);
    assert!(
        took < Duration::from_millis(200 + 500),
        "unreachable named after {took:?}"
    );
    assert_eq!(
        server.metric("clustercheckd_collector_up{collector=\"galera\"}"),
        Some(0.0)
    );
    assert!(
        server
            .metric("clustercheckd_collector_poll_errors_total{collector=\"galera\"}")
            .unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(server.metric("clustercheckd_galera_healthy"), Some(0.0));
}

/// A broken config stops start-up with exit code 2 and one line naming the key, before any port
/// is bound: traced with strace, the process never calls bind(2) or listen(2).
#[test]
fn broken_config_exits_2_naming_the_key_before_binding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace");
    let listen = "[listen]\ncheck = \"127.0.0.1:0\"\n";
    for (body, key) in [
        (
            format!("{listen}[galera]\ninterval = \"often\"\n"),
            "galera.interval",
        ),
        (
            format!("{listen}[galera]\navailable_when_doner = true\n"),
            "available_when_doner",
        ),
        (
            format!("{listen}[galera]\ncompat = \"mysql\"\n"),
            "galera.compat",
        ),
        (
            format!("{listen}[galera]\ndefaults_file = \"/nonexistent/cc.cnf\"\n"),
            "galera.defaults_file",
        ),
        (
            format!("{listen}max_connections = 0\n"),
            "listen.max_connections",
        ),
        (format!("{listen}this is not toml"), "configuration"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, &body).expect("write config");
        let start = Instant::now();
        let (code, stderr, calls) = traced_run(&config, &trace);
        assert_eq!(code, Some(2), "{body:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{body:?}: {stderr}");
        assert!(
            !calls.contains("bind(") && !calls.contains("listen("),
            "{body:?}: a refused config bound a socket:\n{calls}"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    // The control: the trace does show the bind of a valid config. Its port is held by the
    // test, so the daemon fails right there (exit 1) instead of running.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = held.local_addr().expect("held address").port();
    let config = dir.path().join("valid.toml");
    std::fs::write(
        &config,
        format!("[listen]\ncheck = \"127.0.0.1:{port}\"\n{WITHOUT_DATABASE}"),
    )
    .expect("write config");
    let (code, stderr, calls) = traced_run(&config, &trace);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port} (listen.check)")),
        "{stderr}"
    );
    assert!(
        calls.contains(&format!("sin_port=htons({port})")) && calls.contains("bind("),
        "strace did not show the valid config's bind:\n{calls}"
    );
    drop(held);
}

#[test]
fn check_config_validates_and_exits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ok.toml");
    std::fs::write(&config, "[galera]\ninterval = \"2s\"\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid"));
}

#[test]
fn sigterm_shuts_down_gracefully_and_frees_the_port() {
    let mut daemon = daemon_without_database("");
    assert_eq!(daemon.check().status, 503);
    // While it lives, the daemon holds its port: nobody else can bind it.
    let taken = TcpListener::bind(daemon.addr());
    assert!(
        matches!(&taken, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse),
        "the live daemon's port could be bound: {taken:?}"
    );
    let status = daemon
        .terminate(Duration::from_secs(5))
        .expect("clustercheckd exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log = daemon.log_text();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("clustercheckd stopped"), "{log}");
    // Stopped, it has let go of the port: a restarted daemon (or anyone) can bind it at once.
    let again = TcpListener::bind(daemon.addr())
        .unwrap_or_else(|e| panic!("port {} still held after exit: {e}", daemon.addr()));
    drop(again);
}

/// A request in flight when SIGTERM arrives (accepted, its head still arriving) is served whole,
/// and then the daemon exits 0.
#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let mut daemon = daemon_without_database("");
    let mut scrape = TcpStream::connect(daemon.addr()).expect("connect");
    scrape
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .expect("first half of the request");
    // Accepted and being read (the daemon answers another check after it).
    assert_eq!(daemon.check().status, 503);
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &daemon.pid().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success());
    wait_log(&daemon, Duration::from_secs(3), "SIGTERM received");
    scrape
        .write_all(b"Accept: */*\r\n\r\n")
        .expect("the rest of the request, after SIGTERM");
    scrape
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut bytes = Vec::new();
    scrape
        .read_to_end(&mut bytes)
        .expect("the in-flight request is answered");
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "{text}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    assert_eq!(body.len(), length, "the whole page: {body}");
    assert!(body.contains("clustercheckd_galera_healthy"), "{body}");
    let status = daemon
        .terminate(Duration::from_secs(8))
        .expect("clustercheckd exits after the drain");
    assert!(status.success(), "exit status {status}");
    assert!(signalled.elapsed() < Duration::from_secs(8));
    assert!(daemon.log_text().contains("clustercheckd stopped"));
}

/// With `log.format = "json"` every line the daemon writes is one JSON object with a timestamp,
/// a level, a target and a message; fields (the bound address) are keys of their own.
#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let mut daemon = daemon_without_database("[log]\nformat = \"json\"\nlevel = \"debug\"\n");
    wait_server_daemon(&daemon);
    let status = daemon
        .terminate(Duration::from_secs(5))
        .expect("clustercheckd exits within 5 s of SIGTERM");
    assert!(status.success());
    let log = daemon.log_text();
    let mut messages = Vec::new();
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{log}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(event[key].is_string(), "no {key} in {line}");
        }
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&event["level"].as_str().unwrap_or("")),
            "{line}"
        );
        messages.push(event);
    }
    let listening = messages
        .iter()
        .find(|e| e["message"] == "clustercheckd listening")
        .unwrap_or_else(|| panic!("no listening event:\n{log}"));
    assert_eq!(listening["check"], daemon.addr().to_string(), "{listening}");
    assert_eq!(listening["level"], "INFO");
    for message in ["SIGTERM received; shutting down", "clustercheckd stopped"] {
        assert!(
            messages.iter().any(|e| e["message"] == message),
            "no {message:?}:\n{log}"
        );
    }
}

/// Wait until the daemon has answered from its first poll.
fn wait_server_daemon(daemon: &Daemon) {
    daemon.wait_check(Duration::from_secs(3), "the first poll's 503", |a| {
        a.body.contains("database unreachable")
    });
}

/// "Not watched" must never read as healthy: a check whose subsystem is off answers 503.
#[test]
fn checks_of_disabled_subsystems_answer_503() {
    let server = server_without_database("");
    for (path, name) in [
        ("/rabbitmq", "RabbitMQ"),
        ("/pacemaker", "Pacemaker"),
        ("/vip", "VIP"),
    ] {
        let answer = server.get(path);
        assert_eq!(answer.status, 503, "{path}");
        assert_eq!(
            answer.body,
            format!("{name} check is disabled in the configuration.\n")
        );
    }
}

/// A mistyped check for another subsystem must never report database health. Every path whose
/// first segment is reserved answers its endpoint (any case, trailing slash or not) or 404 with
/// the valid paths; `/`, `/galera` and unreserved paths stay the Galera check.
#[test]
fn reserved_paths_never_answer_the_galera_verdict() {
    let daemon = daemon_without_database("");
    let galera = "database unreachable";
    // Checks whose subsystem is off answer exactly their own "disabled" text.
    for (path, name) in [
        ("/rabbitmq/", "RabbitMQ"),
        ("/RabbitMQ", "RabbitMQ"),
        ("/pacemaker/", "Pacemaker"),
        ("/PaceMaker", "Pacemaker"),
        ("/vip/", "VIP"),
        ("/VIP", "VIP"),
        ("/VIP/vip", "VIP"),
        ("/vip/vip/", "VIP"),
        ("/writer/", "Writer"),
        ("/Writer", "Writer"),
    ] {
        for method in ["GET", "OPTIONS", "HEAD"] {
            let answer = request(daemon.addr(), &format!("{method} {path} HTTP/1.0\r\n\r\n"));
            assert_eq!(answer.status, 503, "{method} {path}: {answer:?}");
            if method != "HEAD" {
                assert_eq!(
                    answer.body,
                    format!("{name} check is disabled in the configuration.\n"),
                    "{method} {path}"
                );
            }
        }
    }
    // The pages, in any case, on the single-port setup.
    let status = daemon.get("/Status");
    assert_eq!(status.status, 200, "{status:?}");
    assert!(status.body.starts_with('{'), "{}", status.body);
    let metrics = daemon.get("/METRICS/");
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("clustercheckd_galera_healthy"));
    // /cluster without [peers]: this node alone, as JSON.
    let cluster = daemon.get("/Cluster/");
    assert_eq!(cluster.status, 200, "{cluster:?}");
    assert!(
        cluster.body.contains("\"views_agree\":true"),
        "{}",
        cluster.body
    );
    // Not a path a reserved endpoint serves: 404 listing the valid ones.
    for path in [
        "/cluster/x",
        "/writer/x",
        "/rabbitmq/extra",
        "/galera/x",
        "/vip/a/b",
        "/metrics/x",
    ] {
        let answer = daemon.get(path);
        assert_eq!(answer.status, 404, "{path}: {answer:?}");
        for valid in [
            "/galera",
            "/rabbitmq",
            "/pacemaker",
            "/vip/NAME",
            "/status",
            "/metrics",
        ] {
            assert!(answer.body.contains(valid), "{path}: {}", answer.body);
        }
        assert!(!answer.body.contains(galera), "{path}: {}", answer.body);
    }
    // The Galera check: `/`, its explicit name in any case, and every unreserved path.
    for path in [
        "/",
        "/galera",
        "/galera/",
        "/GALERA",
        "/anything/else",
        "/galeras",
        "/vips",
    ] {
        let answer = daemon.get(path);
        assert_eq!(answer.status, 503, "{path}: {answer:?}");
        assert!(answer.body.contains(galera), "{path}: {}", answer.body);
    }
}
