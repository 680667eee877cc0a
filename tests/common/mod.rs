//! Shared by the integration tests: the sandbox (scripts/sandbox.sh), a real clustercheckd
//! process per test, and a minimal HTTP client that speaks exactly what HAProxy sends.
//!
//! The tests run against the real clusters the sandbox started. A test that disturbs a cluster
//! holds that cluster's lock for its whole run (readers take it too, so nobody reads a cluster
//! mid-disturbance), and registers how to undo its change in a [`Restore`] guard, which runs even
//! when an assertion fails.

#![allow(dead_code)]

pub mod fault_matrix;
pub mod haproxy;
pub mod haproxy_httpchk;
pub mod pki;
pub mod prometheus;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sandbox's ports and paths, read from scripts/sandbox/env.sh (the environment wins, as in
/// the script).
pub fn env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("scripts/sandbox/env.sh"))
            .expect("scripts/sandbox/env.sh");
        let mut map = HashMap::new();
        for line in text.lines() {
            // NAME=${NAME:-value}
            let Some((name, rest)) = line.split_once('=') else {
                continue;
            };
            if name.starts_with('#') || name.contains(' ') {
                continue;
            }
            let default = rest
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .and_then(|r| r.split_once(":-"))
                .map(|(_, v)| v.to_owned())
                .unwrap_or_else(|| rest.to_owned());
            let value = std::env::var(name).unwrap_or(default);
            map.insert(name.to_owned(), value);
        }
        map
    })
}

