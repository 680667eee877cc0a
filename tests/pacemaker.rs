//! The Pacemaker collector and the /pacemaker and /vip checks, against the real tools.
//!
//! - Offline: the three-controller scenarios made by scripts/pacemaker-scenarios.sh (real pcs,
//!   crm_simulate, crm_mon and cibadmin) in a temp dir; one daemon per controller reads each CIB
//!   through `cib_file`, so the test sees what each of the three daemons would say.
//! - Live: the single-node cluster of the sandbox (`scripts/sandbox.sh up pacemaker`), with the
//!   IPaddr2 VIP on veth ccdvip0: bans, moves, stops and a failing monitor, undone by Restore
//!   guards even when an assertion fails.
//! - Hostile crm_mon: missing, failing, garbage, hanging; the Galera check keeps answering.
//!
//! Needs root and the sandbox; a missing component fails the test, it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::fault_matrix::{record, READY};
use common::{lock, sandbox, Answer, Daemon, Restore};

/// How long a change may take to show: the cluster settles (the sandbox verbs wait for that),
/// then one 1 s poll.
const SETTLE: Duration = Duration::from_secs(15);

/// The scenario CIBs, made once per test binary by the real tools.
fn scenarios() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/pacemaker-scenarios.sh"))
            .arg(dir.path())
            .output()
            .expect("run scripts/pacemaker-scenarios.sh");
        assert!(
            out.status.success(),
            "scripts/pacemaker-scenarios.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.path().to_owned();
        (dir, path)
    })
    .1
}

/// A daemon reading scenario `name`'s CIB as node `node`; Galera off.
fn offline(name: &str, node: &str) -> Daemon {
    let cib = scenarios().join(format!("{name}.xml"));
    assert!(cib.exists(), "{} missing", cib.display());
    Daemon::start(&format!(
        "node_name = \"{node}\"\n[listen]\n[galera]\nenabled = false\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\ncib_file = \"{}\"\n\
         [vip]\nenabled = true\n[[vip.vips]]\nresource = \"vip\"\n",
        cib.display()
    ))
}

