//! The HAProxy agent-check (`listen.agent`) against a real HAProxy, started here with its own
//! configuration and runtime API socket, in front of a real clustercheckd watching sandbox Galera
//! node 1: the weight HAProxy applies, DOWN via the agent, MAINT from the maintenance file and
//! back (the one `ready`), and an operator's `set server ... state maint` that survives the
//! agent's healthy replies.
//!
//! The rules themselves (weight floor, never drain for a writer, ready once) are unit-tested
//! beside `health::agent`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::haproxy::Haproxy;
use common::{galera_heal, galera_section, lock, sandbox, Daemon, Restore};

const BACKEND: &str = "galera";
const SERVER: &str = "node1";

/// HAProxy's `srv_admin_state` bit for a forced maintenance (agent `maint` or the runtime API's
/// `set server ... state maint`).
const FORCED_MAINT: u32 = 0x01;

/// Which regular check HAProxy runs beside the agent.
#[derive(Clone, Copy)]
enum RegularCheck {
    /// The recommended one: `option httpchk` against the daemon's check port.
    Http,
    /// A plain TCP connect to the SQL port, which a desynced node still passes: only the agent
    /// can then mark the server DOWN.
    TcpOnly,
}

/// HAProxy with one backend and node 1 as its only server, checked as the README recommends
/// (inter 250ms, agent-inter 250ms, weight 100), and a dynamic algorithm so that agent weights
/// other than 100% apply.
fn haproxy_for(daemon: &Daemon, regular: RegularCheck) -> Haproxy {
    let sql_port = common::env_num("GALERA_SQL_PORT_BASE") + 1;
    let agent = daemon.agent.expect("the daemon has an agent listener");
    let (option, check_port) = match regular {
        RegularCheck::Http => (
            "    option httpchk\n",
            format!(" port {}", daemon.addr().port()),
        ),
        RegularCheck::TcpOnly => ("", String::new()),
    };
    Haproxy::start(&format!(
        "backend {BACKEND}\n    mode tcp\n    balance source\n    hash-type consistent\n{option}    \
         default-server inter 250ms fastinter 250ms downinter 1s rise 2 fall 2 \
         on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions \
         agent-check agent-inter 250ms weight 100\n    \
         server {SERVER} 127.0.0.1:{sql_port} check{check_port} agent-port {}\n",
        agent.port()
    ))
}

/// A daemon on node 1 with an agent listener on a free port; `galera` and `agent` are extra
/// lines for `[galera]` and `[agent]`. The cluster is healed first (three synced nodes), so
/// each test starts from the same state whatever ran before; the caller holds the lock.
fn daemon(galera: &str, agent: &str) -> Daemon {
    galera_heal();
    let daemon = Daemon::start(&format!(
        "[listen]\nagent = \"127.0.0.1:0\"\n[agent]\n{agent}\n{}",
        galera_section(1, galera)
    ));
    daemon.wait_check(Duration::from_secs(10), "a healthy node 1", |a| {
        a.status == 200
    });
    daemon
}

