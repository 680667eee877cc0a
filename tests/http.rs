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

use common::{request, Daemon, Server};

const WITHOUT_DATABASE: &str =
    "[galera]\nsocket = \"/nonexistent/mysqld.sock\"\ninterval = \"200ms\"\n";

fn server_without_database(extra: &str) -> Server {
    Server::start(&format!("{WITHOUT_DATABASE}{extra}"))
}

fn daemon_without_database(extra: &str) -> Daemon {
    Daemon::start(&format!("{WITHOUT_DATABASE}{extra}"))
}

#[test]
fn answers_options_get_head_on_any_path_in_http_1_0_and_1_1() {
    let server = server_without_database("");
    std::thread::sleep(Duration::from_millis(500));
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
    let server =
        server_without_database("[listen]\nheader_read_timeout = \"500ms\"\nmax_connections = 4");
    let mut slow = TcpStream::connect(server.check).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\n").expect("partial head");
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let start = Instant::now();
    let mut buffer = Vec::new();
    let _ = slow.read_to_end(&mut buffer);
    let cut_after = start.elapsed();
    assert!(
        cut_after < Duration::from_secs(3),
        "slow client held the connection {cut_after:?}"
    );

    // Hold every connection slot with silent clients: checks wait, then flow again as the
    // header timeout frees the slots.
    let hogs: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.check).expect("connect"))
        .collect();
    let answer = server.check();
    assert_eq!(answer.status, 503);
    assert!(
        answer.elapsed < Duration::from_secs(3),
        "{:?}",
        answer.elapsed
    );
    drop(hogs);
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
    let server = server_without_database("");
    std::thread::sleep(Duration::from_millis(600));
    let answer = server.check();
    assert_eq!(answer.status, 503);
    assert!(
        answer.body.contains("/nonexistent/mysqld.sock") || answer.body.contains("No such file"),
        "{}",
        answer.body
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
/// is bound.
#[test]
fn broken_config_exits_2_naming_the_key_before_binding() {
    // The test holds the configured check port: a daemon that bound before validating would
    // fail on it with exit code 1 (the last case shows that), not 2 naming the key.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = held.local_addr().expect("held address").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = format!("[listen]\ncheck = \"127.0.0.1:{port}\"\n");
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
        let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run clustercheckd");
        assert_eq!(output.status.code(), Some(2), "{body:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(key), "{body:?}: {stderr}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
    // The control: a valid config on the held port gets as far as binding, and fails there.
    let config = dir.path().join("valid.toml");
    std::fs::write(&config, format!("{listen}{WITHOUT_DATABASE}")).expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run clustercheckd");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port} (listen.check)")),
        "{stderr}"
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
    let status = daemon
        .terminate(Duration::from_secs(5))
        .expect("clustercheckd exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log = daemon.log_text();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("clustercheckd stopped"), "{log}");
    assert!(
        TcpStream::connect(daemon.addr()).is_err(),
        "port still open"
    );
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
    // Reserved for later, or not a path a reserved endpoint serves: 404 listing the valid ones.
    for path in [
        "/cluster",
        "/Cluster/",
        "/writer",
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
