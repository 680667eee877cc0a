//! Galera's state files on the real sandbox (`galera.data_dir`): while mysqld runs grastate.dat's
//! seqno is -1, and after a clean stop the daemon, which can no longer ask mysqld anything,
//! still says where the node's data stands: "mysqld down; last committed seqno N,
//! safe_to_bootstrap 0", N being what Galera wrote and what its peers had committed.
//!
//! Holds the Galera lock; the stopped node is started again in a Restore guard, also on failure.

mod common;

use std::time::Duration;

use common::{env, galera_heal, galera_sql, lock, sandbox, Daemon, Restore};

const NODE: u8 = 3;
const PEER: u8 = 1;

fn data_dir(n: u8) -> String {
    format!("{}/galera/node{n}/data", env()["SANDBOX_DIR"])
}

fn last_committed(n: u8) -> i64 {
    let text = galera_sql(n, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'");
    text.split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("wsrep_last_committed of node{n}: {text:?}"))
}

/// `key:` from grastate.dat, read here independently of the daemon's parser.
fn grastate(n: u8, key: &str) -> String {
    let path = format!("{}/grastate.dat", data_dir(n));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key}: in {path}:\n{text}"))
}

fn status(daemon: &Daemon) -> serde_json::Value {
    serde_json::from_str(&daemon.get("/status").body).expect("/status is JSON")
}

#[test]
fn cleanly_stopped_node_reports_its_saved_seqno_and_safe_to_bootstrap() {
    let _lock = lock("galera");
    galera_heal();
    let daemon = Daemon::galera(NODE, &format!("data_dir = \"{}\"\n", data_dir(NODE)));
    daemon.wait_check(Duration::from_secs(10), "200 while Synced", |a| {
        a.status == 200
    });
    // While mysqld runs the file holds no position: the gauge says -1, not a stale number.
    assert_eq!(
        daemon.metric("clustercheckd_galera_saved_seqno"),
        Some(-1.0)
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_safe_to_bootstrap"),
        Some(0.0)
    );
    let galera = status(&daemon)["galera"].clone();
    assert_eq!(galera["state_files"]["grastate"]["seqno"], -1, "{galera}");
    assert!(
        galera["state_files"]["gvwstate"]["members"]
            .as_array()
            .is_some_and(|m| m.len() == 3),
        "a running node in a 3-node Primary view has gvwstate.dat: {galera}"
    );

    let _restart = Restore::new(move || {
        let _ = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args(["galera", "start", &NODE.to_string()])
            .output();
        galera_heal();
    });
    let before = last_committed(PEER);
    sandbox(&["galera", "stop", &NODE.to_string()]);
    let after = last_committed(PEER);

    let seqno: i64 = grastate(NODE, "seqno").parse().expect("seqno is a number");
    assert_eq!(grastate(NODE, "safe_to_bootstrap"), "0");
    // Nothing writes to the sandbox under the lock, so the stopped node saved exactly what the
    // cluster had committed when it left (its leaving is a view change, which may count one).
    assert!(
        seqno > 0 && before <= seqno && seqno <= after,
        "grastate.dat seqno {seqno}, peer's wsrep_last_committed {before} before the stop and \
         {after} after"
    );

    let want = format!("mysqld down; last committed seqno {seqno}, safe_to_bootstrap 0.");
    let (answer, _) = daemon.wait_check(Duration::from_secs(15), &want, |a| {
        a.status == 503 && a.body.contains("mysqld down")
    });
    assert!(answer.body.trim_end().ends_with(&want), "{}", answer.body);
    assert!(
        answer.body.contains("database unreachable"),
        "{}",
        answer.body
    );

    let galera = status(&daemon)["galera"].clone();
    assert_eq!(galera["healthy"], false, "{galera}");
    assert!(
        galera["reason"]
            .as_str()
            .is_some_and(|r| r.ends_with(&want)),
        "{galera}"
    );
    assert_eq!(
        galera["state_files"]["grastate"]["seqno"], seqno,
        "{galera}"
    );
    assert_eq!(
        galera["state_files"]["grastate"]["safe_to_bootstrap"], false,
        "{galera}"
    );
    // A clean stop removes gvwstate.dat: absent, and not an error.
    assert!(
        galera["state_files"]["gvwstate"].is_null()
            && galera["state_files"]["gvwstate_error"].is_null(),
        "{galera}"
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_saved_seqno"),
        Some(seqno as f64)
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_safe_to_bootstrap"),
        Some(0.0)
    );

    drop(_restart);
    daemon.wait_check(Duration::from_secs(30), "200 after the restart", |a| {
        a.status == 200
    });
    assert_eq!(
        daemon.metric("clustercheckd_galera_saved_seqno"),
        Some(-1.0)
    );
}