fn num(row: &HashMap<String, String>, column: &str) -> u32 {
    row.get(column)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

fn running(row: &HashMap<String, String>) -> bool {
    num(row, "srv_op_state") == 2 && num(row, "srv_admin_state") == 0
}

fn replies(daemon: &Daemon, kind: &str) -> f64 {
    daemon
        .metric(&format!(
            "clustercheckd_agent_replies_total{{reply=\"{kind}\"}}"
        ))
        .unwrap_or_else(|| panic!("no agent_replies_total for {kind}"))
}

/// Wait until the daemon has sent `count` more replies of `kind` than `from`.
fn wait_replies(daemon: &Daemon, kind: &str, from: f64, count: f64, within: Duration) {
    let start = Instant::now();
    while replies(daemon, kind) < from + count {
        assert!(
            start.elapsed() < within,
            "fewer than {count} `{kind}` agent replies within {within:?} (now {}, from {from})",
            replies(daemon, kind)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn healthy_node_is_up_with_the_agent_weight() {
    let _lock = lock("galera");
    let daemon = daemon("", "");
    let haproxy = haproxy_for(&daemon, RegularCheck::Http);
    // HAProxy starts its servers UP at full weight: wait for the agent to have spoken.
    wait_replies(&daemon, "up", 0.0, 2.0, Duration::from_secs(5));
    let row = haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP", running);
    assert_eq!(num(&row, "srv_uweight"), 100, "{row:?}");
    let stat = haproxy.stat(BACKEND).remove(SERVER).unwrap_or_default();
    let agent = stat.get("agent_status").cloned().unwrap_or_default();
    assert!(
        agent.starts_with("L7OK"),
        "agent check status {agent}: {stat:?}"
    );
    assert_eq!(
        stat.get("last_agt").map(String::as_str),
        Some("via agent : up"),
        "{stat:?}"
    );
    for kind in ["down", "maint", "ready", "drain"] {
        assert_eq!(replies(&daemon, kind), 0.0, "{kind}");
    }
}

/// A weight other than 100% reaches HAProxy. (That the receive queue lowers it, linearly and
/// never below 10%, is `health::agent`'s unit tests: an idle sandbox node has no queue.)
#[test]
fn the_agent_weight_is_what_haproxy_applies() {
    let _lock = lock("galera");
    let daemon = daemon(
        "",
        "weight = 60\nmin_weight = 20\nrecv_queue_low = 100\nrecv_queue_high = 1000",
    );
    let haproxy = haproxy_for(&daemon, RegularCheck::Http);
    let row = haproxy.wait_state(
        BACKEND,
        SERVER,
        Duration::from_secs(5),
        "UP at weight 60",
        |row| running(row) && num(row, "srv_uweight") == 60,
    );
    assert_eq!(num(&row, "srv_iweight"), 100, "{row:?}");
    let answer = std::net::TcpStream::connect(daemon.agent.expect("agent address"))
        .and_then(|mut stream| {
            use std::io::Read;
            let mut text = String::new();
            stream.read_to_string(&mut text).map(|_| text)
        })
        .expect("read the agent's reply");
    assert_eq!(answer, "up 60%\n");
}

/// With a regular check that a desynced node passes (TCP on the SQL port), only the agent's
/// `down #reason` can mark it DOWN; its reason reaches HAProxy's stats.
#[test]
fn unhealthy_node_is_marked_down_by_the_agent() {
    let _lock = lock("galera");
    let daemon = daemon("", "");
    let haproxy = haproxy_for(&daemon, RegularCheck::TcpOnly);
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP", running);

    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "1", "off"]);
    });
    sandbox(&["galera", "desync", "1", "on"]);
    // One poll (1 s), one agent check (250 ms), with slack.
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "DOWN", |row| {
        num(row, "srv_op_state") == 0
    });
    let stat = haproxy.stat(BACKEND).remove(SERVER).unwrap_or_default();
    let last_agent = stat.get("last_agt").cloned().unwrap_or_default();
    assert!(
        last_agent.contains("down") && last_agent.contains("Donor/Desynced"),
        "the agent's reason in HAProxy: {stat:?}"
    );
    assert!(replies(&daemon, "down") > 0.0);
    // It stays DOWN while the node is desynced: the passing TCP check does not bring it back.
    std::thread::sleep(Duration::from_secs(2));
    let row = haproxy
        .servers_state(BACKEND)
        .remove(SERVER)
        .unwrap_or_default();
    assert_eq!(num(&row, "srv_op_state"), 0, "{row:?}");

    sandbox(&["galera", "desync", "1", "off"]);
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP again", running);
    assert_eq!(
        replies(&daemon, "ready"),
        0.0,
        "no ready after a plain down"
    );
}

