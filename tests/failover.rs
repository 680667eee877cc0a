//! Event-driven verdicts against the real sandbox cluster: the poll stays the source of truth,
//! but a dead mysqld or a Galera notification makes it poll at once instead of at the next tick.
//!
//! Every daemon here polls every 10 s, so anything seen within 2 s of the event cannot be the
//! interval's doing: each test also checks that the event came well before the next tick.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{galera_heal, lock, sandbox, Daemon, Restore};

const INTERVAL: Duration = Duration::from_secs(10);
/// The bound for an event-driven reaction.
const REACTION: Duration = Duration::from_secs(2);
const LAST_SUCCESS: &str =
    "clustercheckd_collector_last_success_timestamp_seconds{collector=\"galera\"}";

/// Before each test that disturbs the cluster: three synced nodes, whatever came before.
fn ready() -> common::ClusterLock {
    let guard = lock("galera");
    galera_heal();
    guard
}

/// A daemon on sandbox node `n` polling every 10 s, with `extra` lines in `[galera]`.
fn slow_daemon(n: u8, extra: &str) -> (Daemon, Instant) {
    let galera = common::galera_toml(&common::galera_defaults_file(n), "10s", extra);
    let started = Instant::now();
    let daemon = Daemon::start(&galera);
    (daemon, started)
}

/// The event must come well inside the first interval, or a tick could explain the reaction.
fn assert_before_next_tick(started: Instant) {
    assert!(
        started.elapsed() + REACTION < INTERVAL - Duration::from_secs(2),
        "the test was too slow to tell an event-driven poll from a tick ({:?} after start)",
        started.elapsed()
    );
}

/// `clustercheckd notify ARGS` run as MariaDB runs wsrep_notify_cmd (`sh -c`), with how long
/// it took and its exit code.
fn notify(args: &str) -> (Option<i32>, Duration) {
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} notify {args}",
            env!("CARGO_BIN_EXE_clustercheckd")
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run sh");
    (status.code(), started.elapsed())
}

fn socket_in(dir: &Path) -> PathBuf {
    dir.join("notify.sock")
}

/// Wait (bounded) until the galera collector's last successful poll is newer than `after`.
fn wait_for_poll_after(daemon: &Daemon, after: f64, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if daemon.metric(LAST_SUCCESS).is_some_and(|t| t > after) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "no poll within {within:?} of the notification\nlog:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigkill_of_mysqld_is_503_within_2s_although_the_interval_is_10s() {
    let _lock = ready();
    let (daemon, started) = slow_daemon(3, "");
    daemon.wait_check(Duration::from_secs(5), "200 before the kill", |a| {
        a.status == 200
    });
    let _heal = Restore::new(galera_heal);
    assert_before_next_tick(started);
    sandbox(&["galera", "kill", "3"]);
    let (answer, took) = daemon.wait_check(REACTION, "503 after SIGKILL", |a| a.status == 503);
    assert!(
        answer.body.contains("database unreachable"),
        "{}",
        answer.body
    );
    assert!(took <= REACTION, "took {took:?}");
    assert!(
        daemon
            .log_text()
            .contains("the server closed the connection; polling now"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_notification_makes_the_daemon_poll_within_2s() {
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(dir.path());
    // Only reads the cluster: the lock keeps it from reading one that is being disturbed.
    let _lock = ready();
    let (daemon, started) = slow_daemon(1, &format!("notify_socket = \"{}\"", socket.display()));
    daemon.wait_check(Duration::from_secs(5), "200 after the first poll", |a| {
        a.status == 200
    });
    let first = daemon.metric(LAST_SUCCESS).expect("a first poll");
    assert_before_next_tick(started);
    // What MariaDB 10.11 sends on a view change (see docs/failover.md).
    let (code, _) = notify(&format!(
        "--socket {} --status synced --uuid c277a04d-ee22-11f1-b3d1-8bbce84c8a61 --primary yes \
         --index 0 --members u1/node1/127.0.0.1:13301,u2/node2/127.0.0.1:13302",
        socket.display()
    ));
    assert_eq!(code, Some(0));
    let took = wait_for_poll_after(&daemon, first, REACTION);
    assert!(took <= REACTION, "took {took:?}");
    assert!(daemon.log_text().contains("wsrep_notify_cmd event"));
    // A burst (a view change sends several) is coalesced, not refused: the next one still polls.
    let second = daemon.metric(LAST_SUCCESS).expect("the triggered poll");
    for _ in 0..5 {
        notify(&format!("--socket {} --status Donor", socket.display()));
    }
    wait_for_poll_after(&daemon, second, REACTION);
}

#[test]
fn a_notification_never_makes_a_desynced_node_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let socket = socket_in(dir.path());
    let _lock = ready();
    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "2", "off"]);
    });
    sandbox(&["galera", "desync", "2", "on"]);
    let (daemon, started) = slow_daemon(2, &format!("notify_socket = \"{}\"", socket.display()));
    // The poll's own verdict, not the 503 of "no poll has completed yet".
    daemon.wait_check(Duration::from_secs(5), "503 Donor/Desynced", |a| {
        a.status == 503 && a.body.contains("Donor/Desynced")
    });
    let before = daemon.metric(LAST_SUCCESS).expect("a first poll");
    assert!(before > 0.0, "the first poll succeeded");
    assert_before_next_tick(started);
    notify(&format!(
        "--socket {} --status synced --primary yes --index 1",
        socket.display()
    ));
    wait_for_poll_after(&daemon, before, REACTION);
    let answer = daemon.check();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body.contains("Donor/Desynced"), "{}", answer.body);
}

#[test]
fn notify_without_a_daemon_exits_0_within_1s() {
    let dir = tempfile::tempdir().unwrap();
    let missing = socket_in(dir.path());
    // No socket file; a socket file nobody reads; no --socket at all; options no server sends.
    let orphan = dir.path().join("orphan.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&orphan).unwrap());
    for args in [
        format!(
            "--socket {} --status synced --primary yes",
            missing.display()
        ),
        format!("--socket {} --status Undefined", orphan.display()),
        "--status disconnecting --primary no --index -1".to_owned(),
        format!(
            "--socket={} --members '' --bogus --index",
            missing.display()
        ),
        "".to_owned(),
    ] {
        let (code, took) = notify(&args);
        assert_eq!(code, Some(0), "notify {args}");
        assert!(took < Duration::from_secs(1), "notify {args} took {took:?}");
    }
}
