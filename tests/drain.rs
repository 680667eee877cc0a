//! A planned stop: `clustercheckd drain --wait` takes the node out of a real HAProxy before mysqld
//! would be stopped, and `--undo` brings it back through the normal check. mysqld itself is never
//! stopped here: the test proves the order (HAProxy has marked the node DOWN by the time the
//! command returns, which is when the mariadb.service drop-in lets systemd stop mysqld).
//! Also the command's own failures: one line, exit 2 for a bad configuration, 1 for a file it
//! cannot create.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::haproxy_httpchk as lb;
use common::{lock, Daemon};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn drain(config: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("drain")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .expect("run clustercheckd drain");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: start.elapsed(),
    }
}

#[test]
fn drain_wait_returns_once_haproxy_marked_the_node_down_and_undo_brings_it_back() {
    // A concurrent disturbance of node 1 would take it down in HAProxy for another reason.
    let _lock = lock("galera");
    let lb::Node1 {
        dir,
        maintenance,
        galera,
    } = lb::node1_with_maintenance_file();
    // HAProxy below checks every 100 ms and marks DOWN after 2 failures; the drain waits as if
    // it were 3 (the margin a loaded test machine needs; in production: the real `fall`).
    let timing = "[haproxy]\ninter = \"100ms\"\nfall = 3\n";
    let daemon = Daemon::start(&format!("{galera}{timing}"));
    let config = dir.path().join("clustercheckd.toml");
    std::fs::write(
        &config,
        format!("[listen]\ncheck = \"{}\"\n{galera}{timing}", daemon.addr()),
    )
    .expect("write the drain's config");
    let haproxy = lb::start(1, daemon.addr().port(), "inter 100ms fall 2 rise 2");
    lb::wait_status(&haproxy, "UP", Duration::from_secs(10));
    let downs_before = lb::count(&lb::node(&haproxy), "chkdown");

    let run = drain(&config, &["--wait"]);
    let drain_took = run.took;
    // What systemd would do next is stop mysqld: HAProxy must already have taken the node out.
    let row = lb::node(&haproxy);
    assert_eq!(
        run.code,
        Some(0),
        "drain --wait: {}{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        row.get("status").map(String::as_str),
        Some("DOWN"),
        "HAProxy has not marked the node down when drain --wait returned ({:?}):\n{}\n{row:?}",
        run.took,
        run.stdout
    );
    assert_eq!(lb::count(&row, "chkdown"), downs_before + 1, "{row:?}");
    assert!(maintenance.exists());
    assert!(
        run.stdout
            .contains("waiting 400ms = 100ms x (3 + 1) for HAProxy to mark this node down"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("answers 503 (after"), "{}", run.stdout);
    let answer = daemon.check();
    assert_eq!(answer.status, 503, "{answer:?}");
    // The database itself still serves (the drain comes before the stop): SQL on node 1 works.
    assert!(common::galera_sql(1, "SELECT 1").contains('1'));
    // Draining an already drained node waits again and keeps the file.
    let again = drain(&config, &["--wait"]);
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("found"), "{}", again.stdout);

    let run = drain(&config, &["--undo"]);
    assert_eq!(
        run.code,
        Some(0),
        "drain --undo: {}{}",
        run.stdout,
        run.stderr
    );
    assert!(!maintenance.exists());
    let took = lb::wait_status(&haproxy, "UP", Duration::from_secs(5));
    eprintln!("drain --wait took {drain_took:?}; UP again {took:?} after --undo");
    let run = drain(&config, &["--undo"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("was not there"), "{}", run.stdout);
}

#[test]
fn drain_failures_are_one_line_with_exit_2_for_config_and_1_for_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    };
    // Exit `code` with one line on stderr that says `what`.
    let fails = |run: Run, code: i32, what: &str| {
        assert_eq!(run.code, Some(code), "{}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("clustercheckd drain: ") && run.stderr.contains(what),
            "must say {what:?}: {}",
            run.stderr
        );
    };

    let bad = write("bad.toml", "[haproxy]\nfall = 0\n");
    fails(drain(&bad, &["--wait"]), 2, "haproxy.fall");

    let typo = write("typo.toml", "[haproxy]\ninterval = \"2s\"\n");
    fails(drain(&typo, &[]), 2, "interval");

    // The timing's old place is refused, not ignored (the drain would wait the default).
    let moved = write("moved.toml", "[drain]\nhaproxy_inter = \"100ms\"\n");
    let said = "`drain.haproxy_inter` moved to `haproxy.inter`";
    fails(drain(&moved, &["--wait"]), 2, said);

    let nowhere = write(
        "nowhere.toml",
        "[galera]\nmaintenance_file = \"/nonexistent/dir/clustercheck.disabled\"\n",
    );
    fails(
        drain(&nowhere, &[]),
        1,
        "/nonexistent/dir/clustercheck.disabled",
    );

    // No daemon on the check port: HAProxy's checks fail there too, so the drain only waits.
    let closed = common::closed_port();
    let maintenance = dir.path().join("maint");
    let alone = write(
        "alone.toml",
        &format!(
            "[listen]\ncheck = \"127.0.0.1:{}\"\n[galera]\nmaintenance_file = \"{}\"\n\
             [haproxy]\ninter = \"100ms\"\nfall = 1\n",
            closed.port,
            maintenance.display()
        ),
    );
    let run = drain(&alone, &["--wait"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("nothing answers"), "{}", run.stdout);
    assert!(run.took >= Duration::from_millis(200), "{:?}", run.took);
    assert!(maintenance.exists());
    let run = drain(&alone, &["--undo", "--wait"]);
    assert_eq!(run.code, Some(2), "--undo --wait conflict: {}", run.stderr);
}