pub fn env_num(name: &str) -> u16 {
    env()
        .get(name)
        .unwrap_or_else(|| panic!("{name} not in env.sh"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// Run `scripts/sandbox.sh ARGS`; panics with its output when it fails, so a missing component
/// fails the test loudly instead of skipping it.
pub fn sandbox(args: &[&str]) -> String {
    let mut command = Command::new("bash");
    command.arg(repo().join("scripts/sandbox.sh")).args(args);
    stdout_of(
        &mut command,
        &format!("scripts/sandbox.sh {}", args.join(" ")),
    )
}

/// Run a command that must succeed (a missing tool or a failure panics with its stderr) and
/// return its standard output.
pub fn stdout_of(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{what}: cannot run (is it installed? scripts/install-deps.sh): {e}")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// One lock per cluster, held for a whole test: an exclusive `flock` on a file in the sandbox
/// directory, so it also holds between test binaries and between checkouts that share the one
/// sandbox (two test runs at once must not disturb a cluster the other is reading).
pub struct ClusterLock {
    _file: std::fs::File,
}

pub fn lock(cluster: &'static str) -> ClusterLock {
    let file = lock_file(cluster);
    // Released when the file is closed, also when the test panics (its Restore guard ran first)
    // or the process dies.
    file.lock()
        .unwrap_or_else(|e| panic!("lock the {cluster} lock file: {e}"));
    ClusterLock { _file: file }
}

/// The file whose `flock` is `cluster`'s lock (opened, not locked): the same one scripts take
/// with `flock -o $SANDBOX_DIR/locks/CLUSTER.lock`.
pub fn lock_file(cluster: &str) -> std::fs::File {
    let dir = PathBuf::from(&env()["SANDBOX_DIR"]).join("locks");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(format!("{cluster}.lock"));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Undo a disturbance when dropped, whether the test passed or panicked.
pub struct Restore(Option<Box<dyn FnOnce()>>);

impl Restore {
    pub fn new(undo: impl FnOnce() + 'static) -> Self {
        Self(Some(Box::new(undo)))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(undo) = self.0.take() {
            undo();
        }
    }
}

/// A clustercheckd process started from the built binary with a generated config file. It binds
/// port 0 and reports what it bound through `--ready-file`, so the test talks to exactly this
/// daemon (no port is guessed, none can be taken by someone else in between).
pub struct Daemon {
    child: Child,
    /// The check listener's address, as the daemon reported it.
    pub check: SocketAddr,
    /// The separate /metrics and /status listener's address, when the config asks for one.
    pub metrics: Option<SocketAddr>,
    /// The HAProxy agent-check listener's address, when the config asks for one.
    pub agent: Option<SocketAddr>,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// `toml` is the config file body; `listen.check = "127.0.0.1:0"` is added unless it names a
    /// check address itself.
    pub fn start(toml: &str) -> Daemon {
        Self::start_wrapped(toml, &[])
    }

    /// The same, run as `WRAPPER... clustercheckd --config FILE` (e.g. in its own namespace).
    pub fn start_wrapped(toml: &str, wrapper: &[&str]) -> Daemon {
        Self::start_full(toml, wrapper, &[], None, None)
    }

    /// The same, socket-activated as systemd does it: `listener` is handed over as descriptor 3
    /// with `LISTEN_PID` (the daemon's own pid), `LISTEN_FDS=1` and `LISTEN_FDNAMES=NAME`
    /// (through `sh`, which moves it from standard input to 3 and execs the daemon in place).
    pub fn start_activated(toml: &str, listener: std::net::TcpListener, name: &str) -> Daemon {
        let script = format!(
            "exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES={name} \
             exec \"$0\" \"$@\""
        );
        let wrapper = ["sh", "-c", script.as_str()];
        Self::start_full(
            toml,
            &wrapper,
            &[],
            None,
            Some(std::os::fd::OwnedFd::from(listener)),
        )
    }

    /// The same, run as the OS user `user` with its supplementary groups (as a service
    /// manager's `User=` does) through `setpriv`; the temporary directory and the config file
    /// belong to that user (modes 0700 and 0600), so the daemon can read its config and write
    /// its ready file, and nobody else can read them.
    pub fn start_as(toml: &str, user: &str) -> Daemon {
        let (uid, gid) = os_user_ids(user);
        let wrapper = [
            "setpriv",
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--init-groups",
            "--inh-caps=-all",
        ]
        .map(String::from);
        let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        Self::start_full(toml, &wrapper, &[], Some((uid, gid)), None)
    }

    /// The same with extra command-line arguments after `--config FILE`.
    pub fn start_with_args(toml: &str, args: &[&std::ffi::OsStr]) -> Daemon {
        Self::start_full(toml, &[], args, None, None)
    }

    fn start_full(
        toml: &str,
        wrapper: &[&str],
        args: &[&std::ffi::OsStr],
        owner: Option<(u32, u32)>,
        stdin: Option<std::os::fd::OwnedFd>,
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("clustercheckd.toml");
        let text = with_check_addr(toml);
        // A config that names its node (e.g. a Pacemaker node) keeps that name.
        let text = if toml.contains("node_name =") {
            format!("{text}\n")
        } else {
            format!("node_name = \"test\"\n{text}\n")
        };
        std::fs::write(&config, text).expect("write config");
        if let Some((uid, gid)) = owner {
            give(dir.path(), uid, gid, 0o700);
            give(&config, uid, gid, 0o600);
        }
        let log = dir.path().join("clustercheckd.log");
        let ready = dir.path().join("ready");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_clustercheckd"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_clustercheckd")),
        };
        let child = command
            .arg("--config")
            .arg(&config)
            .arg("--ready-file")
            .arg(&ready)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(stdin.map(Stdio::from).unwrap_or_else(Stdio::null))
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start clustercheckd");
        let mut daemon = Daemon {
            child,
            check: SocketAddr::from(([0, 0, 0, 0], 0)),
            metrics: None,
            agent: None,
            log,
            _dir: dir,
        };
        let addresses = daemon.wait_ready(&ready);
        daemon.check = *addresses
            .get("check")
            .unwrap_or_else(|| panic!("no check= line in the ready file: {addresses:?}"));
        daemon.metrics = addresses.get("metrics").copied();
        daemon.agent = addresses.get("agent").copied();
        daemon
    }

    /// A daemon checking sandbox Galera node `n` through its check user's defaults file.
    pub fn galera(n: u8, extra: &str) -> Daemon {
        Daemon::start(&galera_section(n, extra))
    }

    /// Wait for the ready file (written once every listener is bound) and read its
    /// `name=address` lines.
    fn wait_ready(&mut self, ready: &Path) -> HashMap<String, SocketAddr> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(ready) {
                return parse_addresses(&text);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("clustercheckd exited with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "clustercheckd wrote no ready file within 10 s:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's process id (the wrapper execs it, so it is the same process).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The check listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.check
    }

    pub fn check(&self) -> Answer {
        request(self.addr(), "OPTIONS / HTTP/1.0\r\n\r\n")
    }

    pub fn get(&self, path: &str) -> Answer {
        request(self.addr(), &format!("GET {path} HTTP/1.0\r\n\r\n"))
    }

    /// Poll the check until `want(answer)` or the deadline; returns the matching answer and when.
    pub fn wait_check(
        &self,
        within: Duration,
        what: &str,
        want: impl Fn(&Answer) -> bool,
    ) -> (Answer, Duration) {
        let start = Instant::now();
        loop {
            let answer = self.check();
            if want(&answer) {
                return (answer, start.elapsed());
            }
            if start.elapsed() > within {
                panic!(
                    "no {what} within {within:?}; last answer: {} {:?}\nlog:\n{}",
                    answer.status,
                    answer.body,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Send SIGTERM and wait (at most `within`) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        // Quiet: it may have exited already (a test that stopped it before dropping it).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The value of one unlabelled series (or one exact `name{labels}` string) on /metrics.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.get("/metrics").body, series)
    }
}

impl Drop for Daemon {
    /// SIGTERM first, as systemd does, so the daemon's own shutdown path (which also ends any
    /// crm_mon child) runs; SIGKILL only if it does not exit within a few seconds.
    fn drop(&mut self) {
        if self.terminate(Duration::from_secs(5)).is_some() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The uid and primary gid of an OS user (`id -u`, `id -g`); panics when it does not exist.
pub fn os_user_ids(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        stdout_of(
            Command::new("id").args([flag, user]),
            &format!("id {flag} {user}"),
        )
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("id {flag} {user}: {e}"))
    };
    (id("-u"), id("-g"))
}

/// Make `path` belong to `uid:gid` with `mode`.
pub fn give(path: &Path, uid: u32, gid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// `name=address` lines, as the daemon's `--ready-file` holds them.
pub fn parse_addresses(text: &str) -> HashMap<String, SocketAddr> {
    text.lines()
        .map(|line| {
            let (name, addr) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("ready file line {line:?} is not name=address"));
            let addr = addr
                .parse()
                .unwrap_or_else(|e| panic!("ready file line {line:?}: {e}"));
            (name.to_owned(), addr)
        })
        .collect()
}

/// Make sure the config has a check address: one the config names (a test that wants port 0
/// on a separate metrics listener too) is kept, otherwise `127.0.0.1:0` is added to (or as)
/// `[listen]`.
fn with_check_addr(toml: &str) -> String {
    if toml.lines().any(|l| l.trim().starts_with("check =")) {
        return toml.to_owned();
    }
    let line = "check = \"127.0.0.1:0\"";
    if toml.contains("[listen]") {
        toml.replacen("[listen]", &format!("[listen]\n{line}"), 1)
    } else {
        // Top-level tables must come before the sections that follow, so put it first.
        format!("[listen]\n{line}\n{toml}")
    }
}

/// The real server inside the test process: the config loaded as the binary loads it, listeners
/// bound to 127.0.0.1:0 (and the metrics one only when the config asks for one), then
/// [`clustercheckd::run`] on a runtime of its own. For tests of the HTTP behaviour that need no
/// separate process (no signals, no exit codes, no log). Shut down when dropped.
pub struct Server {
    pub check: SocketAddr,
    pub metrics: Option<SocketAddr>,
    shutdown: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// `toml` is a config file body; the check (and metrics) addresses are bound as given, so a
    /// test names `127.0.0.1:0` for the ones it wants (a missing check address becomes that).
    pub fn start(toml: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("clustercheckd.toml");
        std::fs::write(
            &path,
            format!("node_name = \"test\"\n{}\n", with_check_addr(toml)),
        )
        .expect("write config");
        let config = clustercheckd::config::Config::load(
            Some(&path),
            &clustercheckd::config::Overrides::default(),
        )
        .unwrap_or_else(|e| panic!("config refused: {e}\n{toml}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listeners = runtime.block_on(async {
            let check =
                clustercheckd::http::bind(config.listen.check).expect("bind the check listener");
            let metrics = config
                .listen
                .metrics
                .map(|addr| clustercheckd::http::bind(addr).expect("bind the metrics listener"));
            let web = clustercheckd::http::web::Web::from_config(&config)
                .unwrap_or_else(|e| panic!("web config refused: {e}"));
            let agent = config
                .listen
                .agent
                .map(|addr| clustercheckd::http::bind(addr).expect("bind the agent listener"));
            clustercheckd::Listeners {
                check,
                metrics,
                agent,
                web,
            }
        });
        let check = listeners.check.local_addr().expect("check address");
        let metrics = listeners
            .metrics
            .as_ref()
            .map(|l| l.local_addr().expect("metrics address"));
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = runtime.spawn(clustercheckd::run(config, listeners, shutdown.clone()));
        Server {
            check,
            metrics,
            shutdown,
            task: Some(task),
            runtime: Some(runtime),
        }
    }

    pub fn check(&self) -> Answer {
        request(self.check, "OPTIONS / HTTP/1.0\r\n\r\n")
    }

    pub fn get(&self, path: &str) -> Answer {
        request(self.check, &format!("GET {path} HTTP/1.0\r\n\r\n"))
    }

    /// The value of one unlabelled series (or one exact `name{labels}` string) on /metrics.
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.get("/metrics").body, series)
    }
}

impl Drop for Server {
    /// Cancel, then wait (bounded) for `run` to return, as the binary does on SIGTERM.
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) {
            let _ = runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// The value of one series (an exact `name` or `name{labels}` string) in an exposition.
pub fn metric_value(page: &str, series: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// A port where nothing listens and nothing can start listening while the guard lives: a socket
/// bound to 127.0.0.1:0 that never listens, so a connection to it is refused at once.
pub struct ClosedPort {
    pub port: u16,
    _socket: socket2::Socket,
}

pub fn closed_port() -> ClosedPort {
    let (port, socket) = bound_socket(false);
    ClosedPort {
        port,
        _socket: socket,
    }
}

/// A port on 127.0.0.1 that nobody else gets while the guard lives, yet a daemon can bind: a
/// socket bound with SO_REUSEADDR that never listens (Linux lets another SO_REUSEADDR socket,
/// such as the daemon's listener, bind the same address as long as neither listens yet). For
/// configs that must name each other's ports before the daemons start, such as `[peers]`.
pub struct ReservedPort {
    pub port: u16,
    _socket: socket2::Socket,
}

pub fn reserved_port() -> ReservedPort {
    let (port, socket) = bound_socket(true);
    ReservedPort {
        port,
        _socket: socket,
    }
}

/// A TCP socket bound to 127.0.0.1:0 (with SO_REUSEADDR when `reuse`) that does not listen, and
/// its port.
fn bound_socket(reuse: bool) -> (u16, socket2::Socket) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    socket.set_reuse_address(reuse).expect("SO_REUSEADDR");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("the bound port");
    (port, socket)
}

/// Three daemons, one per sandbox Galera node (`sections[i]` is node i+1's `[galera]` section),
/// each with the two others as `[peers]` (plain HTTP on 127.0.0.1, ports reserved before any of
/// them starts). `peers_extra` lines go into the `[peers]` section.
pub fn galera_peer_daemons(sections: [String; 3], peers_extra: &str) -> Vec<Daemon> {
    let ports: Vec<ReservedPort> = (0..3).map(|_| reserved_port()).collect();
    let url = |i: usize| format!("\"http://127.0.0.1:{}/status\"", ports[i].port);
    sections
        .iter()
        .enumerate()
        .map(|(i, section)| {
            let others: Vec<String> = (0..3).filter(|j| *j != i).map(url).collect();
            Daemon::start(&format!(
                "[listen]\ncheck = \"127.0.0.1:{}\"\n{section}\n[peers]\nurls = [{}]\n{peers_extra}\n",
                ports[i].port,
                others.join(", ")
            ))
        })
        .collect()
}

/// A `[galera]` section watching sandbox Galera node `n` through its check user's defaults file,
/// polled every second; `extra` lines go into the section.
pub fn galera_section(n: u8, extra: &str) -> String {
    galera_toml(&galera_defaults_file(n), "1s", extra)
}

/// The one builder of the tests' `[galera]` sections: the check user's options file
/// `defaults_file` (e.g. [`galera_defaults_file`] or a copy of it), polled every `interval` with
/// a one-second timeout; `extra` lines go into the section.
pub fn galera_toml(defaults_file: &str, interval: &str, extra: &str) -> String {
    format!(
        "[galera]\ndefaults_file = \"{defaults_file}\"\ninterval = \"{interval}\"\n\
         timeout = \"1s\"\n{extra}\n"
    )
}

/// The writer test timing of docs/writer.md, for [`writer_section`]: lease 2.5 s, margin 0.5 s,
/// renewals every 0.4 s, handover gap 1.5 s, which must outlast HAProxy's `inter 400ms fall 2`
/// (1.2 s: [`FAST_HAPROXY_TIMING`]).
const FAST_WRITER_TIMING: &str = "lease = \"2500ms\"\nmargin = \"500ms\"\n\
    renew_interval = \"400ms\"\ntimeout = \"400ms\"\nhandover_gap = \"1500ms\"";

/// HAProxy's check timing of the writer tests (`[haproxy]`, which the handover gap must outlast).
const FAST_HAPROXY_TIMING: &str = "[haproxy]\ninter = \"400ms\"\nfall = 2\n";

/// [`writer_section`] at the writer test timing, after the `[haproxy]` section that timing needs.
/// `[writer]` comes last, so lines appended to it go into that section.
pub fn fast_writer_section(n: u8) -> String {
    fast_writer_section_with(n, "")
}

/// [`fast_writer_section`] with `haproxy_extra` lines in its `[haproxy]` section (`rise = 5\n`).
pub fn fast_writer_section_with(n: u8, haproxy_extra: &str) -> String {
    format!(
        "{FAST_HAPROXY_TIMING}{haproxy_extra}{}",
        writer_section(n, FAST_WRITER_TIMING)
    )
}

/// A `[writer]` section for sandbox Galera node `n`: the sandbox's lease user on lease row 1 (the
/// tests' row; the demo daemons hold their own lease on row 2); `extra` lines go into the section
/// ([`fast_writer_section`] adds the tests' timing). Daemons with it write the lease row: hold the
/// Galera lock while they run.
pub fn writer_section(n: u8, extra: &str) -> String {
    let lease_file = sandbox(&["galera", "writer_defaults_file", &n.to_string()]);
    format!(
        "[writer]\nenabled = true\ndefaults_file = \"{}\"\n{extra}\n",
        lease_file.trim()
    )
}

/// Wait until exactly one of `daemons` answers 200 on `/writer`; its index.
pub fn wait_for_writer(daemons: &[&Daemon], within: Duration) -> usize {
    let codes = wait_for(
        within,
        "one writer",
        || {
            daemons
                .iter()
                .map(|d| d.get("/writer").status)
                .collect::<Vec<_>>()
        },
        |codes| codes.iter().filter(|c| **c == 200).count() == 1,
    );
    codes.iter().position(|c| *c == 200).unwrap_or(0)
}

/// The sandbox's defaults file of Galera node `n`'s check user (`[client]` user, password,
/// socket).
pub fn galera_defaults_file(n: u8) -> String {
    sandbox(&["galera", "defaults_file", &n.to_string()])
        .trim()
        .to_owned()
}

/// A `[rabbitmq]` section watching sandbox RabbitMQ node `n` with fast intervals; `extra` lines
/// go into the section.
pub fn rabbitmq_section(n: u8, extra: &str) -> String {
    format!(
        "[rabbitmq]\nenabled = true\ninterval = \"1s\"\nqueue_interval = \"2s\"\n\
         timeout = \"2s\"\nprobe_timeout = \"2s\"\n\
         management_url = \"http://127.0.0.1:{}\"\namqp_port = {}\nuser = \"{}\"\n\
         password = \"{}\"\n{extra}\n",
        env_num("RABBITMQ_MGMT_PORT_BASE") + u16::from(n),
        env_num("RABBITMQ_AMQP_PORT_BASE") + u16::from(n),
        env()["RABBITMQ_USER"],
        env()["RABBITMQ_PASSWORD"]
    )
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
    pub elapsed: Duration,
}

/// Send a raw request and read the whole answer (the server closes the connection).
pub fn request(addr: SocketAddr, raw: &str) -> Answer {
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream.write_all(raw.as_bytes()).expect("send request");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read answer");
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        elapsed,
    }
}

/// Run SQL as root on sandbox Galera node `n`; tab-separated output.
pub fn galera_sql(n: u8, sql: &str) -> String {
    sandbox(&["galera", "sql", &n.to_string(), sql])
}

pub fn galera_cluster_size(n: u8) -> u64 {
    galera_sql(n, "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Bring the Galera cluster back to three synced nodes, whatever a test left behind.
pub fn galera_heal() {
    for n in 1..=3u8 {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/sandbox.sh"))
            .args(["galera", "sigcont", &n.to_string()])
            .output();
    }
    sandbox(&["up", "galera"]);
    sandbox(&["galera", "wait_cluster_size", "1", "3", "120"]);
}

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Poll `probe` every 100 ms until `want` holds or `within` passes; panics naming `what` and the
/// last observation.
pub fn wait_for<T: std::fmt::Debug>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> T,
    want: impl Fn(&T) -> bool,
) -> T {
    let start = Instant::now();
    loop {
        let seen = probe();
        if want(&seen) {
            return seen;
        }
        assert!(
            start.elapsed() < within,
            "no {what} within {within:?}; last: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
