//! The alert rules and dashboards are part of the product and tested like code: these tests run
//! the same checks a developer runs by hand, so `cargo test` fails when a rule, a rule test, a
//! runbook anchor or a dashboard is broken. They need promtool (Debian's `prometheus` package)
//! and python3, and nothing running; the checks against a live Prometheus are in alerts_e2e.rs.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed ({}):\n{}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `promtool check rules`, `promtool test rules` (a firing, a silent and a pending case per
/// alert) and our conventions (severity, annotations, runbook anchors).
#[test]
fn alert_rules_pass_promtool_and_conventions() {
    run("bash", &["scripts/test-rules.sh"]);
}

/// Dashboard JSON: uid, schemaVersion, variables, unit and description per panel,
/// $__rate_interval in every rate().
#[test]
fn dashboards_pass_static_checks() {
    run("python3", &["scripts/check-dashboards.py"]);
}
