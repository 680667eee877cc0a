//! The Galera check against the real three-node sandbox cluster (scripts/sandbox.sh up galera).
//!
//! Every test holds the Galera lock and heals the cluster when it is done (a Restore guard), so a
//! failure in one test does not leave the next with a broken cluster.

mod common;

use std::time::{Duration, Instant};

use common::fault_matrix::{record, FAULT};
use common::{
    env, env_num, galera_cluster_size, galera_heal, galera_sql, lock, sandbox, stdout_of, Daemon,
    Restore,
};

const SYNCED: &str = "Galera cluster node is synced.\n";

/// Interval and timeout of the daemons under test (see common::galera_section).
const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(1);
/// One interval plus the stated slack (the fault's own command, scheduling, the check's 100 ms
/// polling) for a change the next poll must see.
const SLACKED_INTERVAL: Duration = Duration::from_millis(1000 + 1000);

fn healthy(a: &common::Answer) -> bool {
    a.status == 200
}

fn unhealthy(a: &common::Answer) -> bool {
    a.status == 503
}

/// Before each test: three synced nodes, whatever came before.
fn ready() -> common::ClusterLock {
    let guard = lock("galera");
    galera_heal();
    guard
}

#[test]
fn every_synced_node_answers_200_to_what_haproxy_sends() {
    let _lock = ready();
    for n in 1..=3 {
        let daemon = Daemon::galera(n, "");
        let (answer, _) = daemon.wait_check(Duration::from_secs(5), "200", healthy);
        assert_eq!(answer.body, SYNCED, "node {n}");
        assert!(answer
            .head
            .to_ascii_lowercase()
            .contains("connection: close"));
        assert!(answer
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain"));
        assert_eq!(daemon.metric("clustercheckd_galera_healthy"), Some(1.0));
        assert_eq!(
            daemon.metric("clustercheckd_galera_cluster_size"),
            Some(3.0)
        );
        assert_eq!(
            daemon.metric("clustercheckd_collector_up{collector=\"galera\"}"),
            Some(1.0)
        );
    }
}

#[test]
fn desync_turns_503_within_an_interval_and_back() {
    let _lock = ready();
    let daemon = Daemon::galera(2, "");
    daemon.wait_check(Duration::from_secs(5), "200 before desync", healthy);
    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "2", "off"]);
    });
    // The clock starts before the fault (the SET itself), not after a helper's extra query.
    let fault = Instant::now();
    galera_sql(2, "SET GLOBAL wsrep_desync = ON");
    let (answer, _) = daemon.wait_check(SLACKED_INTERVAL, "503 after desync", unhealthy);
    let took = fault.elapsed();
    record(
        "Galera node desynced (wsrep_desync=ON)",
        "/",
        &answer,
        FAULT,
        took,
    );
    assert_eq!(
        answer.body,
        "Galera cluster node is not synced: Donor/Desynced.\n"
    );
    assert!(took <= SLACKED_INTERVAL, "took {took:?}");
    assert_eq!(daemon.metric("clustercheckd_galera_desync"), Some(1.0));
    assert_eq!(
        daemon.metric("clustercheckd_galera_local_state{state=\"donor_desynced\"}"),
        Some(1.0)
    );

    sandbox(&["galera", "desync", "2", "off"]);
    let (answer, _) = daemon.wait_check(Duration::from_secs(5), "200 after desync off", healthy);
    assert_eq!(answer.body, SYNCED);
}

