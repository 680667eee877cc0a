//! Restarts of clustercheckd that HAProxy never notices, with a real HAProxy checking a sandbox
//! Galera node through the daemon (`option httpchk`, `inter 100ms fall 2 rise 2`).
//!
//! The daemon binds, runs each collector's first poll, and only then accepts checks: a check that
//! arrives meanwhile waits in the accept queue and is answered from a real poll, never with "no
//! poll has completed yet" (503). A restart therefore costs HAProxy at most the refused
//! connections between the old process's exit and the new one's bind, less than `fall` checks;
//! with socket activation (config/clustercheckd.socket) not even those. Stopping the daemon never
//! drains the node: only `clustercheckd drain` or a person creates the maintenance file.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::haproxy_httpchk as lb;
use common::{lock, Daemon};

/// The first check answered on `addr` once something listens there again: connects as fast as it
/// can (refused while nothing listens), then sends what HAProxy sends. Runs in its own thread
/// while the daemon restarts.
fn first_answer_after_restart(addr: SocketAddr) -> std::thread::JoinHandle<(u16, String)> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut stream = loop {
            match TcpStream::connect(addr) {
                Ok(stream) => break stream,
                Err(error) => {
                    assert!(Instant::now() < deadline, "{addr} never listened: {error}");
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
            .write_all(b"OPTIONS / HTTP/1.0\r\n\r\n")
            .expect("send the check");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, answer)
    })
}

#[test]
fn three_restarts_of_the_daemon_never_mark_a_healthy_node_down_and_never_drain_it() {
    // Read-only, but a concurrent disturbance of node 1 would take it down for real.
    let _lock = lock("galera");
    let lb::Node1 {
        dir: _dir,
        maintenance,
        galera,
    } = lb::node1_with_maintenance_file();
    let mut daemon = Daemon::start(&galera);
    let addr = daemon.addr();
    // Every later daemon binds the same port, as a restarted service does.
    let same_port = format!("[listen]\ncheck = \"{addr}\"\n{galera}");
    let haproxy = lb::start(1, addr.port(), "inter 100ms fall 2 rise 2");
    lb::wait_status(&haproxy, "UP", Duration::from_secs(10));
    let before = lb::node(&haproxy);

    for round in 1..=3 {
        let status = daemon.terminate(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "round {round}: SIGTERM: {status:?}"
        );
        assert!(
            !maintenance.exists(),
            "round {round}: stopping the daemon created the maintenance file"
        );
        let first = first_answer_after_restart(addr);
        daemon = Daemon::start(&same_port);
        let (status, answer) = first.join().expect("the first check");
        assert_eq!(
            status,
            200,
            "round {round}: the first check after the restart was not answered from a poll:\n\
             {answer}\nlog:\n{}",
            daemon.log_text()
        );
        // HAProxy's own checks reach the new daemon (the test's are not counted as galera checks
        // by HAProxy, but they are by the daemon: wait for more than the one above).
        let deadline = Instant::now() + Duration::from_secs(5);
        while daemon
            .metric("clustercheckd_check_requests_total{check=\"galera\",code=\"200\"}")
            .unwrap_or_default()
            < 4.0
        {
            assert!(
                Instant::now() < deadline,
                "round {round}: HAProxy does not check the new daemon: {:?}",
                lb::node(&haproxy)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let row = lb::node(&haproxy);
        assert_eq!(
            row.get("status").map(String::as_str),
            Some("UP"),
            "round {round}: {row:?}"
        );
        assert_eq!(
            lb::count(&row, "chkdown"),
            lb::count(&before, "chkdown"),
            "round {round}: HAProxy counted a DOWN transition: {row:?}"
        );
        assert_eq!(
            daemon.metric("clustercheckd_check_requests_total{check=\"galera\",code=\"503\"}"),
            Some(0.0),
            "round {round}: the new daemon answered 503"
        );
    }
    assert!(!maintenance.exists());
    // For the report: checks refused in the gaps between two processes (each below `fall`).
    eprintln!(
        "failed checks over 3 restarts: {}",
        lb::count(&lb::node(&haproxy), "chkfail") - lb::count(&before, "chkfail")
    );
}

/// systemd socket activation: a listening socket inherited as descriptor 3 (LISTEN_PID,
/// LISTEN_FDS, LISTEN_FDNAMES=check) is served, and the configured address is not bound at all
/// (it is held by this test, so binding it would fail start-up).
#[test]
fn an_inherited_listening_socket_is_served_instead_of_binding() {
    let held = common::closed_port();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let inherited = listener.local_addr().expect("its address");
    let toml = format!(
        "[listen]\ncheck = \"127.0.0.1:{}\"\n[galera]\nenabled = false\n",
        held.port
    );
    let daemon = Daemon::start_activated(&toml, listener, "check");
    assert_eq!(
        daemon.addr(),
        inherited,
        "the ready file names the inherited socket"
    );
    let answer = daemon.get("/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("clustercheckd_"), "{answer:?}");
    assert!(
        daemon.log_text().contains("socket_activation=true"),
        "{}",
        daemon.log_text()
    );
}

/// A socket passed under a name the daemon has no listener for stops start-up with one line
/// naming it (exit 1), instead of being served as something it is not.
#[test]
fn an_inherited_socket_with_an_unknown_name_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[listen]\ncheck = \"127.0.0.1:0\"\n[galera]\nenabled = false\n",
    )
    .expect("write config");
    let output = std::process::Command::new("sh")
        .args([
            "-c",
            "exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web exec \"$0\" \"$@\"",
        ])
        .arg(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("--config")
        .arg(&config)
        .stdin(std::os::fd::OwnedFd::from(listener))
        .output()
        .expect("run clustercheckd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("named \"web\""), "{stderr}");
}
