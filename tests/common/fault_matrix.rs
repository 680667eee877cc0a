//! The fault matrix's recorder (docs/reliability.md, written by scripts/fault-matrix.sh).
//!
//! A test calls [`record`] at the moment it observes a fault's verdict, with the answer it saw
//! and the time since its clock started (at the fault, or at the daemon's start where the fault
//! is there from the beginning). When `FAULT_MATRIX_OUT` names a file, one JSON line is appended
//! to it; otherwise nothing happens, so ordinary test runs are unchanged. The figures in the
//! document therefore come from the run that wrote it, never from someone's notes.

use std::io::Write;
use std::time::Duration;

use super::Answer;

/// Where the clock of a recorded time started: just before the fault was made (the signal, the
/// SQL, the command).
pub const FAULT: &str = "fault";
/// The daemon's ready file (it listens): the fault was there before the daemon (a hanging
/// crm_mon, a full server, a recorded CIB).
pub const READY: &str = "daemon ready";

/// Append one row: `fault` as scripts/fault-matrix.sh lists it, the `endpoint` that answered
/// (`/`, `/rabbitmq`, ...), the `answer` itself (its status and body are the verdict and the
/// reason) and `took`, measured from `since` ([`FAULT`], [`READY`] or another instant the test names).
pub fn record(fault: &str, endpoint: &str, answer: &Answer, since: &str, took: Duration) {
    let Ok(path) = std::env::var("FAULT_MATRIX_OUT") else {
        return;
    };
    // libtest names each test's thread after the test; the binary is tests/<name>-<hash>.
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.rsplit_once('-').map(|(b, _)| b.to_owned()).unwrap_or(s))
        .unwrap_or_default();
    let line = serde_json::json!({
        "fault": fault,
        "endpoint": endpoint,
        "verdict": answer.status,
        "reason": answer.body.trim_end(),
        "seconds": (took.as_secs_f64() * 100.0).round() / 100.0,
        "since": since,
        "test": format!("{binary}::{test}"),
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("FAULT_MATRIX_OUT {path}: {e}"));
    // One write per line: rows from tests running at once do not interleave.
    file.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("FAULT_MATRIX_OUT {path}: {e}"));
}
