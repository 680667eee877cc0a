//! The rules and dashboards against a real Prometheus scraping real daemons.
//!
//! Each test starts three clustercheckd processes (one per sandbox Galera node, each on a port it
//! picked and reported) and its own Prometheus (scripts/sandbox.sh prometheus render_config +
//! run_instance on port 0, which prints the URL it bound; data in a temp dir) scraping them and the sandbox HAProxy's built-in exporter, so the
//! sandbox's own Prometheus and demo daemons are left alone.
//!
//! - `every_query_and_rule_resolves_on_live_prometheus` only reads: every panel, variable and rule
//!   expression must run without error, every selector (a name with its matchers, the
//!   dashboards' variables replaced by their real values) must match series, every panel must
//!   have data unless documented as empty on a healthy cluster, and the scrapes must pass
//!   `promtool check metrics` (scripts/check-dashboards.py). Besides the three Galera daemons
//!   (with `[writer]` on the tests' lease row, so the writer rules and panels are checked too;
//!   they write that row, under the Galera lock)
//!   it runs a fourth with Pacemaker and the VIP enabled against the sandbox's live single-node
//!   cluster (node name from `crm_node -n`, read-only: nothing is moved or stopped), so the
//!   Pacemaker and VIP rules and panels are checked too; two more daemons replay recorded crm_mon
//!   outputs (a fail count at its migration threshold with a failed action, and a ban), so the
//!   series that exist only when something is wrong have data as well.
//! - `healthy_sandbox_has_no_warning_or_critical_alert` loads the real rules (real `for:`) into a
//!   fresh Prometheus scraping daemons on the healthy sandbox (no fixtures) and runs
//!   check-dashboards.py --healthy: no warning or critical alert pending or firing, the panels
//!   documented as empty on a healthy cluster empty, every other panel with data.
//! - `real_faults_fire_and_resolve_the_most_severe_alert_per_subsystem` makes one real fault per
//!   subsystem at once (each under its cluster's lock, undone by a guard) and follows the most
//!   severe alert the fault can produce to firing and, after the fault is undone, to gone; the
//!   list is in alerts/README.md.
//! - `stopping_mysqld_fires_and_resolves_galera_alerts` stops mysqld on node 3 (holding the Galera
//!   lock, healing the cluster afterwards even when it fails) and follows GaleraNodeUnhealthy and
//!   GaleraClusterSizeBelowExpected through Prometheus' HTTP API: pending, then firing, then gone
//!   after the node is back. It loads a copy of the rules whose `for:` durations are shortened to
//!   a few seconds, so it exercises the real expressions at test speed.
//!
//! Needs the sandbox's Galera, RabbitMQ, HAProxy and Pacemaker (`scripts/sandbox.sh up galera
//! rabbitmq haproxy pacemaker`), Debian's prometheus package and python3. Waits are on
//! conditions with deadlines (targets scraped, rule groups evaluated, alert states), never fixed
//! sleeps.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::prometheus::{shortened_rules, Prometheus, SHORT_FOR};
use common::{path_str, repo, sandbox, Daemon, Restore};

fn daemons() -> Vec<Daemon> {
    galera_daemons(false)
}

/// With `[writer]` on the tests' lease row, so the writer rules and panels find their series;
/// waits until one of them is the writer (before that, GaleraNoWriter would be pending and the
/// holder's series missing). At the default timing: the fast one's 400 ms statement timeout
/// could make a busy machine look like failing renewals. They write the lease row: the caller
/// holds the Galera lock.
fn writer_daemons() -> Vec<Daemon> {
    let daemons = galera_daemons(true);
    let all: Vec<&Daemon> = daemons.iter().collect();
    // The row may name a node none of these is the daemon of: lease + margin (6 s), a round
    // (1 s) and the handover gap (7 s).
    common::wait_for_writer(&all, Duration::from_secs(30));
    daemons
}