/// Donor/Desynced is 200 with `available_when_donor`, unless the server says it refuses queries
/// while donor (wsrep_sst_donor_rejects_queries, set on the real server): then 503 naming that.
#[test]
fn desynced_donor_is_200_when_available_when_donor() {
    let _lock = ready();
    let daemon = Daemon::galera(3, "available_when_donor = true");
    daemon.wait_check(Duration::from_secs(5), "200 before desync", healthy);
    let _undo = Restore::new(|| {
        galera_sql(3, "SET GLOBAL wsrep_sst_donor_rejects_queries = OFF");
        sandbox(&["galera", "desync", "3", "off"]);
    });
    sandbox(&["galera", "desync", "3", "on"]);
    // The poll that saw the desync (its reason names the state), not a fixed wait.
    let (answer, _) = daemon.wait_check(SLACKED_INTERVAL, "the desync seen", |a| {
        a.body.contains("Donor/Desynced")
    });
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        "Galera cluster node is Donor/Desynced and available_when_donor is set.\n"
    );

    galera_sql(3, "SET GLOBAL wsrep_sst_donor_rejects_queries = ON");
    let (answer, _) = daemon.wait_check(SLACKED_INTERVAL, "503 rejecting while donor", unhealthy);
    assert_eq!(
        answer.body,
        "Galera cluster node is not synced: Donor/Desynced and rejecting queries while donor.\n"
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_sst_donor_rejects_queries"),
        Some(1.0)
    );
    galera_sql(3, "SET GLOBAL wsrep_sst_donor_rejects_queries = OFF");
    daemon.wait_check(SLACKED_INTERVAL, "200 again", healthy);
}

/// wsrep_reject_queries set on the real server: the check user's SHOW still works (the variable
/// refuses client queries, not the status the check reads), and the verdict is 503 naming the
/// switch, as the README says; NONE again is 200.
#[test]
fn reject_queries_all_is_503_naming_it_and_none_is_200() {
    let _lock = ready();
    let daemon = Daemon::galera(3, "");
    daemon.wait_check(Duration::from_secs(5), "200 before", healthy);
    let _undo = Restore::new(|| {
        galera_sql(3, "SET GLOBAL wsrep_reject_queries = NONE");
    });
    let fault = Instant::now();
    galera_sql(3, "SET GLOBAL wsrep_reject_queries = ALL");
    let (answer, _) = daemon.wait_check(SLACKED_INTERVAL, "503 rejecting queries", unhealthy);
    assert!(fault.elapsed() <= SLACKED_INTERVAL, "{:?}", fault.elapsed());
    assert_eq!(
        answer.body,
        "Galera cluster node rejects queries (wsrep_reject_queries=ALL).\n"
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_reject_queries{mode=\"all\"}"),
        Some(1.0)
    );
    assert_eq!(
        daemon.metric("clustercheckd_collector_up{collector=\"galera\"}"),
        Some(1.0),
        "the poll itself still works"
    );
    galera_sql(3, "SET GLOBAL wsrep_reject_queries = NONE");
    let (answer, _) = daemon.wait_check(SLACKED_INTERVAL, "200 after NONE", healthy);
    assert_eq!(answer.body, SYNCED);
}

/// `galera.expected_nodes` is for alerting only (README): a cluster smaller than expected still
/// answers 200 and exports both numbers; the verdict and the size come from one /status sample.
#[test]
fn expected_nodes_is_exported_and_does_not_fail_the_check() {
    let _lock = ready();
    for expected in [3u64, 5] {
        let daemon = Daemon::galera(1, &format!("expected_nodes = {expected}"));
        daemon.wait_check(Duration::from_secs(5), "200", healthy);
        let status: serde_json::Value =
            serde_json::from_str(&daemon.get("/status").body).expect("/status is JSON");
        let galera = &status["galera"];
        assert_eq!(galera["cluster_size"], 3, "{galera}");
        assert_eq!(galera["expected_nodes"], expected, "{galera}");
        assert_eq!(
            galera["healthy"], true,
            "expected_nodes = {expected}: {galera}"
        );
        let page = daemon.get("/metrics").body;
        assert_eq!(
            common::metric_value(&page, "clustercheckd_galera_cluster_size_expected"),
            Some(expected as f64)
        );
        assert_eq!(
            common::metric_value(&page, "clustercheckd_galera_cluster_size"),
            Some(3.0)
        );
    }
}

