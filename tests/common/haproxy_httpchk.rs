//! A real HAProxy of the test's own (config in a temp dir, foreground, killed on drop) that
//! health-checks one sandbox Galera node through a clustercheckd check port with `option
//! httpchk`, and answers `show stat` on its admin socket. For the tests of how a node leaves and
//! returns: tests/drain.rs (a planned stop) and tests/restart.rs (a restart of the daemon).
//!
//! Its only server is `node1`; HAProxy never sends it traffic (there is no frontend), only
//! checks, so only the check's verdict matters.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Haproxy {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// One `show stat` row: column name -> value (`status`, `chkfail`, `chkdown`, `check_status`...).
pub type Row = HashMap<String, String>;

impl Haproxy {
    /// HAProxy checking `node1` (sandbox Galera node `galera_node`'s SQL port) on `check_port`
    /// with `check_params`, e.g. `inter 100ms fall 2 rise 2`. `timeout check 1s`: a check waits
    /// that long for its answer (a daemon doing its first poll before answering).
    pub fn start(galera_node: u8, check_port: u16, check_params: &str) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("admin.sock");
        let config = dir.path().join("haproxy.cfg");
        let sql_port = super::env_num("GALERA_SQL_PORT_BASE") + u16::from(galera_node);
        let text = format!(
            "global\n    stats socket {socket} mode 600 level admin\n    stats timeout 30s\n\
             defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n\
             \x20   timeout server 1h\n    timeout check 1s\n\
             backend galera\n    mode tcp\n    option httpchk\n\
             \x20   server node1 127.0.0.1:{sql_port} check port {check_port} {check_params}\n",
            socket = socket.display()
        );
        std::fs::write(&config, text).expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy is installed (scripts/install-deps.sh)");
        let mut haproxy = Haproxy {
            child,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !haproxy.socket.exists() {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                panic!("haproxy exited with {status}");
            }
            assert!(Instant::now() < deadline, "haproxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        haproxy
    }

    /// `show stat` of `node1`.
    pub fn node(&self) -> Row {
        let text = self.command("show stat");
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        lines
            .map(|line| {
                header
                    .iter()
                    .map(|h| h.to_string())
                    .zip(line.split(',').map(str::to_owned))
                    .collect::<Row>()
            })
            .find(|row| row.get("svname").map(String::as_str) == Some("node1"))
            .unwrap_or_else(|| panic!("no node1 row in show stat:\n{text}"))
    }

    /// One command on the admin socket; its whole answer.
    pub fn command(&self, command: &str) -> String {
        let output = Command::new("socat")
            .args(["-t", "2", "-"])
            .arg(format!("UNIX-CONNECT:{}", self.socket.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(stdin) = child.stdin.as_mut() {
                    stdin.write_all(format!("{command}\n").as_bytes())?;
                }
                child.wait_with_output()
            })
            .expect("socat to the admin socket");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Wait until node1's `status` is exactly `want` (`UP`, `DOWN`, ...); returns how long it took.
    pub fn wait_status(&self, want: &str, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let row = self.node();
            if row.get("status").map(String::as_str) == Some(want) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "node1 not {want} within {within:?}: {row:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A numeric column of node1's row (0 when empty).
    pub fn count(row: &Row, column: &str) -> u64 {
        row.get(column)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