/// The maintenance file puts the server in MAINT through the agent; removing it brings it back
/// with exactly one `ready`.
#[test]
fn maintenance_file_is_maint_and_its_removal_one_ready() {
    let _lock = lock("galera");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("clustercheck.disabled");
    let daemon = daemon(&format!("maintenance_file = \"{}\"", file.display()), "");
    let haproxy = haproxy_for(&daemon, RegularCheck::Http);
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP", running);

    std::fs::write(&file, "").expect("create the maintenance file");
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "MAINT", |row| {
        num(row, "srv_admin_state") & FORCED_MAINT != 0
    });
    assert!(replies(&daemon, "maint") > 0.0);
    assert_eq!(replies(&daemon, "drain"), 0.0, "never drain for a writer");

    std::fs::remove_file(&file).expect("remove the maintenance file");
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP again", running);
    assert_eq!(replies(&daemon, "ready"), 1.0);
    // Further healthy replies are plain `up`.
    let up = replies(&daemon, "up");
    wait_replies(&daemon, "up", up, 4.0, Duration::from_secs(5));
    assert_eq!(replies(&daemon, "ready"), 1.0, "ready exactly once");
}

/// An operator's maintenance through the runtime API is never cancelled by the agent: ten
/// healthy agent replies later the server is still in MAINT.
#[test]
fn operator_maint_survives_ten_agent_checks() {
    let _lock = lock("galera");
    let daemon = daemon("", "");
    let haproxy = haproxy_for(&daemon, RegularCheck::Http);
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP", running);

    let answer = haproxy.command(&format!("set server {BACKEND}/{SERVER} state maint"));
    assert!(answer.trim().is_empty(), "set server: {answer}");
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(2), "MAINT", |row| {
        num(row, "srv_admin_state") & FORCED_MAINT != 0
    });
    // Ten healthy replies of any kind (a `ready` among them would be the bug).
    let healthy = |d: &Daemon| replies(d, "up") + replies(d, "ready");
    let before = healthy(&daemon);
    let start = Instant::now();
    while healthy(&daemon) < before + 10.0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "fewer than 10 healthy agent replies within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let row = haproxy
        .servers_state(BACKEND)
        .remove(SERVER)
        .unwrap_or_default();
    assert_ne!(
        num(&row, "srv_admin_state") & FORCED_MAINT,
        0,
        "the operator's MAINT was cancelled: {row:?}"
    );
    assert_eq!(replies(&daemon, "ready"), 0.0);

    haproxy.command(&format!("set server {BACKEND}/{SERVER} state ready"));
    haproxy.wait_state(BACKEND, SERVER, Duration::from_secs(5), "UP", running);
}

/// The README's recommended haproxy.cfg is one HAProxy accepts.
#[test]
fn readme_haproxy_config_is_valid() {
    let readme = std::fs::read_to_string(common::repo().join("README.md")).expect("README.md");
    let section = readme
        .split_once("### HAProxy\n")
        .and_then(|(_, rest)| rest.split_once("\n### "))
        .map(|(section, _)| section)
        .expect("README has an HAProxy section");
    // The haproxy.cfg blocks are the bare fences (```), the others name their language.
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```") => current = Some(String::new()),
            (None, fence) if fence.starts_with("```") => current = Some("other".into()),
            (Some(block), "```") => {
                if block != "other" {
                    blocks.push(std::mem::take(block));
                }
                current = None;
            }
            (Some(block), text) if block != "other" => {
                block.push_str(text);
                block.push('\n');
            }
            _ => {}
        }
    }
    assert_eq!(
        blocks.len(),
        2,
        "the recommended config and the writer variant: {blocks:?}"
    );
    for needle in [
        "option httpchk",
        "inter 250ms fastinter 250ms downinter 1s rise 2 fall 2",
        "on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions",
        "retries 3",
        "option redispatch",
        "agent-check agent-port 9300 agent-inter 250ms",
        "backup",
    ] {
        assert!(
            blocks[0].contains(needle),
            "README snippet lacks {needle:?}"
        );
    }
    assert!(
        blocks[1].contains("uri /writer\n")
            && blocks[1].contains("uri /writer/backup\n")
            && blocks[1].contains("backup track galera_backup/"),
        "the writer variant checks /writer and tracks /writer/backup: {}",
        blocks[1]
    );
    for block in &blocks {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("haproxy.cfg");
        let socket = dir.path().join("admin.sock");
        std::fs::write(
            &path,
            format!("{}{block}", common::haproxy::preamble(&socket)),
        )
        .expect("write config");
        common::haproxy::check_config(&path);
    }
}