#[test]
fn killed_mysqld_is_503_and_restarted_is_200() {
    let _lock = ready();
    let daemon = Daemon::galera(3, "");
    daemon.wait_check(Duration::from_secs(5), "200 before kill", healthy);
    let _heal = Restore::new(galera_heal);
    let fault = Instant::now();
    sandbox(&["galera", "kill", "3"]);
    let (answer, _) = daemon.wait_check(SLACKED_INTERVAL, "503 after kill", unhealthy);
    let took = fault.elapsed();
    record("mysqld killed (SIGKILL)", "/", &answer, FAULT, took);
    assert!(
        answer.body.contains("state unknown: database unreachable"),
        "{}",
        answer.body
    );
    assert!(took <= SLACKED_INTERVAL, "took {took:?}");
    assert_eq!(
        daemon.metric("clustercheckd_collector_up{collector=\"galera\"}"),
        Some(0.0)
    );
    // No stale wsrep values while the server is gone.
    assert_eq!(daemon.metric("clustercheckd_galera_cluster_size"), None);

    sandbox(&["galera", "start", "3"]);
    let (answer, _) = daemon.wait_check(Duration::from_secs(60), "200 after restart", healthy);
    assert_eq!(answer.body, SYNCED);
}

#[test]
fn hung_mysqld_is_503_fast_and_stays_503_until_it_really_rejoined() {
    let _lock = ready();
    let daemon = Daemon::galera(2, "");
    daemon.wait_check(Duration::from_secs(5), "200 before SIGSTOP", healthy);
    let _heal = Restore::new(galera_heal);

    let stopped_at = Instant::now();
    sandbox(&["galera", "sigstop", "2"]);
    let deadline = INTERVAL + TIMEOUT + Duration::from_secs(1);
    let (answer, _) = daemon.wait_check(deadline, "503 while hung", unhealthy);
    let took = stopped_at.elapsed();
    record("mysqld hung (SIGSTOP)", "/", &answer, FAULT, took);
    assert!(took <= deadline, "took {took:?}");
    assert!(answer.body.contains("state unknown"), "{}", answer.body);

    // While mysqld hangs, every check still answers from memory, fast.
    let mut slowest = Duration::ZERO;
    while stopped_at.elapsed() < Duration::from_secs(20) {
        let answer = daemon.check();
        assert_eq!(answer.status, 503, "{}", answer.body);
        slowest = slowest.max(answer.elapsed);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        slowest < Duration::from_millis(100),
        "slowest check {slowest:?}"
    );

    sandbox(&["galera", "sigcont", "2"]);
    // The resumed node claims Synced/Primary/OPERATIONAL with its old view for about
    // evs.suspect_timeout, then GATHER, then non-Primary, then rejoins with a new conf_id; its
    // peers evicted it. Each iteration samples the check and then the peers' view: no 200 while
    // the peers do not count node 2, and a 200 soon after they do.
    let resumed = Instant::now();
    let mut saw_recovering = false;
    let mut peers_took_it_back: Option<Instant> = None;
    let mut timeline = Vec::new();
    loop {
        // One sample: the peers' view read just before and just after the check. The peers'
        // size only grows back here, so "3 before" means 3 when the check answered, and
        // "not 3 after" means not 3 then either; a 200 between the two is ambiguous and the
        // next sample decides.
        let before = (galera_cluster_size(1), galera_cluster_size(3));
        let answer = daemon.check();
        let peer_sizes = (galera_cluster_size(1), galera_cluster_size(3));
        timeline.push(format!(
            "{:>5.1} s {} peers {before:?}..{peer_sizes:?} {}",
            resumed.elapsed().as_secs_f64(),
            answer.status,
            answer.body.trim_end()
        ));
        if answer.body.contains("is recovering") {
            saw_recovering = true;
        }
        if answer.status == 200 {
            assert_eq!(
                peer_sizes,
                (3, 3),
                "200 before the peers took node 2 back:\n{}",
                timeline.join("\n")
            );
            if before == (3, 3) {
                break;
            }
        }
        if peer_sizes == (3, 3) {
            let since = *peers_took_it_back.get_or_insert_with(Instant::now);
            // Node 2 is Synced and Primary in the new configuration about when its peers count
            // it; a few polls more at most.
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "no 200 within 10 s of the peers taking node 2 back:\n{}\n{}",
                timeline.join("\n"),
                daemon.log_text()
            );
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(90),
            "node 2 never came back:\n{}\n{}",
            timeline.join("\n"),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("after the resume:\n{}", timeline.join("\n"));
    // It was evicted, so a new configuration released it, never the steady-old-view rule.
    assert_eq!(
        daemon.metric("clustercheckd_galera_recovery_holds_ended_total{by=\"new_configuration\"}"),
        Some(1.0),
        "{}",
        timeline.join("\n")
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_recovery_holds_ended_total{by=\"steady\"}"),
        Some(0.0)
    );
    assert!(
        saw_recovering,
        "the hold-down never showed: {}",
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("holding it unhealthy"));
}

#[test]
fn survivor_of_two_kills_is_non_primary_but_of_two_clean_stops_is_primary() {
    let _lock = ready();
    let daemon = Daemon::galera(1, "");
    daemon.wait_check(Duration::from_secs(5), "200 before", healthy);
    let _heal = Restore::new(|| {
        // A non-Primary survivor must be made Primary before the others can rejoin it.
        let _ = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args(["galera", "bootstrap_pc", "1"])
            .output();
        galera_heal();
    });

    let fault = Instant::now();
    sandbox(&["galera", "kill", "2"]);
    sandbox(&["galera", "kill", "3"]);
    let (answer, _) = daemon.wait_check(Duration::from_secs(30), "503 without quorum", unhealthy);
    record(
        "non-Primary survivor (two of three nodes SIGKILLed)",
        "/",
        &answer,
        FAULT,
        fault.elapsed(),
    );
    assert!(
        answer.body.contains("is not in the Primary component"),
        "{}",
        answer.body
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_cluster_status{status=\"non_primary\"}"),
        Some(1.0)
    );

    sandbox(&["galera", "bootstrap_pc", "1"]);
    galera_heal();
    daemon.wait_check(Duration::from_secs(30), "200 after healing", healthy);

    sandbox(&["galera", "stop", "2"]);
    sandbox(&["galera", "stop", "3"]);
    // Wait for the poll that saw the cluster shrink to one; its verdict is in the same /status
    // document as the size it qualifies.
    let start = Instant::now();
    let galera = loop {
        let status: serde_json::Value =
            serde_json::from_str(&daemon.get("/status").body).expect("/status is JSON");
        if status["galera"]["cluster_size"] == 1 {
            break status["galera"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the daemon never saw a cluster of one: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(galera["healthy"], true, "clean stops keep quorum: {galera}");
    assert_eq!(galera["cluster_status"], "Primary", "{galera}");
    assert_eq!(daemon.check().status, 200);
}

#[test]
fn read_only_is_503_when_not_available_when_readonly() {
    let _lock = ready();
    let strict = Daemon::galera(1, "available_when_readonly = false");
    let lenient = Daemon::galera(1, "");
    strict.wait_check(Duration::from_secs(5), "200 before", healthy);
    let _undo = Restore::new(|| {
        galera_sql(1, "SET GLOBAL read_only = OFF");
    });
    galera_sql(1, "SET GLOBAL read_only = ON");
    let (answer, _) = strict.wait_check(Duration::from_secs(3), "503 read-only", unhealthy);
    assert_eq!(answer.body, "Galera cluster node is read-only.\n");
    assert_eq!(lenient.check().status, 200);
    galera_sql(1, "SET GLOBAL read_only = OFF");
    strict.wait_check(Duration::from_secs(3), "200 after read_only OFF", healthy);
}

#[test]
fn maintenance_file_drains_the_node() {
    let _lock = ready();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("clustercheck.disabled");
    let daemon = Daemon::galera(
        1,
        &format!("maintenance_file = \"{}\"", common::path_str(&file)),
    );
    daemon.wait_check(Duration::from_secs(5), "200 before", healthy);
    std::fs::write(&file, "").expect("create maintenance file");
    let (answer, _) = daemon.wait_check(Duration::from_secs(3), "503 in maintenance", unhealthy);
    assert!(answer.body.contains("manually disabled"), "{}", answer.body);
    assert_eq!(
        daemon.metric("clustercheckd_galera_maintenance_file_present"),
        Some(1.0)
    );
    std::fs::remove_file(&file).expect("remove maintenance file");
    daemon.wait_check(Duration::from_secs(3), "200 after maintenance", healthy);
}

#[test]
fn wrong_password_is_503_saying_authentication_failed() {
    let _lock = ready();
    let daemon = Daemon::galera(1, "password = \"not-the-password\"");
    // Before the first poll the answer is 503 too ("no poll has completed yet"): wait for the
    // poll's own verdict, not just any 503.
    let (answer, _) = daemon.wait_check(Duration::from_secs(5), "503 auth", |a| {
        a.status == 503 && a.body.contains("authentication failed")
    });
    assert!(
        answer.body.contains("authentication failed"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("not-the-password"));
    let log = daemon.log_text();
    assert!(log.contains("authentication failed"), "{log}");
    assert!(!log.contains("not-the-password"), "password in log: {log}");
    let status = daemon.get("/status").body;
    assert!(!status.contains("not-the-password"));
    assert!(!daemon.get("/metrics").body.contains("not-the-password"));
}

#[test]
fn percona_compat_reproduces_clustercheck_bodies() {
    let _lock = ready();
    let daemon = Daemon::galera(1, "compat = \"percona\"");
    let (answer, _) = daemon.wait_check(Duration::from_secs(5), "200", healthy);
    assert_eq!(answer.body, "Percona XtraDB Cluster Node is synced.\r\n");
    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "1", "off"]);
    });
    sandbox(&["galera", "desync", "1", "on"]);
    let (answer, _) = daemon.wait_check(Duration::from_secs(3), "503", unhealthy);
    assert_eq!(
        answer.body,
        "Percona XtraDB Cluster Node is not synced or non-PRIM. \r\n"
    );
}

#[test]
fn status_page_gives_the_same_verdict_as_json() {
    let _lock = ready();
    let daemon = Daemon::galera(2, "");
    daemon.wait_check(Duration::from_secs(5), "200", healthy);
    let status: serde_json::Value =
        serde_json::from_str(&daemon.get("/status").body).expect("/status is JSON");
    let galera = &status["galera"];
    assert_eq!(galera["healthy"], true);
    assert_eq!(galera["reason"], "Galera cluster node is synced.");
    assert_eq!(galera["state"], "Synced");
    assert_eq!(galera["cluster_status"], "Primary");
    assert_eq!(galera["cluster_size"], 3);
    assert!(galera["snapshot_age_seconds"].as_f64().unwrap_or(99.0) < 3.0);
    assert!(galera["provider_version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    // Galera's own name for the node (issue 9 item 3), shown and logged at the first answer.
    let name = galera_sql(2, "SELECT @@GLOBAL.wsrep_node_name");
    assert_eq!(galera["node_name"], name.trim());
    let log = daemon.log_text();
    assert!(
        log.contains("this node's name in the cluster") && log.contains(name.trim()),
        "{log}"
    );
}

/// An nftables table dropping TCP traffic to and from one local port, deleted when dropped (also
/// when the test fails). Its own table name, so it never touches another test's rules.
struct PortBlock {
    table: &'static str,
}

impl PortBlock {
    fn drop_port(table: &'static str, port: u16) -> PortBlock {
        // A table left by a run that was killed before its guard ran.
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "inet", table])
            .output();
        let block = PortBlock { table };
        let rules = format!(
            "table inet {table} {{\n chain output {{\n  type filter hook output priority 0; policy accept;\n  \
             ip daddr 127.0.0.0/8 tcp dport {port} drop\n  ip saddr 127.0.0.0/8 tcp sport {port} drop\n }}\n}}\n"
        );
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), rules).expect("write nft rules");
        stdout_of(
            std::process::Command::new("nft").arg("-f").arg(file.path()),
            "nft -f (apt-get install nftables: scripts/install-deps.sh)",
        );
        block
    }

    fn lift(&self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "inet", self.table])
            .output();
    }
}