/// Poll `path` until `want`, or fail with the last answer and the log.
fn wait_for(d: &Daemon, path: &str, within: Duration, want: impl Fn(&Answer) -> bool) -> Answer {
    let start = Instant::now();
    loop {
        let answer = d.get(path);
        if want(&answer) {
            return answer;
        }
        if start.elapsed() > within {
            panic!(
                "{path}: not as expected within {within:?}; last: {} {:?}\nlog:\n{}",
                answer.status,
                answer.body,
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Wait for the first successful poll.
fn wait_up(d: &Daemon) {
    wait_for(d, "/metrics", Duration::from_secs(20), |a| {
        a.body
            .contains("clustercheckd_collector_up{collector=\"pacemaker\"} 1")
    });
}

fn wait_metric(d: &Daemon, series: &str, value: Option<f64>) {
    let start = Instant::now();
    loop {
        let got = d.metric(series);
        if got == value {
            return;
        }
        if start.elapsed() > SETTLE {
            panic!(
                "{series}: {got:?}, expected {value:?}\n{}",
                d.get("/status").body
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn metric(d: &Daemon, series: &str) -> Option<f64> {
    d.metric(series)
}

/// Every series on the page exactly once (stopped clone instances must not duplicate).
fn assert_unique_series(page: &str) {
    let mut seen = std::collections::HashSet::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
        assert!(seen.insert(series.to_owned()), "duplicate series {series}");
    }
}

const NODES: [&str; 3] = ["controller01", "controller02", "controller03"];

/// The three daemons of a scenario: their /pacemaker and /vip answers and the sum of
/// vip_pacemaker_local (on how many controllers Pacemaker places the VIP). All three daemons run
/// on this host, which does not have the scenario VIP's address (10.0.0.10, read from the CIB
/// file): /vip is 503 on all three, and held_locally 0; the holder's reason says why.
fn three(name: &str) -> (Vec<Daemon>, Vec<u16>, Vec<u16>, f64) {
    let daemons: Vec<Daemon> = NODES.iter().map(|n| offline(name, n)).collect();
    daemons.iter().for_each(wait_up);
    let pacemaker = daemons.iter().map(|d| d.get("/pacemaker").status).collect();
    let vip = daemons.iter().map(|d| d.get("/vip").status).collect();
    let placed = daemons
        .iter()
        .map(|d| metric(d, "clustercheckd_vip_pacemaker_local{vip=\"vip\"}").unwrap_or(f64::NAN))
        .sum();
    for d in &daemons {
        assert_eq!(
            metric(d, HELD),
            Some(0.0),
            "10.0.0.10 is on no interface here"
        );
    }
    (daemons, pacemaker, vip, placed)
}

#[test]
fn offline_healthy_cluster_one_vip_holder_with_haproxy_beside_it() {
    let (daemons, pacemaker, vip, placed) = three("healthy");
    assert_eq!(pacemaker, [200, 200, 200]);
    // The holder too: the address is not on this host (it was 200 before the address was read
    // from the CIB).
    assert_eq!(vip, [503, 503, 503]);
    assert_eq!(placed, 1.0, "exactly one node holds the VIP");
    assert_eq!(
        daemons[0].get("/vip").body,
        "VIP vip (10.0.0.10): Pacemaker says this node (controller01) runs it, but 10.0.0.10 is not on any interface.\n"
    );
    let d = &daemons[0];
    let page = d.get("/metrics").body;
    assert_unique_series(&page);
    for series in [
        "clustercheckd_pacemaker_quorate 1",
        "clustercheckd_pacemaker_dc_present 1",
        "clustercheckd_pacemaker_stonith_enabled 0",
        "clustercheckd_pacemaker_nodes{state=\"online\"} 3",
        "clustercheckd_vip_holder{vip=\"vip\",node=\"controller01\"} 1",
        "clustercheckd_vip_colocation_satisfied{vip=\"vip\",resource=\"lb-haproxy-clone\"} 1",
        "clustercheckd_pacemaker_resource_role{resource=\"lb-haproxy-clone\",primitive=\"lb-haproxy\",role=\"stopped\"} 2",
        "clustercheckd_pacemaker_failed_actions 0",
        "clustercheckd_collector_up{collector=\"pacemaker\"} 1",
    ] {
        assert!(page.contains(series), "missing {series}:\n{page}");
    }
    // The other controllers see the same holder.
    assert_eq!(
        metric(
            &daemons[1],
            "clustercheckd_vip_holder{vip=\"vip\",node=\"controller01\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        daemons[1].get("/vip").body,
        "VIP vip (10.0.0.10): not here; Pacemaker runs it on controller01.\n"
    );
    let status = d.get("/status").body;
    assert!(
        status.contains("\"pacemaker\":") && status.contains("\"vip\":"),
        "{status}"
    );
}

#[test]
fn offline_vip_moved_follows_to_controller02() {
    // A recorded scenario (the sandbox has one Pacemaker node): the clock starts before the three
    // daemons (the CIBs made already) and stops once each has read its CIB.
    scenarios();
    let start = Instant::now();
    let (daemons, pacemaker, vip, placed) = three("vip-moved");
    let took = start.elapsed();
    assert_eq!(pacemaker, [200, 200, 200]);
    assert_eq!(vip, [503, 503, 503]);
    assert_eq!(placed, 1.0);
    let since = "start of 3 daemons (recorded CIB)";
    for (who, d) in [("old holder", &daemons[0]), ("new holder", &daemons[1])] {
        let fault = format!("VIP moved controller01 -> 02, seen by the {who}");
        record(&fault, "/vip", &d.get("/vip"), since, took);
    }
    assert!(
        daemons[1]
            .get("/vip")
            .body
            .contains("Pacemaker says this node (controller02) runs it"),
        "{}",
        daemons[1].get("/vip").body
    );
    assert_eq!(
        metric(
            &daemons[1],
            "clustercheckd_vip_colocation_satisfied{vip=\"vip\",resource=\"lb-haproxy-clone\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn offline_quorum_lost() {
    // no-quorum-policy=ignore: the VIP keeps running on the lone node, but it has no quorum.
    let d = offline("quorum-lost", "controller01");
    wait_up(&d);
    let answer = d.get("/pacemaker");
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.body,
        "Pacemaker: partition has no quorum (DC controller01).\n"
    );
    let answer = d.get("/vip");
    assert_eq!(answer.status, 503, "10.0.0.10 is not on this host");
    assert!(
        answer
            .body
            .contains("Pacemaker says this node (controller01) runs it"),
        "{}",
        answer.body
    );
    assert_eq!(metric(&d, "clustercheckd_pacemaker_quorate"), Some(0.0));
    // no-quorum-policy=stop: everything stops, so nobody holds the VIP.
    let (_daemons, _pacemaker, vip, placed) = three("quorum-lost-stop");
    assert_eq!(vip, [503, 503, 503]);
    assert_eq!(placed, 0.0, "no node holds the VIP");
    assert_eq!(
        metric(
            &_daemons[0],
            "clustercheckd_vip_pacemaker_nodes{vip=\"vip\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &_daemons[0],
            "clustercheckd_vip_colocation_satisfied{vip=\"vip\",resource=\"lb-haproxy-clone\"}"
        ),
        Some(0.0)
    );
}

#[test]
fn offline_node_states() {
    let d = offline("standby", "controller01");
    wait_up(&d);
    let answer = d.get("/pacemaker");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (503, "Pacemaker: node controller01 is in standby.\n")
    );
    assert_eq!(
        metric(&d, "clustercheckd_pacemaker_node_state{node=\"controller01\",type=\"member\",state=\"standby\"}"),
        Some(1.0)
    );
    let d = offline("node-down", "controller02");
    wait_up(&d);
    assert_eq!(
        d.get("/pacemaker").body,
        "Pacemaker: node controller02 is offline.\n"
    );
    assert_eq!(
        metric(&d, "clustercheckd_pacemaker_nodes{state=\"offline\"}"),
        Some(1.0)
    );
}

#[test]
fn offline_failures_fail_counts_bans_and_nested_resources() {
    let d = offline("migration-threshold", "controller01");
    wait_up(&d);
    for (series, value) in [
        ("clustercheckd_pacemaker_resource_failures{node=\"controller01\",resource=\"vip\"}", 1.0),
        ("clustercheckd_pacemaker_migration_threshold{node=\"controller01\",resource=\"vip\"}", 1.0),
        ("clustercheckd_pacemaker_failed_actions", 1.0),
        ("clustercheckd_pacemaker_failed_action{node=\"controller01\",resource=\"vip\",task=\"monitor\"}", 1.0),
        ("clustercheckd_vip_holder{vip=\"vip\",node=\"controller02\"}", 1.0),
    ] {
        assert_eq!(metric(&d, series), Some(value), "{series}");
    }
    let d = offline("vip-banned", "controller01");
    wait_up(&d);
    assert_eq!(
        metric(
            &d,
            "clustercheckd_pacemaker_ban{resource=\"vip\",node=\"controller01\"}"
        ),
        Some(1.0)
    );
    assert_eq!(d.get("/vip").status, 503);
    let d = offline("bundle-group-clone", "controller01");
    wait_up(&d);
    let page = d.get("/metrics").body;
    assert_unique_series(&page);
    assert!(page.contains("clustercheckd_pacemaker_resource_role{resource=\"galera-grp-clone\",primitive=\"galera-svc\",role=\"started\"} 3"), "{page}");
    assert!(page.contains("clustercheckd_pacemaker_resource_role{resource=\"rabbitmq-bundle\",primitive=\"rabbitmq\",role=\"started\"} 3"));
    assert!(page.contains("clustercheckd_pacemaker_nodes{state=\"online\"} 6"));
}

// --- hostile crm_mon ---------------------------------------------------------------------------

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A daemon whose crm_mon is `crm_mon`; Galera on, pointed at a socket that does not exist, so
/// its check answers 503 at once: it must keep answering whatever crm_mon does.
fn with_crm_mon(crm_mon: &Path) -> Daemon {
    Daemon::start(&format!(
        "node_name = \"vm\"\n[listen]\n[galera]\nsocket = \"/nonexistent/mysqld.sock\"\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"1s\"\ncrm_mon_path = \"{}\"\n\
         cibadmin_path = \"/bin/true\"\n",
        crm_mon.display()
    ))
}

#[test]
fn broken_crm_mon_reports_down_with_a_reason_and_galera_keeps_answering() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (dir.path().join("no-such-crm_mon"), "not found"),
        (
            script(
                dir.path(),
                "failing",
                "echo 'crm_mon: Connection to cluster failed' >&2; exit 102",
            ),
            "exited with 102",
        ),
        (
            script(dir.path(), "garbage", "echo 'Segmentation fault <<<'"),
            "not XML",
        ),
        (
            script(dir.path(), "html", "echo '<html><body>hi</body></html>'"),
            "expected <pacemaker-result>",
        ),
        (
            // Each run records its own pid (the group it leads) and its child's.
            script(
                dir.path(),
                "hanging",
                &format!(
                    "sleep 29.5 & echo \"$$ $!\" >> '{}'; wait; echo never",
                    dir.path().join("hanging.pids").display()
                ),
            ),
            "did not finish within 1.0 s",
        ),
    ];
    for (crm_mon, reason) in &cases {
        let d = with_crm_mon(crm_mon);
        let start = Instant::now();
        let answer = wait_for(&d, "/pacemaker", Duration::from_secs(5), |a| {
            a.body.contains(reason)
        });
        assert_eq!(answer.status, 503, "{}", crm_mon.display());
        if crm_mon.ends_with("hanging") {
            record(
                "crm_mon hanging",
                "/pacemaker",
                &answer,
                READY,
                start.elapsed(),
            );
        }
        // Within interval + timeout (+ scheduling slack).
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{}: {:?}",
            crm_mon.display(),
            start.elapsed()
        );
        assert_eq!(
            metric(&d, "clustercheckd_collector_up{collector=\"pacemaker\"}"),
            Some(0.0)
        );
        assert_eq!(metric(&d, "clustercheckd_pacemaker_quorate"), None);
        let galera = d.check();
        assert_eq!(galera.status, 503);
        assert!(
            galera.elapsed < Duration::from_millis(500),
            "galera check took {:?}",
            galera.elapsed
        );
        assert!(galera.body.contains("Galera"), "{}", galera.body);
        if crm_mon.ends_with("hanging") {
            // Each timed-out poll killed its child's whole group: once a third run has started,
            // the shells of the first two and the sleeps they started are gone.
            let pids = dir.path().join("hanging.pids");
            let start = Instant::now();
            let runs = loop {
                let runs: Vec<Vec<u32>> = std::fs::read_to_string(&pids)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| {
                        l.split_whitespace()
                            .filter_map(|p| p.parse().ok())
                            .collect()
                    })
                    .collect();
                if runs.len() >= 3 {
                    break runs;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(8),
                    "fewer than three crm_mon runs: {runs:?}\n{}",
                    d.log_text()
                );
                std::thread::sleep(Duration::from_millis(100));
            };
            for pid in runs[..2].iter().flatten() {
                let start = Instant::now();
                while !process_gone(*pid) {
                    assert!(
                        start.elapsed() < Duration::from_secs(1),
                        "pid {pid} of a timed-out crm_mon run is still running: {runs:?}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// No such process, or only its zombie (killed, not yet reaped by whoever adopted it).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Each of the signals that crm_mon does not know `--output-as` (Pacemaker 1.1) makes the
/// daemon fall back to `--as-xml`, alone: one fake crm_mon per signal, each giving exactly that
/// one (a usage exit code, or a stderr naming the option, or an unrecognized or unknown option).
/// The control gives none of them and must not fall back. All cases run; the failures are listed.
#[test]
fn old_crm_mon_without_output_as_falls_back_to_as_xml() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = common::repo().join("tests/fixtures/pacemaker/live-healthy.crm_mon-legacy.xml");
    let cases = [
        (
            "exit code 64 (CRM_EX_USAGE)",
            "crm_mon: bad usage",
            64,
            true,
        ),
        (
            "stderr names output-as",
            "crm_mon: --output-as: invalid argument",
            1,
            true,
        ),
        (
            "unrecognized option",
            "crm_mon: unrecognized option '-X'",
            1,
            true,
        ),
        ("unknown option", "crm_mon: unknown option -- X", 1, true),
        (
            "control: no signal",
            "crm_mon: Connection to cluster failed",
            1,
            false,
        ),
    ];
    let mut failures = Vec::new();
    for (i, (case, stderr, code, falls_back)) in cases.into_iter().enumerate() {
        let legacy_used = dir.path().join(format!("legacy-used-{i}"));
        let crm_mon = script(
            dir.path(),
            &format!("crm_mon-{i}"),
            &format!(
                "case \"$*\" in *--as-xml*) touch '{}'; cat '{}';; \
                 *) echo \"{stderr}\" >&2; exit {code};; esac",
                legacy_used.display(),
                fixture.display()
            ),
        );
        let d = with_crm_mon(&crm_mon);
        if falls_back {
            let start = Instant::now();
            loop {
                let legacy = metric(
                    &d,
                    "clustercheckd_pacemaker_crm_mon_format{format=\"legacy\"}",
                );
                let answer = d.get("/pacemaker");
                if legacy == Some(1.0) && answer.status == 200 {
                    break;
                }
                if start.elapsed() > Duration::from_secs(5) {
                    failures.push(format!(
                        "{case}: no fallback (legacy format {legacy:?}, /pacemaker {} {:?})",
                        answer.status, answer.body
                    ));
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        } else {
            let answer = wait_for(&d, "/pacemaker", Duration::from_secs(5), |a| {
                a.body.contains("exited with 1")
            });
            assert_eq!(answer.status, 503);
            // Two more polls, and still never asked for --as-xml.
            let polls = "clustercheckd_collector_poll_errors_total{collector=\"pacemaker\"}";
            let first = metric(&d, polls).unwrap_or(0.0);
            let start = Instant::now();
            while metric(&d, polls).unwrap_or(0.0) < first + 2.0 {
                assert!(start.elapsed() < Duration::from_secs(5), "{polls} stuck");
                std::thread::sleep(Duration::from_millis(100));
            }
            if legacy_used.exists() {
                failures.push(format!("{case}: fell back to --as-xml without a signal"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// --- the live sandbox cluster ------------------------------------------------------------------

fn live_node() -> String {
    sandbox(&["up", "pacemaker"]);
    sandbox(&["pacemaker", "node_name"]).trim().to_owned()
}

fn live(node: &str, extra: &str) -> Daemon {
    let vip = common::env()
        .get("PACEMAKER_VIP")
        .expect("PACEMAKER_VIP in env.sh")
        .clone();
    let d = Daemon::start(&format!(
        "node_name = \"{node}\"\n[listen]\n[galera]\nenabled = false\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\n{extra}\n\
         [vip]\nenabled = true\n[[vip.vips]]\nname = \"vip\"\nresource = \"vip\"\naddress = \"{vip}\"\n"
    ));
    wait_up(&d);
    d
}

const HELD: &str = "clustercheckd_vip_held_locally{vip=\"vip\"}";

#[test]
fn live_vip_ban_move_and_stop_turn_vip_503_and_back() {
    let _lock = lock("pacemaker");
    let node = live_node();
    let d = live(&node, "");
    let answer = wait_for(&d, "/vip", SETTLE, |a| a.status == 200);
    assert!(answer.body.contains("on ccdvip0"), "{}", answer.body);
    assert_eq!(
        metric(
            &d,
            &format!("clustercheckd_vip_holder{{vip=\"vip\",node=\"{node}\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&d, "clustercheckd_vip_agreement{vip=\"vip\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &d,
            "clustercheckd_vip_colocation_satisfied{vip=\"vip\",resource=\"lb-haproxy-clone\"}"
        ),
        Some(1.0)
    );
    assert_eq!(d.get("/pacemaker").status, 200);

    for (what, disturb, undo) in [
        (
            "ban",
            ["pacemaker", "ban", "vip"],
            ["pacemaker", "clear", "vip"],
        ),
        (
            "move",
            ["pacemaker", "move", "vip"],
            ["pacemaker", "clear", "vip"],
        ),
        (
            "stop",
            ["pacemaker", "stop_resource", "vip"],
            ["pacemaker", "start_resource", "vip"],
        ),
    ] {
        let restore = Restore::new(move || {
            sandbox(&undo);
        });
        sandbox(&disturb);
        let answer = wait_for(&d, "/vip", SETTLE, |a| a.status == 503);
        assert!(
            answer.body.contains("runs it nowhere"),
            "{what}: {}",
            answer.body
        );
        wait_metric(&d, HELD, Some(0.0));
        wait_metric(
            &d,
            "clustercheckd_vip_pacemaker_nodes{vip=\"vip\"}",
            Some(0.0),
        );
        assert_eq!(
            metric(
                &d,
                &format!("clustercheckd_vip_holder{{vip=\"vip\",node=\"{node}\"}}")
            ),
            None,
            "{what}"
        );
        assert_eq!(
            metric(&d, "clustercheckd_vip_agreement{vip=\"vip\"}"),
            Some(1.0),
            "{what}"
        );
        assert_eq!(
            metric(
                &d,
                "clustercheckd_vip_colocation_satisfied{vip=\"vip\",resource=\"lb-haproxy-clone\"}"
            ),
            Some(0.0),
            "{what}"
        );
        if what != "stop" {
            assert_eq!(
                metric(
                    &d,
                    &format!("clustercheckd_pacemaker_ban{{resource=\"vip\",node=\"{node}\"}}")
                ),
                Some(1.0),
                "{what}"
            );
        }
        drop(restore);
        wait_for(&d, "/vip", SETTLE, |a| a.status == 200);
        wait_metric(&d, HELD, Some(1.0));
    }
}

#[test]
fn live_dummy_monitor_failure_is_a_failed_action() {
    let _lock = lock("pacemaker");
    let node = live_node();
    let d = live(&node, "");
    let strict = live(&node, "fail_on_failed_actions = true");
    assert_eq!(strict.get("/pacemaker").status, 200);
    let _restore = Restore::new(|| {
        sandbox(&["pacemaker", "cleanup", "dummy"]);
    });
    sandbox(&["pacemaker", "fail_dummy"]);
    let series = format!("clustercheckd_pacemaker_failed_action{{node=\"{node}\",resource=\"dummy\",task=\"monitor\"}}");
    wait_metric(&d, &series, Some(1.0));
    wait_metric(
        &d,
        &format!("clustercheckd_pacemaker_resource_failures{{node=\"{node}\",resource=\"dummy\"}}"),
        Some(1.0),
    );
    // Recovered in place: the default check stays 200, the strict one says why it is not.
    assert_eq!(d.get("/pacemaker").status, 200);
    let answer = wait_for(&strict, "/pacemaker", SETTLE, |a| a.status == 503);
    assert!(
        answer.body.contains("dummy_monitor_5000"),
        "{}",
        answer.body
    );
    sandbox(&["pacemaker", "cleanup", "dummy"]);
    wait_metric(&d, "clustercheckd_pacemaker_failed_actions", Some(0.0));
    wait_for(&strict, "/pacemaker", SETTLE, |a| a.status == 200);
}

// --- item 7: /pacemaker judges this node --------------------------------------------------------

#[test]
fn offline_failed_stop_elsewhere_fails_only_that_node() {
    // crm_simulate: unrelated's stop failed on controller02 (FAILED, blocked: stonith is off).
    let (daemons, pacemaker, vip, placed) = three("failed-stop-elsewhere");
    assert_eq!(pacemaker, [200, 503, 200]);
    assert_eq!(vip, [503, 503, 503]);
    assert_eq!(placed, 1.0);
    assert_eq!(
        daemons[1].get("/pacemaker").body,
        "Pacemaker: failed resources on node controller02: unrelated.\n"
    );
    assert!(daemons[0]
        .get("/pacemaker")
        .body
        .contains("(1 failed elsewhere)"));
    // Every daemon exports the failure (what the alert reads).
    for d in &daemons {
        assert_eq!(
            metric(
                d,
                "clustercheckd_pacemaker_resource_failed{resource=\"unrelated\",primitive=\"unrelated\"}"
            ),
            Some(1.0)
        );
    }
    // The switch keeps the cluster-wide rule.
    let cib = scenarios().join("failed-stop-elsewhere.xml");
    let strict = Daemon::start(&format!(
        "node_name = \"controller01\"\n[listen]\n[galera]\nenabled = false\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ncib_file = \"{}\"\n\
         fail_on_failed_resources_anywhere = true\n",
        cib.display()
    ));
    wait_up(&strict);
    let answer = strict.get("/pacemaker");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (503, "Pacemaker: failed resources: unrelated.\n")
    );
}

// --- item 3: node identity ----------------------------------------------------------------------

/// A daemon on the live cluster with `node_name` unset (unless `extra` sets it) and the default
/// VIP entry (only the resource `vip`), polling every second, run under `wrapper`.
fn live_default(extra: &str, wrapper: &[&str]) -> Daemon {
    sandbox(&["up", "pacemaker"]);
    let node_line = if extra.contains("node_name =") {
        String::new()
    } else {
        "# node_name = (unset: crm_node -n)\n".to_owned()
    };
    let d = Daemon::start_wrapped(
        &format!(
            "{node_line}{extra}\n[listen]\n[galera]\nenabled = false\n\
             [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\n\
             [vip]\nenabled = true\n"
        ),
        wrapper,
    );
    wait_up(&d);
    d
}

/// Run the daemon in its own UTS namespace whose host name is `othername`.
const OTHER_HOST: &[&str] = &[
    "unshare",
    "-u",
    "sh",
    "-c",
    "hostname othername && exec \"$0\" \"$@\"",
];

#[test]
fn live_node_name_unset_uses_crm_node_under_another_host_name() {
    let _lock = lock("pacemaker");
    let node = live_node();
    assert_ne!(node, "othername");
    let d = live_default("", OTHER_HOST);
    let answer = wait_for(&d, "/pacemaker", SETTLE, |a| a.status == 200);
    assert!(
        answer.body.contains(&format!("node {node} is online")),
        "{}",
        answer.body
    );
    // The daemon really ran under the other host name, and logged what it resolved.
    let log = d.log_text();
    assert!(
        log.contains("host=othername") && log.contains(&format!("node={node}")),
        "{log}"
    );
    let answer = wait_for(&d, "/vip", SETTLE, |a| a.status == 200);
    assert!(
        answer.body.contains(&format!("({node})")),
        "{}",
        answer.body
    );
    let status = d.get("/status").body;
    assert!(status.contains("\"crm_node\""), "{status}");

    // A configured name that is not in the cluster: the reason lists the nodes that are.
    let wrong = live_default("node_name = \"othername\"", OTHER_HOST);
    let answer = wait_for(&wrong, "/pacemaker", SETTLE, |a| a.status == 503);
    assert_eq!(
        answer.body,
        format!(
            "Pacemaker: node othername (node_name) is not in the cluster; its nodes are: {node}.\n"
        )
    );
}

#[test]
fn crm_node_failing_is_pacemaker_state_unknown_not_a_start_up_error() {
    let _lock = lock("pacemaker");
    let dir = tempfile::tempdir().expect("temp dir");
    let crm_node = script(
        dir.path(),
        "crm_node",
        "echo 'crm_node: Could not connect to controller' >&2; exit 102",
    );
    sandbox(&["up", "pacemaker"]);
    let d = Daemon::start(&format!(
        "# node_name = (unset)\n[listen]\n[galera]\nsocket = \"/nonexistent/mysqld.sock\"\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ncrm_node_path = \"{}\"\n\
         [vip]\nenabled = true\n",
        crm_node.display()
    ));
    wait_up(&d);
    let answer = wait_for(&d, "/pacemaker", SETTLE, |a| a.status == 503);
    assert!(
        answer
            .body
            .starts_with("Pacemaker: state unknown: cannot tell this node's name:"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("Could not connect to controller"),
        "{}",
        answer.body
    );
    let answer = d.get("/vip");
    assert_eq!(answer.status, 503);
    assert!(
        answer.body.contains("cannot tell this node's name"),
        "{}",
        answer.body
    );
    // Galera is not affected: it answers its own verdict at once.
    let galera = d.check();
    assert!(galera.body.contains("Galera"), "{}", galera.body);
    assert!(!galera.body.contains("Pacemaker"), "{}", galera.body);
}

// --- item 2: the VIP on the real interface ----------------------------------------------------

fn vip_address() -> String {
    common::env()
        .get("PACEMAKER_VIP")
        .expect("PACEMAKER_VIP in env.sh")
        .clone()
}

fn veth() -> String {
    common::env()
        .get("PACEMAKER_VETH")
        .cloned()
        .unwrap_or_else(|| "ccdvip0".to_owned())
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn address_on_veth() -> bool {
    let out = run("ip", &["-br", "addr", "show", "dev", &veth()]);
    String::from_utf8_lossy(&out.stdout).contains(&format!(" {}/32", vip_address()))
}

/// The vip's recurring monitor: its op id and interval in the live CIB.
const MONITOR_OP: &str = "vip-monitor-interval-10s";

fn set_monitor_interval(interval: &str) {
    let out = run(
        "cibadmin",
        &[
            "--modify",
            "--xml-text",
            &format!("<op id=\"{MONITOR_OP}\" interval=\"{interval}\"/>"),
        ],
    );
    assert!(
        out.status.success(),
        "cibadmin --modify {MONITOR_OP}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Put the VIP back as it was: the monitor interval, the resource started, no address added by
/// hand, no fail counts; bounded waits.
fn restore_vip() {
    set_monitor_interval("10s");
    sandbox(&["pacemaker", "start_resource", "vip"]);
    sandbox(&["pacemaker", "cleanup", "vip"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !address_on_veth() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    sandbox(&["pacemaker", "wait_idle"]);
}

#[test]
fn live_vip_address_deleted_under_pacemaker_is_503_within_a_poll() {
    let _lock = lock("pacemaker");
    let node = live_node();
    let d = live_default("", &[]);
    let answer = wait_for(&d, "/vip", SETTLE, |a| a.status == 200);
    let vip = vip_address();
    assert_eq!(
        answer.body,
        format!(
            "VIP vip ({vip}) is held by this node ({node}) on {}.\n",
            veth()
        )
    );
    let _restore = Restore::new(restore_vip);
    // So that Pacemaker's own monitor does not notice and repair it first.
    set_monitor_interval("600s");
    sandbox(&["pacemaker", "wait_idle"]);
    wait_for(&d, "/vip", SETTLE, |a| a.status == 200);

    // The clock starts before the fault (the deletion happens inside `ip`), not after it.
    let fault = Instant::now();
    let out = run("ip", &["addr", "del", &format!("{vip}/32"), "dev", &veth()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = wait_for(&d, "/vip", Duration::from_secs(3), |a| a.status == 503);
    // Interval (1 s) + 1 s, the clock started at the fault.
    assert!(
        fault.elapsed() <= Duration::from_secs(2),
        "503 only after {:?}",
        fault.elapsed()
    );
    assert_eq!(
        answer.body,
        format!(
            "VIP vip ({vip}): Pacemaker says this node ({node}) runs it, but {vip} is not on any interface.\n"
        )
    );
    // Pacemaker still believes it runs here: the disagreement is visible.
    wait_metric(&d, HELD, Some(0.0));
    assert_eq!(
        metric(&d, "clustercheckd_vip_agreement{vip=\"vip\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(
            &d,
            &format!("clustercheckd_vip_holder{{vip=\"vip\",node=\"{node}\"}}")
        ),
        Some(1.0)
    );
}

#[test]
fn live_vip_address_left_on_host_while_resource_stopped() {
    let _lock = lock("pacemaker");
    let _node = live_node();
    let d = live_default("", &[]);
    wait_for(&d, "/vip", SETTLE, |a| a.status == 200);
    let vip = vip_address();
    let _restore = Restore::new(|| {
        if address_on_veth() {
            run(
                "ip",
                &[
                    "addr",
                    "del",
                    &format!("{}/32", vip_address()),
                    "dev",
                    &veth(),
                ],
            );
        }
        restore_vip();
    });
    sandbox(&["pacemaker", "stop_resource", "vip"]);
    wait_for(&d, "/vip", SETTLE, |a| a.body.contains("runs it nowhere"));
    assert!(!address_on_veth(), "IPaddr2 stop left the address");
    wait_metric(
        &d,
        "clustercheckd_vip_address_left_behind{vip=\"vip\"}",
        Some(0.0),
    );

    // What a failed stop leaves: the address, on a host where Pacemaker runs the VIP nowhere.
    let out = run("ip", &["addr", "add", &format!("{vip}/32"), "dev", &veth()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = wait_for(&d, "/vip", SETTLE, |a| a.body.contains("left behind"));
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.body,
        format!(
            "VIP vip ({vip}): {vip} is on this host but Pacemaker runs it nowhere (address left behind?).\n"
        )
    );
    wait_metric(
        &d,
        "clustercheckd_vip_address_left_behind{vip=\"vip\"}",
        Some(1.0),
    );
}
