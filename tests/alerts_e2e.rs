//! The rules and dashboards against a real Prometheus scraping real daemons.
//!
//! Each test starts three clustercheckd processes (one per sandbox Galera node, each on a port it
//! picked and reported) and its own Prometheus (scripts/sandbox.sh prometheus render_config +
//! run_instance on port 0, which prints the URL it bound; data in a temp dir) scraping them and the sandbox HAProxy's built-in exporter, so the
//! sandbox's own Prometheus and demo daemons are left alone.
//!
//! - `every_query_and_rule_resolves_on_live_prometheus` only reads: every panel, variable and rule
//!   expression must run without error and name only metrics that exist, and the scrapes must
//!   pass `promtool check metrics` (scripts/check-dashboards.py). Besides the three Galera daemons
//!   it runs a fourth with Pacemaker and the VIP enabled against the sandbox's live single-node
//!   cluster (node name from `crm_node -n`, read-only: nothing is moved or stopped), so the
//!   Pacemaker and VIP rules and panels are checked too; two more daemons replay recorded crm_mon
//!   outputs (a fail count at its migration threshold with a failed action, and a ban), so the
//!   series that exist only when something is wrong have data as well.
//! - `stopping_mysqld_fires_and_resolves_galera_alerts` stops mysqld on node 3 (holding the Galera
//!   lock, healing the cluster afterwards even when it fails) and follows GaleraNodeUnhealthy and
//!   GaleraClusterSizeBelowExpected through Prometheus' HTTP API: pending, then firing, then gone
//!   after the node is back. It loads a copy of the rules whose `for:` durations are shortened to
//!   a few seconds, so it exercises the real expressions at test speed.
//!
//! Needs the sandbox's Galera, HAProxy and Pacemaker (`scripts/sandbox.sh up galera haproxy
//! pacemaker`), Debian's prometheus package and python3.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::prometheus::{shortened_rules, Prometheus, SHORT_FOR};
use common::{path_str, repo, sandbox, Daemon, Restore};

fn daemons() -> Vec<Daemon> {
    // RabbitMQ too, so the RabbitMQ rules find their series.
    (1..=3)
        .map(|n| {
            Daemon::start(&format!(
                "{}{}",
                common::galera_section(n, ""),
                common::rabbitmq_section(n, "")
            ))
        })
        .collect()
}

/// A daemon watching the sandbox's live Pacemaker and its VIP (read-only), Galera off. Waits
/// for the first successful crm_mon poll so the first scrape already has the cluster series.
fn pacemaker_daemon() -> Daemon {
    sandbox(&["up", "pacemaker"]);
    let node = common::stdout_of(Command::new("crm_node").arg("-n"), "crm_node -n");
    let vip = common::env()
        .get("PACEMAKER_VIP")
        .expect("PACEMAKER_VIP in env.sh")
        .clone();
    let d = Daemon::start(&format!(
        "node_name = \"{}\"\n[listen]\n[galera]\nenabled = false\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\n\
         [vip]\nenabled = true\n[[vip.vips]]\nname = \"vip\"\nresource = \"vip\"\naddress = \"{vip}\"\n",
        node.trim()
    ));
    let start = Instant::now();
    while d.metric("clustercheckd_collector_up{collector=\"pacemaker\"}") != Some(1.0) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pacemaker collector not up within 20 s:\n{}",
            d.get("/status").body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    d
}

/// Series that exist only while something is wrong (failed actions, bans) would otherwise have
/// no series in a healthy sandbox, and the live check fails on a metric name with no series. A
/// daemon per recorded crm_mon output (tests/fixtures/pacemaker, made by the real tools) whose
/// crm_mon and cibadmin are scripts printing it provides them; VIP off, so it adds no VIP holder.
fn pacemaker_fixture_daemon(dir: &Path, scenario: &str) -> Daemon {
    use std::os::unix::fs::PermissionsExt;
    let fixtures = repo().join("tests/fixtures/pacemaker");
    let mut paths = Vec::new();
    for (tool, file) in [
        ("crm_mon", format!("{scenario}.crm_mon.xml")),
        ("cibadmin", format!("{scenario}.constraints.xml")),
    ] {
        let path = dir.join(format!("{scenario}-{tool}"));
        let body = format!("#!/bin/sh\nexec cat '{}'\n", path_str(&fixtures.join(file)));
        std::fs::write(&path, body).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        paths.push(path);
    }
    Daemon::start(&format!(
        "node_name = \"controller01\"\n[listen]\n[galera]\nenabled = false\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\n\
         crm_mon_path = \"{}\"\ncibadmin_path = \"{}\"\n",
        path_str(&paths[0]),
        path_str(&paths[1])
    ))
}

