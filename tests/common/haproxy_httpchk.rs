//! The HAProxy of [`super::haproxy`] set up to health-check one sandbox Galera node through a
//! clustercheckd check port with `option httpchk`: backend `galera`, server `node1`, no frontend
//! (HAProxy sends it checks only, so only the check's verdict matters). For the tests of how a
//! node leaves and returns: tests/drain.rs (a planned stop) and tests/restart.rs (a restart of
//! the daemon).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub use super::haproxy::Haproxy;

/// One `show stat` row: column name -> value (`status`, `chkfail`, `chkdown`, `check_status`...).
pub type Row = HashMap<String, String>;

/// Where both tests start: the Galera cluster healed to three synced nodes (the caller holds the
/// galera lock), and a `[galera]` section for node 1 whose maintenance file is in a temporary
/// directory of the test's (the file itself not created).
pub struct Node1 {
    /// The temporary directory (removed when dropped): the maintenance file's, and room for
    /// other files of the test.
    pub dir: tempfile::TempDir,
    pub maintenance: PathBuf,
    /// The `[galera]` section, [`super::galera_section`] with `maintenance_file`.
    pub galera: String,
}

pub fn node1_with_maintenance_file() -> Node1 {
    super::galera_heal();
    let dir = tempfile::tempdir().expect("temp dir");
    let maintenance = dir.path().join("clustercheck.disabled");
    let galera = super::galera_section(
        1,
        &format!("maintenance_file = \"{}\"", maintenance.display()),
    );
    Node1 {
        dir,
        maintenance,
        galera,
    }
}

/// HAProxy checking `node1` (sandbox Galera node `galera_node`'s SQL port) on `check_port` with
/// `check_params`, e.g. `inter 100ms fall 2 rise 2`. A check waits up to the preamble's
/// `timeout check` for its answer (a daemon doing its first poll before answering).
pub fn start(galera_node: u8, check_port: u16, check_params: &str) -> Haproxy {
    let sql_port = super::env_num("GALERA_SQL_PORT_BASE") + u16::from(galera_node);
    Haproxy::start(&format!(
        "backend galera\n    mode tcp\n    option httpchk\n    \
         server node1 127.0.0.1:{sql_port} check port {check_port} {check_params}\n"
    ))
}

/// `show stat` of `node1`.
pub fn node(haproxy: &Haproxy) -> Row {
    haproxy
        .stat("galera")
        .remove("node1")
        .unwrap_or_else(|| panic!("no galera/node1 in show stat"))
}

/// Wait until node1's `status` is exactly `want` (`UP`, `DOWN`, ...); returns how long it took.
pub fn wait_status(haproxy: &Haproxy, want: &str, within: Duration) -> Duration {
    haproxy.wait_status("galera", "node1", want, within)
}

/// A numeric column of a row (0 when empty).
pub fn count(row: &Row, column: &str) -> u64 {
    row.get(column)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}
