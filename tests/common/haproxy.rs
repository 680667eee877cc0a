//! A real HAProxy started by a test with its own configuration in a temporary directory, on
//! 127.0.0.1 only, with a runtime API socket (`stats socket ... level admin`): the test reads
//! `show servers state` / `show stat` and sends commands such as `set server BE/SRV state maint`.
//! Killed when dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Haproxy {
    child: Child,
    pub socket: PathBuf,
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

/// The `global` and `defaults` sections every test HAProxy shares: the admin socket at
/// `socket`, mode tcp, and timeouts short enough for a test.
pub fn preamble(socket: &std::path::Path) -> String {
    format!(
        "global\n    stats socket {} mode 600 level admin\n    stats timeout 30s\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n    \
         timeout server 1h\n    timeout check 2s\n\n",
        socket.display()
    )
}

impl Haproxy {
    /// Start HAProxy in the foreground (`-db`) with `body` (the sections after [`preamble`]).
    /// The configuration is checked first (`haproxy -c`), so a bad one fails with HAProxy's own
    /// message.
    pub fn start(body: &str) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("haproxy.cfg");
        let socket = dir.path().join("admin.sock");
        std::fs::write(&config, format!("{}{body}", preamble(&socket))).expect("write config");
        check_config(&config);
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy is installed (scripts/install-deps.sh)");
        let haproxy = Haproxy {
            child,
            socket,
            config,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !haproxy.socket.exists() {
            assert!(Instant::now() < deadline, "haproxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        haproxy
    }

    /// One runtime API command; its whole answer.
    pub fn command(&self, command: &str) -> String {
        let output = Command::new("socat")
            .args(["-t", "2", "-"])
            .arg(format!("UNIX-CONNECT:{}", self.socket.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(stdin) = child.stdin.as_mut() {
                    stdin.write_all(format!("{command}\n").as_bytes())?;
                }
                child.wait_with_output()
            })
            .expect("socat to the runtime API socket");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `show servers state BACKEND`: server name -> column -> value (`srv_op_state` 2 = running,
    /// 0 = stopped; `srv_admin_state` bit 0x01 = forced maintenance, 0x08 = forced drain;
    /// `srv_uweight` the weight now in force).
    pub fn servers_state(&self, backend: &str) -> HashMap<String, HashMap<String, String>> {
        let text = self.command(&format!("show servers state {backend}"));
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let _version = lines.next();
        let header: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        lines
            .map(|line| {
                header
                    .iter()
                    .cloned()
                    .zip(line.split_whitespace().map(str::to_owned))
                    .collect::<HashMap<_, _>>()
            })
            .filter_map(|row| Some((row.get("srv_name")?.clone(), row)))
            .collect()
    }

    /// `show stat` rows of BACKEND's servers: server name -> column -> value.
    pub fn stat(&self, backend: &str) -> HashMap<String, HashMap<String, String>> {
        let text = self.command("show stat");
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .map(str::to_owned)
            .collect();
        lines
            .map(|line| {
                header
                    .iter()
                    .cloned()
                    .zip(line.split(',').map(str::to_owned))
                    .collect::<HashMap<_, _>>()
            })
            .filter(|row| row.get("pxname").map(String::as_str) == Some(backend))
            .filter_map(|row| Some((row.get("svname")?.clone(), row)))
            .filter(|(name, _)| name != "BACKEND" && name != "FRONTEND")
            .collect()
    }

    /// Wait until `want` holds for `server`'s `show servers state` row; returns that row.
    pub fn wait_state(
        &self,
        backend: &str,
        server: &str,
        within: Duration,
        what: &str,
        want: impl Fn(&HashMap<String, String>) -> bool,
    ) -> HashMap<String, String> {
        let start = Instant::now();
        loop {
            let row = self
                .servers_state(backend)
                .remove(server)
                .unwrap_or_default();
            if want(&row) {
                return row;
            }
            assert!(
                start.elapsed() < within,
                "{backend}/{server} not {what} within {within:?}: {row:?}\nshow stat: {:?}",
                self.stat(backend).get(server)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `haproxy -c -f PATH`: panics with HAProxy's own message when the configuration is invalid.
pub fn check_config(path: &std::path::Path) {
    let output = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(path)
        .output()
        .expect("haproxy is installed (scripts/install-deps.sh)");
    assert!(
        output.status.success(),
        "haproxy -c {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
