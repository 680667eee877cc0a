//! A Prometheus of a test's own (scripts/sandbox.sh prometheus render_config + run_instance, on a
//! port it picks itself, data in a temp dir), loading the rules of alerts/ or a copy whose `for:` durations
//! are shortened, and read through its HTTP API. Used by tests/alerts_e2e.rs and the RabbitMQ
//! alert tests in tests/rabbitmq.rs; the sandbox's own Prometheus is left alone.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{path_str, repo, sandbox};

/// The `for:` every alert gets in the shortened copy: long enough that the test sees each alert
/// pending on a 1 s evaluation interval before it fires.
pub const SHORT_FOR: &str = "5s";

/// A Prometheus started through scripts/sandbox.sh, stopped when dropped.
pub struct Prometheus {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Prometheus {
    /// Scrape `targets` as job clustercheckd (cluster label "e2e") and the sandbox HAProxy as job
    /// haproxy, with the rules in `rules_dir`.
    pub fn start(rules_dir: &Path, targets: &[String]) -> Prometheus {
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
    pub fn api(&self, path_and_query: &str) -> Value {
        let mut curl = Command::new("curl");
        curl.args(["-fsS", "--max-time", "5", "-G"])
            .arg(format!("{}{path_and_query}", self.url));
        let stdout = super::stdout_of(&mut curl, &format!("GET {path_and_query}"));
        let body: Value = serde_json::from_str(&stdout).expect("Prometheus answers JSON");
        assert_eq!(body["status"], "success", "GET {path_and_query}: {body}");
        body["data"].clone()
    }

    /// Wait until every target has been scraped successfully at least once.
    pub fn wait_targets_up(&self, within: Duration) {
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

    /// An instant query's `data` (`resultType` and `result`).
    pub fn query(&self, promql: &str) -> Value {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        self.api(&format!("/api/v1/query?query={encoded}"))
    }

    /// The `lastEvaluation` of every rule group, by group name.
    fn last_evaluations(&self) -> std::collections::BTreeMap<String, String> {
        let data = self.api("/api/v1/rules");
        data["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().unwrap_or("").to_owned(),
                    g["lastEvaluation"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Wait until the data is there for every query: each target scraped successfully at least
    /// `samples` times in the last minute (rate() needs two), and then every rule group evaluated
    /// twice more, so recording rules and alert states reflect those samples (the second change
    /// of `lastEvaluation` belongs to an evaluation that started after the wait began).
    pub fn wait_evaluated(&self, samples: u32, within: Duration) {
        let start = Instant::now();
        self.wait_targets_up(within);
        let query = format!("min(count_over_time(up[1m])) >= {samples}");
        loop {
            let data = self.query(&query);
            if data["result"].as_array().is_some_and(|r| !r.is_empty()) {
                break;
            }
            assert!(
                start.elapsed() < within,
                "targets not scraped {samples} times within {within:?}: {}",
                self.api("/api/v1/targets")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let before = self.last_evaluations();
        assert!(!before.is_empty(), "no rule groups loaded");
        let mut changes: std::collections::BTreeMap<String, (String, u32)> = before
            .into_iter()
            .map(|(group, last)| (group, (last, 0)))
            .collect();
        loop {
            for (group, last) in self.last_evaluations() {
                if let Some((seen, n)) = changes.get_mut(&group) {
                    if *seen != last {
                        *seen = last;
                        *n += 1;
                    }
                }
            }
            if changes.values().all(|(_, n)| *n >= 2) {
                return;
            }
            assert!(
                start.elapsed() < within,
                "rule groups not evaluated twice within {within:?}: {changes:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The state ("pending" or "firing") of the alert named `name` whose labels include `labels`,
    /// or None when Prometheus has no such alert.
    pub fn alert_state(&self, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        let data = self.api("/api/v1/alerts");
        data["alerts"].as_array()?.iter().find_map(|a| {
            let l = &a["labels"];
            let matches =
                l["alertname"] == name && labels.iter().all(|(k, v)| l[*k].as_str() == Some(*v));
            matches.then(|| a["state"].as_str().unwrap_or("").to_owned())
        })
    }

    /// Poll until every alert fires, asserting each was seen pending before it fired.
    pub fn wait_pending_then_firing(&self, alerts: &[(&str, &[(&str, &str)])], within: Duration) {
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
    pub fn wait_alert(
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
pub fn sandbox_env(args: &[String], env: &[(&str, &str)]) {
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
pub fn shortened_rules() -> tempfile::TempDir {
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
