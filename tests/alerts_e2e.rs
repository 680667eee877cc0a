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

use common::{path_str, repo, sandbox, Daemon, Restore};
use serde_json::Value;

/// The `for:` every alert gets in the shortened copy: long enough that the test sees each alert
/// pending on a 1 s evaluation interval before it fires.
const SHORT_FOR: &str = "5s";

/// A Prometheus started through scripts/sandbox.sh, stopped when dropped.
struct Prometheus {
    dir: tempfile::TempDir,
    url: String,
}

impl Prometheus {
    /// Scrape `targets` as job clustercheckd (cluster label "e2e") and the sandbox HAProxy as job
    /// haproxy, with the rules in `rules_dir`.
    fn start(rules_dir: &Path, targets: &[String]) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        let mut args = vec![
            "prometheus".to_owned(),
            "render_config".to_owned(),
            path_str(&config),
            path_str(rules_dir),
        ];
        args.extend(targets.iter().cloned());
        sandbox_env(&args, &[("PROMETHEUS_CLUSTER", "e2e")]);
        // Port 0: Prometheus picks a port and run_instance prints the URL it bound.
        let printed = sandbox(&[
            "prometheus",
            "run_instance",
            &path_str(dir.path()),
            "0",
            &path_str(&config),
        ]);
        let url = printed.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
            "run_instance printed {printed:?}, not a URL"
        );
        Prometheus { dir, url }
    }

    /// GET a Prometheus API path with curl (the tests have no HTTP client crate); the JSON `data`.
    fn api(&self, path_and_query: &str) -> Value {
        let mut curl = Command::new("curl");
        curl.args(["-fsS", "--max-time", "5", "-G"])
            .arg(format!("{}{path_and_query}", self.url));
        let stdout = common::stdout_of(&mut curl, &format!("GET {path_and_query}"));
        let body: Value = serde_json::from_str(&stdout).expect("Prometheus answers JSON");
        assert_eq!(body["status"], "success", "GET {path_and_query}: {body}");
        body["data"].clone()
    }

    /// Wait until every target has been scraped successfully at least once.
    fn wait_targets_up(&self, within: Duration) {
        let start = Instant::now();
        loop {
            let data = self.api("/api/v1/targets");
            let targets = data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !targets.is_empty() && targets.iter().all(|t| t["health"] == "up") {
                return;
            }
            assert!(
                start.elapsed() < within,
                "targets not all up within {within:?}: {}",
                serde_json::to_string_pretty(&targets).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The state ("pending" or "firing") of the alert named `name` whose labels include `labels`,
    /// or None when Prometheus has no such alert.
    fn alert_state(&self, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        let data = self.api("/api/v1/alerts");
        data["alerts"].as_array()?.iter().find_map(|a| {
            let l = &a["labels"];
            let matches =
                l["alertname"] == name && labels.iter().all(|(k, v)| l[*k].as_str() == Some(*v));
            matches.then(|| a["state"].as_str().unwrap_or("").to_owned())
        })
    }

    /// Poll until every alert fires, asserting each was seen pending before it fired.
    fn wait_pending_then_firing(&self, alerts: &[(&str, &[(&str, &str)])], within: Duration) {
        let start = Instant::now();
        let mut seen_pending = vec![false; alerts.len()];
        loop {
            let mut all_firing = true;
            for (i, (name, labels)) in alerts.iter().enumerate() {
                match self.alert_state(name, labels).as_deref() {
                    Some("pending") => {
                        seen_pending[i] = true;
                        all_firing = false;
                    }
                    Some("firing") => {
                        assert!(seen_pending[i], "{name} fired without being pending first");
                    }
                    _ => all_firing = false,
                }
            }
            if all_firing {
                return;
            }
            assert!(
                start.elapsed() < within,
                "not all of {alerts:?} firing within {within:?}; alerts: {}",
                self.api("/api/v1/alerts")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Poll until `alert_state` is `want` (None: gone); returns how long it took.
    fn wait_alert(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        want: Option<&str>,
        within: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let state = self.alert_state(name, labels);
            if state.as_deref() == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{name}{labels:?}: wanted {want:?} within {within:?}, still {state:?}; alerts: {}",
                self.api("/api/v1/alerts")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/sandbox.sh"))
            .args(["prometheus", "stop_instance", &path_str(self.dir.path())])
            .output();
    }
}

/// scripts/sandbox.sh with extra environment; panics with its output on failure.
fn sandbox_env(args: &[String], env: &[(&str, &str)]) {
    let output = Command::new("bash")
        .arg(repo().join("scripts/sandbox.sh"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run scripts/sandbox.sh");
    assert!(
        output.status.success(),
        "scripts/sandbox.sh {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A copy of alerts/*.rules.yml with every `for:` set to SHORT_FOR.
fn shortened_rules() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut copied = 0;
    for entry in std::fs::read_dir(repo().join("alerts")).expect("alerts/") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".rules.yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read rules");
        let short: Vec<String> = text
            .lines()
            .map(|line| match line.trim_start().strip_prefix("for:") {
                Some(_) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    format!("{indent}for: {SHORT_FOR}")
                }
                None => line.to_owned(),
            })
            .collect();
        std::fs::write(dir.path().join(name), short.join("\n") + "\n").expect("write rules");
        copied += 1;
    }
    assert!(copied > 0, "no alerts/*.rules.yml");
    dir
}

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