impl Drop for PortBlock {
    fn drop(&mut self) {
        self.lift();
    }
}

/// Issue 9 item 10: only the daemon's connection was blocked for 7 s (its packets dropped; mysqld
/// and Galera untouched, nobody evicted). The node stays OPERATIONAL in its old configuration,
/// which is the evidence: 200 again within evs.suspect_timeout + 3 s of the unblock, not after
/// recovery_max_hold (30 s), which is what it took before.
#[test]
fn blocked_connection_to_a_healthy_node_is_200_within_suspect_timeout_of_the_unblock() {
    let _lock = ready();
    // Node 3 over TCP: a backup server in the sandbox's HAProxy, so the block costs nobody much.
    let port = env_num("GALERA_SQL_PORT_BASE") + 3;
    let daemon = Daemon::start(&format!(
        "[galera]\nuser = \"{}\"\npassword = \"{}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         interval = \"1s\"\ntimeout = \"1s\"\n",
        env()["GALERA_CHECK_USER"],
        env()["GALERA_CHECK_PASSWORD"]
    ));
    daemon.wait_check(Duration::from_secs(5), "200 before the block", healthy);
    let suspect_timeout = Duration::from_secs_f64(
        daemon
            .metric("clustercheckd_galera_evs_suspect_timeout_seconds")
            .expect("evs.suspect_timeout exported"),
    );

    let block = PortBlock::drop_port("ccd_test_galera_block", port);
    let blocked_at = Instant::now();
    let (answer, _) = daemon.wait_check(
        INTERVAL + TIMEOUT + Duration::from_secs(1),
        "503 while blocked",
        unhealthy,
    );
    assert!(answer.body.contains("state unknown"), "{}", answer.body);
    while blocked_at.elapsed() < Duration::from_secs(7) {
        std::thread::sleep(Duration::from_millis(50));
    }
    block.lift();
    let unblocked = Instant::now();

    let deadline = suspect_timeout + Duration::from_secs(3);
    let mut saw_recovering = false;
    let mut timeline = Vec::new();
    loop {
        let answer = daemon.check();
        timeline.push(format!(
            "{:>5.1} s {} {}",
            unblocked.elapsed().as_secs_f64(),
            answer.status,
            answer.body.trim_end()
        ));
        saw_recovering |= answer.body.contains("is recovering");
        if answer.status == 200 {
            break;
        }
        assert!(
            unblocked.elapsed() <= deadline,
            "no 200 within {deadline:?} of the unblock:\n{}\n{}",
            timeline.join("\n"),
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("after the unblock:\n{}", timeline.join("\n"));
    // The outage was longer than suspect_timeout, so there was a hold, and evidence ended it.
    assert!(saw_recovering, "no hold-down:\n{}", timeline.join("\n"));
    assert!(
        daemon.log_text().contains("it was never evicted"),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_recovery_holds_ended_total{by=\"steady\"}"),
        Some(1.0)
    );
    // Galera itself never noticed: the peers still count node 3.
    assert_eq!(galera_cluster_size(1), 3);
}

/// Item 8 of issue 9: a global wsrep_sync_wait turns a SELECT into a causal read, which outside
/// a Primary component fails instead of answering. The poll reads SHOW output on a session with
/// wsrep_sync_wait = 0, so the non-Primary survivor of an abrupt two-node loss is still judged
/// (503 naming non-Primary) and its wsrep metrics are still exported.
#[test]
fn global_wsrep_sync_wait_still_sees_the_non_primary_survivor() {
    let _lock = ready();
    let original: Vec<String> = (1..=3u8)
        .map(|n| {
            galera_sql(n, "SELECT @@GLOBAL.wsrep_sync_wait")
                .trim()
                .to_owned()
        })
        .collect();
    assert!(
        original.iter().all(|v| v.parse::<u8>().is_ok()),
        "{original:?}"
    );
    let restore_values = original.clone();
    let _heal = Restore::new(move || {
        // Sync wait first: with it, the sandbox's own SHOW STATUS on a non-Primary node fails.
        let set = |n: u8| {
            let _ = std::process::Command::new("bash")
                .arg(common::repo().join("scripts/sandbox.sh"))
                .args([
                    "galera",
                    "sql",
                    &n.to_string(),
                    &format!(
                        "SET GLOBAL wsrep_sync_wait = {}",
                        restore_values[usize::from(n - 1)]
                    ),
                ])
                .output();
        };
        (1..=3).for_each(set);
        // A non-Primary survivor must be made Primary before the others can rejoin it.
        let _ = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args(["galera", "bootstrap_pc", "1"])
            .output();
        galera_heal();
        (1..=3).for_each(set);
        for n in 1..=3u8 {
            assert_eq!(
                galera_sql(n, "SELECT @@GLOBAL.wsrep_sync_wait").trim(),
                restore_values[usize::from(n - 1)],
                "wsrep_sync_wait restored on node {n}"
            );
        }
        assert_eq!(galera_cluster_size(1), 3, "three nodes again");
    });
    for n in 1..=3u8 {
        galera_sql(n, "SET GLOBAL wsrep_sync_wait = 15");
    }
    let daemon = Daemon::galera(1, "");
    daemon.wait_check(Duration::from_secs(5), "200 with sync wait", healthy);

    sandbox(&["galera", "kill", "2"]);
    sandbox(&["galera", "kill", "3"]);
    let (answer, _) = daemon.wait_check(Duration::from_secs(30), "503 non-Primary", |a| {
        a.status == 503 && a.body.contains("non-Primary")
    });
    assert!(
        answer.body.contains("not in the Primary component"),
        "{}",
        answer.body
    );
    assert_eq!(
        daemon.metric("clustercheckd_collector_up{collector=\"galera\"}"),
        Some(1.0),
        "the poll itself succeeds"
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_cluster_status{status=\"non_primary\"}"),
        Some(1.0)
    );
    assert_eq!(
        daemon.metric("clustercheckd_galera_cluster_conf_id"),
        Some(-1.0)
    );
    assert!(daemon
        .metric("clustercheckd_galera_local_state_code")
        .is_some());
    assert!(daemon
        .metric("clustercheckd_galera_flow_control_sent_total")
        .is_some());
}

/// Item 9 of issue 9: with no socket or host configured, the daemon tries
/// `galera.socket_candidates` in order and keeps the first Galera server; the credentials come
/// from clustercheck's own variables file. The list is the test's own (the host's MariaDB paths
/// are never touched): a missing socket first, then sandbox node 2's.
#[test]
fn socket_candidates_skip_a_missing_socket_and_name_the_one_that_answered() {
    let _lock = ready();
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.sock");
    let node2 =
        std::path::PathBuf::from(&common::env()["SANDBOX_DIR"]).join("galera/node2/mysqld.sock");
    let env_file = dir.path().join("clustercheck");
    std::fs::write(
        &env_file,
        format!(
            "# /etc/sysconfig/clustercheck\nMYSQL_USERNAME=\"{}\"\nMYSQL_PASSWORD='{}'\n",
            common::env()["GALERA_CHECK_USER"],
            common::env()["GALERA_CHECK_PASSWORD"]
        ),
    )
    .expect("write env file");
    let daemon = Daemon::start(&format!(
        "[galera]\ninterval = \"1s\"\ntimeout = \"1s\"\nclustercheck_env_file = \"{}\"\n\
         socket_candidates = [\"{}\", \"{}\"]\n",
        env_file.display(),
        missing.display(),
        node2.display()
    ));
    let (answer, _) = daemon.wait_check(Duration::from_secs(5), "200", healthy);
    assert_eq!(answer.body, SYNCED);
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("socket candidate answered"))
        .unwrap_or_else(|| panic!("no line naming the socket:\n{log}"));
    assert!(line.contains(&node2.display().to_string()), "{line}");
    assert!(!line.contains("missing.sock"), "{line}");

    // Only missing sockets: 503 naming every one tried, never a guess.
    let other = dir.path().join("other.sock");
    let lost = Daemon::start(&format!(
        "[galera]\ninterval = \"200ms\"\nclustercheck_env_file = \"{}\"\n\
         socket_candidates = [\"{}\", \"{}\"]\n",
        env_file.display(),
        missing.display(),
        other.display()
    ));
    let (answer, _) = lost.wait_check(Duration::from_secs(5), "503 naming both", |a| {
        a.status == 503 && a.body.contains("other.sock")
    });
    assert!(answer.body.contains("missing.sock"), "{}", answer.body);
}
