//! End to end: a real HAProxy configured as in the deployment (`option httpchk`, `check port`,
//! `inter 500 rise 2 fall 2`, one active server and two backups) in front of the real Galera
//! sandbox, health-checking three real clustercheckd daemons.

mod common;

use std::process::Command;
use std::time::Duration;

use common::haproxy::Haproxy;
use common::{galera_heal, lock, sandbox, Daemon, Restore};

/// The backend (a `listen` section) of the sandbox's HAProxy config.
const BACKEND: &str = "galera";

/// HAProxy with the sandbox's own config (scripts/sandbox/haproxy.sh, as deployed) checking the
/// three daemons on `check_ports`, its frontend the listener the helper hands over (`fd@0`).
fn haproxy(check_ports: [u16; 3]) -> Haproxy {
    Haproxy::start_with_frontend(|config, socket| {
        let ports = check_ports.map(|p| p.to_string());
        sandbox(&[
            "haproxy",
            "render_config",
            &common::path_str(config),
            "fd@0",
            &ports[0],
            &ports[1],
            &ports[2],
            &common::path_str(socket),
        ]);
        let text = std::fs::read_to_string(config).expect("rendered config");
        assert!(text.contains("option httpchk"), "{text}");
        assert!(text.contains("backup"), "{text}");
        assert!(text.contains("bind fd@0"), "{text}");
    })
}

/// Which Galera node a new client connection through HAProxy lands on.
fn landing_node(haproxy: &Haproxy) -> String {
    let listen = haproxy.frontend.expect("the frontend's address");
    let mut client = Command::new("mariadb");
    client
        .args(["-h", &listen.ip().to_string()])
        .args(["-P", &listen.port().to_string()])
        .args(["-u", &common::env()["GALERA_CHECK_USER"]])
        .arg(format!("-p{}", common::env()["GALERA_CHECK_PASSWORD"]))
        .args(["-N", "-B", "-e", "SELECT @@wsrep_node_name"]);
    common::stdout_of(&mut client, "a query through haproxy")
        .trim()
        .to_owned()
}

#[test]
fn haproxy_marks_the_desynced_writer_down_and_clients_land_on_a_healthy_backup() {
    let _lock = lock("galera");
    galera_heal();
    let daemons = [1, 2, 3].map(|n| Daemon::galera(n, ""));
    let haproxy = haproxy(daemons.each_ref().map(|d| d.addr().port()));
    for server in ["node1", "node2", "node3"] {
        haproxy.wait_status(BACKEND, server, "UP", Duration::from_secs(10));
    }
    assert_eq!(
        landing_node(&haproxy),
        "node1",
        "the active server takes the clients"
    );

    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "1", "off"]);
    });
    sandbox(&["galera", "desync", "1", "on"]);
    // One poll interval, then `fall 2` checks 500 ms apart, with slack.
    haproxy.wait_status(BACKEND, "node1", "DOWN", Duration::from_secs(5));
    let landed = landing_node(&haproxy);
    assert!(
        landed == "node2" || landed == "node3",
        "client landed on {landed}, not a healthy backup"
    );

    sandbox(&["galera", "desync", "1", "off"]);
    haproxy.wait_status(BACKEND, "node1", "UP", Duration::from_secs(5));
    assert_eq!(landing_node(&haproxy), "node1");

    // Every check HAProxy made got a proper HTTP answer: no socket, timeout or protocol errors.
    for (server, row) in haproxy.stat(BACKEND) {
        let check = row.get("check_status").cloned().unwrap_or_default();
        assert!(
            check == "L7OK" || check == "L7STS",
            "{server}: check_status {check}: {row:?}"
        );
    }
    let stderr_free = daemons.iter().all(|d| !d.log_text().contains("ERROR"));
    assert!(stderr_free, "a daemon logged an error");
}
