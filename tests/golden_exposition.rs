//! The golden expositions (tests/golden/*.txt, written by src/golden_tests.rs from recorded
//! snapshots) are valid Prometheus text that promtool accepts, and each subsystem's page is
//! there: per subsystem, the scenario that exercises it most must carry its families.
//!
//! promtool comes from the sandbox's packages (scripts/install-deps.sh); a missing promtool
//! fails this test loudly.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The /metrics section of a golden file, with normalised times made numeric again.
fn exposition(scenario: &str) -> String {
    let path = golden_dir().join(format!("{scenario}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, metrics) = text
        .split_once("### GET /metrics\n")
        .unwrap_or_else(|| panic!("{}: no /metrics section", path.display()));
    // Skip the status line.
    let (status, body) = metrics.split_once('\n').unwrap_or(("", ""));
    assert!(
        status.starts_with("200 "),
        "{scenario}: /metrics answered {status}"
    );
    body.replace(" <time>\n", " 0\n")
}

fn promtool_check(scenario: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/install-deps.sh installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "{scenario}: promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Per subsystem: the scenario, and series that must be in its exposition.
const SUBSYSTEMS: &[(&str, &str, &[&str])] = &[
    (
        "galera",
        "healthy",
        &[
            "clustercheckd_galera_healthy 1",
            "clustercheckd_collector_up{collector=\"galera\"} 1",
            "clustercheckd_galera_cluster_size 3",
        ],
    ),
    (
        "rabbitmq",
        "backup-node",
        &[
            "clustercheckd_rabbitmq_healthy",
            "clustercheckd_rabbitmq_node_alarm{",
            "clustercheckd_collector_up{collector=\"rabbitmq\"} 1",
        ],
    ),
    (
        "pacemaker",
        "quorum-lost",
        &[
            "clustercheckd_pacemaker_quorate 0",
            "clustercheckd_pacemaker_healthy 0",
            "clustercheckd_collector_up{collector=\"pacemaker\"} 1",
        ],
    ),
    (
        "vip",
        "vip-moved-left-behind",
        &[
            "clustercheckd_vip_held_locally{vip=\"vip\"} 1",
            "clustercheckd_vip_healthy{vip=\"vip\"} 0",
            "clustercheckd_vip_agreement{vip=\"vip\"} 0",
        ],
    ),
];

#[test]
fn every_golden_exposition_passes_promtool() {
    let mut checked = 0;
    for entry in std::fs::read_dir(golden_dir()).expect("tests/golden") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "txt") {
            let scenario = path
                .file_stem()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            promtool_check(&scenario, &exposition(&scenario));
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} golden files found");
}

#[test]
fn each_subsystem_has_its_golden_exposition() {
    for (subsystem, scenario, series) in SUBSYSTEMS {
        let text = exposition(scenario);
        for wanted in *series {
            assert!(
                text.contains(wanted),
                "{subsystem}: {scenario}'s exposition lacks {wanted}"
            );
        }
    }
}
