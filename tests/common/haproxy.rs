//! A real HAProxy started by a test with its own configuration in a temporary directory, on
//! 127.0.0.1 only, with a runtime API socket (`stats socket ... level admin`): the test reads
//! `show servers state` / `show stat` and sends commands such as `set server BE/SRV state maint`.
//! Killed when dropped.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Haproxy {
    child: Child,
    pub socket: PathBuf,
    pub config: PathBuf,
    /// With [`Haproxy::start_with_frontend`]: the frontend's address, a listener the test bound
    /// on 127.0.0.1:0 and handed to HAProxy as its standard input (`bind fd@0`), so no port is
    /// guessed.
    pub frontend: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

/// One column -> value map per server, as `show servers state` and `show stat` list them.
pub type Rows = HashMap<String, HashMap<String, String>>;

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
        Self::launch(
            |config, socket| {
                std::fs::write(config, format!("{}{body}", preamble(socket))).expect("write config")
            },
            None,
        )
    }

    /// The same with a whole configuration of the caller's (its own `global` and `defaults`, no
    /// [`preamble`]): `write(CONFIG, SOCKET)` writes it at CONFIG, with its admin socket at
    /// SOCKET and a frontend `bind fd@0`, the listener [`Haproxy::frontend`] names.
    pub fn start_with_frontend(write: impl FnOnce(&Path, &Path)) -> Haproxy {
        let frontend = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Self::launch(write, Some(frontend))
    }

    fn launch(write: impl FnOnce(&Path, &Path), frontend: Option<TcpListener>) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("haproxy.cfg");
        let socket = dir.path().join("admin.sock");
        write(&config, &socket);
        // Checking `bind fd@0` needs the listener on standard input too.
        let stdin = || match &frontend {
            Some(l) => Stdio::from(std::os::fd::OwnedFd::from(
                l.try_clone().expect("the frontend listener"),
            )),
            None => Stdio::null(),
        };
        check(&config, stdin());
        let address = frontend
            .as_ref()
            .map(|l| l.local_addr().expect("frontend address"));
        let stdin = stdin();
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy is installed (scripts/install-deps.sh)");
        let haproxy = Haproxy {
            child,
            socket,
            config,
            frontend: address,
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
    pub fn servers_state(&self, backend: &str) -> Rows {
        let text = self.command(&format!("show servers state {backend}"));
        // A version line first, then `# col col ...` and space-separated rows.
        let text = text.lines().filter(|l| !l.trim().is_empty()).skip(1);
        table(text, |l| l.split_whitespace().collect())
            .filter_map(|row| Some((row.get("srv_name")?.clone(), row)))
            .collect()
    }

    /// `show stat` rows of BACKEND's servers: server name -> column -> value.
    pub fn stat(&self, backend: &str) -> Rows {
        let text = self.command("show stat");
        table(text.lines(), |l| l.split(',').collect())
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
        self.wait_row(backend, server, within, what, Self::servers_state, want)
            .0
    }

    /// Wait until `server`'s `show stat` status is exactly `want` (`UP`, `DOWN`, ...); returns
    /// how long it took.
    pub fn wait_status(
        &self,
        backend: &str,
        server: &str,
        want: &str,
        within: Duration,
    ) -> Duration {
        let is =
            |row: &HashMap<String, String>| row.get("status").map(String::as_str) == Some(want);
        self.wait_row(backend, server, within, want, Self::stat, is)
            .1
    }

    /// Poll `server`'s row of `read(BACKEND)` every 20 ms until `want` holds: that row, and how
    /// long it took. Panics after `within` with that row and the backend's `show stat` status.
    fn wait_row(
        &self,
        backend: &str,
        server: &str,
        within: Duration,
        what: &str,
        read: impl Fn(&Self, &str) -> Rows,
        want: impl Fn(&HashMap<String, String>) -> bool,
    ) -> (HashMap<String, String>, Duration) {
        let start = Instant::now();
        loop {
            let row = read(self, backend).remove(server).unwrap_or_default();
            if want(&row) {
                return (row, start.elapsed());
            }
            if start.elapsed() >= within {
                // The checks' own account of every server, for the reader of the failure.
                let checks: Vec<_> = self
                    .stat(backend)
                    .into_iter()
                    .map(|(name, row)| {
                        let [status, check, agent] = ["status", "check_desc", "last_agt"]
                            .map(|c| row.get(c).cloned().unwrap_or_default());
                        format!("{name}: {status} (check: {check}; agent: {agent})")
                    })
                    .collect();
                panic!(
                    "{backend}/{server} not {what} within {within:?}: {row:?}\n\
                     show stat: {checks:#?}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A runtime API table: a `# col col ...` header line, then one row a line; each row as
/// column -> value, the header and the rows split into cells by `cells`.
fn table<'a>(
    mut lines: impl Iterator<Item = &'a str> + 'a,
    cells: for<'l> fn(&'l str) -> Vec<&'l str>,
) -> impl Iterator<Item = HashMap<String, String>> + 'a {
    let header = cells(lines.next().unwrap_or_default().trim_start_matches("# "));
    let header: Vec<String> = header.into_iter().map(str::to_owned).collect();
    lines.map(move |line| {
        header
            .iter()
            .cloned()
            .zip(cells(line).into_iter().map(str::to_owned))
            .collect()
    })
}

/// `haproxy -c -f PATH`: panics with HAProxy's own message when the configuration is invalid.
pub fn check_config(path: &std::path::Path) {
    check(path, Stdio::null());
}

/// [`check_config`] with `stdin` as HAProxy's standard input (a listener for `bind fd@0`).
fn check(path: &std::path::Path, stdin: Stdio) {
    let output = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(path)
        .stdin(stdin)
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