fn targets(daemons: &[Daemon]) -> Vec<String> {
    daemons.iter().map(|d| d.addr().to_string()).collect()
}

#[test]
fn every_query_and_rule_resolves_on_live_prometheus() {
    let _galera = common::lock("galera");
    let _pacemaker = common::lock("pacemaker");
    let daemons = daemons();
    let pacemaker = pacemaker_daemon();
    let scripts = tempfile::tempdir().expect("temp dir");
    let fixtures: Vec<Daemon> = ["migration-threshold", "vip-banned"]
        .iter()
        .map(|s| pacemaker_fixture_daemon(scripts.path(), s))
        .collect();
    let mut all = targets(&daemons);
    all.push(pacemaker.addr().to_string());
    all.extend(targets(&fixtures));
    let prometheus = Prometheus::start(&repo().join("alerts"), &all);
    prometheus.wait_targets_up(Duration::from_secs(30));
    // rate() needs two samples in its window, recording rules one evaluation: let a few pass.
    std::thread::sleep(Duration::from_secs(5));

    let haproxy = format!(
        "http://127.0.0.1:{}/metrics",
        common::env_num("HAPROXY_STATS_PORT")
    );
    let mut args = vec![
        path_str(&repo().join("scripts/check-dashboards.py")),
        "--prometheus".to_owned(),
        prometheus.url.clone(),
        "--scrape-info".to_owned(),
        haproxy,
    ];
    for d in &daemons {
        args.push("--scrape".to_owned());
        args.push(format!("http://{}/metrics", d.addr()));
    }
    for d in std::iter::once(&pacemaker).chain(&fixtures) {
        args.push("--scrape".to_owned());
        args.push(format!("http://{}/metrics", d.addr()));
    }
    let output = Command::new("python3")
        .args(&args)
        .output()
        .expect("run check-dashboards.py");
    assert!(
        output.status.success(),
        "check-dashboards.py failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn stopping_mysqld_fires_and_resolves_galera_alerts() {
    let _galera = common::lock("galera");
    let rules = shortened_rules();
    let daemons = daemons();
    let prometheus = Prometheus::start(rules.path(), &targets(&daemons));
    prometheus.wait_targets_up(Duration::from_secs(30));
    let node3 = daemons[2].addr().to_string();
    let unhealthy = ("GaleraNodeUnhealthy", [("instance", node3.as_str())]);
    let size = ("GaleraClusterSizeBelowExpected", [("cluster", "e2e")]);

    // A healthy cluster: neither alert, not even pending.
    daemons[2].wait_check(Duration::from_secs(30), "node 3 healthy", |a| {
        a.status == 200
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(prometheus.alert_state(unhealthy.0, &unhealthy.1), None);
    assert_eq!(prometheus.alert_state(size.0, &size.1), None);

    let _heal = Restore::new(common::galera_heal);
    sandbox(&["galera", "stop", "3"]);

    // Pending first (for: has not elapsed), then firing. Both alerts are watched at once: each
    // is pending for only SHORT_FOR, which a one-after-the-other wait could miss.
    prometheus.wait_pending_then_firing(
        &[(unhealthy.0, &unhealthy.1[..]), (size.0, &size.1[..])],
        Duration::from_secs(60),
    );

    // Back: node 3 rejoins (IST), is released from the recovery hold, and both alerts resolve.
    sandbox(&["galera", "start", "3"]);
    sandbox(&["galera", "wait_cluster_size", "1", "3", "120"]);
    let within = Duration::from_secs(120);
    prometheus.wait_alert(size.0, &size.1, None, within);
    prometheus.wait_alert(unhealthy.0, &unhealthy.1, None, within);
}

/// The shortened copy changes only `for:` lines, so it tests the same expressions.
#[test]
fn shortened_rules_differ_only_in_for() {
    let short = shortened_rules();
    for entry in std::fs::read_dir(short.path()).expect("temp dir") {
        let path: PathBuf = entry.expect("dir entry").path();
        let original =
            std::fs::read_to_string(repo().join("alerts").join(path.file_name().expect("name")))
                .expect("original");
        let copy = std::fs::read_to_string(&path).expect("copy");
        assert_eq!(original.lines().count(), copy.lines().count());
        for (a, b) in original.lines().zip(copy.lines()) {
            if a != b {
                assert!(
                    a.trim_start().starts_with("for:"),
                    "changed: {a:?} -> {b:?}"
                );
                assert_eq!(b.trim(), format!("for: {SHORT_FOR}"));
            }
        }
    }
}