fn galera_daemons(writer: bool) -> Vec<Daemon> {
    // RabbitMQ too, so the RabbitMQ rules find their series; each with the two others as
    // [peers], so the cluster-view rules and panels find theirs.
    let section = |n| {
        format!(
            "{}{}{}",
            common::galera_section(n, ""),
            common::rabbitmq_section(n, ""),
            if writer {
                common::writer_section(n, "")
            } else {
                String::new()
            }
        )
    };
    common::galera_peer_daemons([section(1), section(2), section(3)], "")
}

/// Wait until every collector of `d` reports up (`clustercheckd_collector_up` 1), so that a
/// daemon just started is not reported as failing while its first polls run.
fn wait_collectors_up(d: &Daemon, within: Duration) {
    let start = Instant::now();
    loop {
        let page = d.get("/metrics").body;
        let up: Vec<&str> = page
            .lines()
            .filter(|l| l.starts_with("clustercheckd_collector_up{"))
            .collect();
        if !up.is_empty() && up.iter().all(|l| l.ends_with(" 1")) {
            return;
        }
        assert!(
            start.elapsed() < within,
            "collectors of {} not all up within {within:?}: {up:?}",
            d.addr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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

/// The locks of all `clusters` (the files common::lock takes; waiting at most 10 minutes), all at once or none while
/// waiting: taken one after the other they deadlock with a test elsewhere that holds one of them
/// and waits for another (seen: this test holding galera, a RabbitMQ test holding rabbitmq).
fn lock_all(clusters: &[&str]) -> Vec<std::fs::File> {
    let within = Duration::from_secs(600);
    let start = Instant::now();
    loop {
        let mut held = Vec::new();
        for cluster in clusters {
            let file = common::lock_file(cluster);
            if file.try_lock().is_err() {
                break;
            }
            held.push(file);
        }
        if held.len() == clusters.len() {
            return held;
        }
        drop(held);
        assert!(
            start.elapsed() < within,
            "locks {clusters:?} not all free at once within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn targets(daemons: &[Daemon]) -> Vec<String> {
    daemons.iter().map(|d| d.addr().to_string()).collect()
}

#[test]
fn every_query_and_rule_resolves_on_live_prometheus() {
    let _locks = lock_all(&["galera", "pacemaker"]);
    let daemons = writer_daemons();
    let pacemaker = pacemaker_daemon();
    let scripts = tempfile::tempdir().expect("temp dir");
    let fixtures: Vec<Daemon> = ["migration-threshold", "vip-banned"]
        .iter()
        .map(|s| pacemaker_fixture_daemon(scripts.path(), s))
        .collect();
    let mut all = targets(&daemons);
    all.push(pacemaker.addr().to_string());
    all.extend(targets(&fixtures));
    for d in daemons.iter().chain(&fixtures) {
        wait_collectors_up(d, Duration::from_secs(30));
    }
    let prometheus = Prometheus::start(&repo().join("alerts"), &all);
    // rate() needs two samples in its window, recording rules an evaluation after them.
    prometheus.wait_evaluated(3, Duration::from_secs(60));

    let scraped: Vec<&Daemon> = daemons
        .iter()
        .chain(std::iter::once(&pacemaker))
        .chain(&fixtures)
        .collect();
    check_dashboards(&prometheus, &scraped, &[]);
}

/// scripts/check-dashboards.py against `prometheus`, linting the daemons' pages (and HAProxy's,
/// report only); `extra` arguments such as --healthy.
fn check_dashboards(prometheus: &Prometheus, daemons: &[&Daemon], extra: &[&str]) {
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
    args.extend(extra.iter().map(|a| a.to_string()));
    for d in daemons {
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

/// A fresh Prometheus with the real rules on the healthy sandbox: nothing that pages or queues
/// may be active, not even pending, and the panels of trouble are empty.
#[test]
fn healthy_sandbox_has_no_warning_or_critical_alert() {
    // Read-only, but nobody may be disturbing a cluster meanwhile.
    let _locks = lock_all(&["galera", "rabbitmq", "pacemaker"]);
    let daemons = writer_daemons();
    let pacemaker = pacemaker_daemon();
    for d in daemons.iter().chain(std::iter::once(&pacemaker)) {
        wait_collectors_up(d, Duration::from_secs(30));
    }
    let mut all = targets(&daemons);
    all.push(pacemaker.addr().to_string());
    let prometheus = Prometheus::start(&repo().join("alerts"), &all);
    prometheus.wait_evaluated(3, Duration::from_secs(60));
    let scraped: Vec<&Daemon> = daemons.iter().chain(std::iter::once(&pacemaker)).collect();
    check_dashboards(&prometheus, &scraped, &["--healthy"]);
}

#[test]
fn stopping_mysqld_fires_and_resolves_galera_alerts() {
    let _galera = common::lock("galera");
    let rules = shortened_rules();
    let daemons = daemons();
    let prometheus = Prometheus::start(rules.path(), &targets(&daemons));
    let node3 = daemons[2].addr().to_string();
    let unhealthy = ("GaleraNodeUnhealthy", [("instance", node3.as_str())]);
    let size = ("GaleraClusterSizeBelowExpected", [("cluster", "e2e")]);

    // A healthy cluster: neither alert, not even pending.
    daemons[2].wait_check(Duration::from_secs(30), "node 3 healthy", |a| {
        a.status == 200
    });
    prometheus.wait_evaluated(2, Duration::from_secs(30));
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

/// How long a fault's alert may take to fire, or to go after the fault is undone: shortened
/// `for:` (SHORT_FOR) plus polls, scrapes and evaluations, or a Galera node's rejoin.
const FIRE_WITHIN: Duration = Duration::from_secs(90);

/// Poll until every alert in `alerts` is firing.
fn wait_all(prometheus: &Prometheus, alerts: &[(&str, Vec<(&str, &str)>)], want: Option<&str>) {
    for (name, labels) in alerts {
        prometheus.wait_alert(name, labels, want, FIRE_WITHIN);
    }
}

/// One real fault per subsystem, all at once (one thread each, each holding its cluster's lock
/// and undoing its fault in a Restore guard, so a failure elsewhere still heals the sandbox),
/// against one Prometheus with the rules' `for:` shortened to SHORT_FOR. For each the most
/// severe alert that fault can produce on the sandbox must fire, and go once the fault is undone:
/// - Galera: nodes 2 and 3 frozen (SIGSTOP) -> node 1 loses quorum: GaleraNodeNotPrimary
///   (critical) on node 1; resumed, the three re-form the Primary component by themselves.
/// - RabbitMQ: a memory alarm on node 2 (vm_memory_high_watermark 0.0001): RabbitMQResourceAlarm
///   (critical); the watermark back to the sandbox's default.
/// - Pacemaker: dummy's state file removed, its monitor fails: PacemakerFailedActions (warning;
///   a single node cannot lose quorum, so nothing critical can happen to Pacemaker alone);
///   crm_resource --cleanup.
/// - VIP: the vip resource stopped, its address leaves the veth: VipHeldByNoNode (critical);
///   started again.
/// - The exporter: a daemon terminated: ClustercheckdDown (warning, the most severe of its own
///   alerts); started again on the same address.
#[test]
fn real_faults_fire_and_resolve_the_most_severe_alert_per_subsystem() {
    let rules = shortened_rules();
    let daemons = daemons();
    let pacemaker = pacemaker_daemon();
    // The exporter's victim: one more Galera daemon, whose address is reused when restarted.
    let victim_config = common::galera_section(1, "");
    let mut victim = Daemon::start(&victim_config);
    let victim_addr = victim.addr().to_string();
    for d in daemons.iter().chain([&pacemaker, &victim]) {
        wait_collectors_up(d, Duration::from_secs(30));
    }
    let mut all = targets(&daemons);
    all.push(pacemaker.addr().to_string());
    all.push(victim_addr.clone());
    let prometheus = Prometheus::start(rules.path(), &all);
    prometheus.wait_evaluated(2, Duration::from_secs(60));
    let node1 = daemons[0].addr().to_string();
    let rabbit2 = sandbox(&["rabbitmq", "nodename", "2"]).trim().to_owned();
    let prometheus = &prometheus;
    let start = Instant::now();

    std::thread::scope(|s| {
        s.spawn(|| {
            let _lock = lock_all(&["galera"]);
            // Three synced nodes to start from, whatever the last holder of the lock left.
            common::galera_heal();
            let alert = [("GaleraNodeNotPrimary", vec![("instance", node1.as_str())])];
            wait_all(prometheus, &alert, None);
            let heal = Restore::new(common::galera_heal);
            sandbox(&["galera", "sigstop", "2"]);
            sandbox(&["galera", "sigstop", "3"]);
            wait_all(prometheus, &alert, Some("firing"));
            eprintln!("galera: firing after {:?}", start.elapsed());
            drop(heal);
            wait_all(prometheus, &alert, None);
            eprintln!("galera: resolved after {:?}", start.elapsed());
        });
        s.spawn(|| {
            let _lock = lock_all(&["rabbitmq"]);
            sandbox(&["rabbitmq", "alarm", "2", "off"]);
            let alert = [(
                "RabbitMQResourceAlarm",
                vec![("node", rabbit2.as_str()), ("resource", "memory")],
            )];
            wait_all(prometheus, &alert, None);
            let off = Restore::new(|| {
                sandbox(&["rabbitmq", "alarm", "2", "off"]);
            });
            sandbox(&["rabbitmq", "alarm", "2", "on"]);
            wait_all(prometheus, &alert, Some("firing"));
            eprintln!("rabbitmq: firing after {:?}", start.elapsed());
            drop(off);
            wait_all(prometheus, &alert, None);
            eprintln!("rabbitmq: resolved after {:?}", start.elapsed());
        });
        s.spawn(|| {
            let _lock = lock_all(&["pacemaker"]);
            let alerts = [
                (
                    "PacemakerFailedActions",
                    vec![("resource", "dummy"), ("task", "monitor")],
                ),
                ("VipHeldByNoNode", vec![("vip", "vip")]),
            ];
            wait_all(prometheus, &alerts, None);
            let cleanup = Restore::new(|| {
                sandbox(&["pacemaker", "cleanup", "dummy"]);
            });
            let start_vip = Restore::new(|| {
                sandbox(&["pacemaker", "start_resource", "vip"]);
            });
            sandbox(&["pacemaker", "fail_dummy"]);
            sandbox(&["pacemaker", "stop_resource", "vip"]);
            wait_all(prometheus, &alerts, Some("firing"));
            eprintln!("pacemaker and vip: firing after {:?}", start.elapsed());
            drop(start_vip);
            drop(cleanup);
            wait_all(prometheus, &alerts, None);
            eprintln!("pacemaker and vip: resolved after {:?}", start.elapsed());
        });
        s.spawn(|| {
            let alert = [(
                "ClustercheckdDown",
                vec![("instance", victim_addr.as_str())],
            )];
            wait_all(prometheus, &alert, None);
            assert!(
                victim.terminate(Duration::from_secs(10)).is_some(),
                "daemon did not stop"
            );
            wait_all(prometheus, &alert, Some("firing"));
            eprintln!("exporter: firing after {:?}", start.elapsed());
            let config = format!("[listen]\ncheck = \"{victim_addr}\"\n{victim_config}");
            let restarted = Daemon::start(&config);
            assert_eq!(restarted.addr().to_string(), victim_addr);
            wait_all(prometheus, &alert, None);
            eprintln!("exporter: resolved after {:?}", start.elapsed());
        });
    });
}
