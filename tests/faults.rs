//! Faults of the fault matrix (docs/reliability.md) that no subsystem's own test file made: a
//! donor during a real SST, a MariaDB whose max_connections is exhausted, a hung RabbitMQ
//! management API, and the daemon's own restart. Each records its verdict and time through
//! tests/common/fault_matrix.rs when scripts/fault-matrix.sh runs it.
//!
//! Every test holds the lock of each cluster it reads or disturbs (Galera before RabbitMQ, as
//! tests/alerts_e2e.rs takes Galera before Pacemaker) and undoes its fault in a Restore guard,
//! also when an assertion fails. Waits are bounded; nothing sleeps before asserting.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::fault_matrix::{record, FAULT};
use common::{
    env, galera_heal, galera_section, galera_sql, lock, sandbox, Answer, Daemon, Restore,
};

fn sandbox_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(&env()["SANDBOX_DIR"])
}

/// Run a command, ignoring how it ends: for Restore guards, which must not panic halfway.
fn quietly(program: &str, args: &[&str]) -> Option<std::process::Output> {
    Command::new(program).args(args).output().ok()
}

/// One global status value of Galera node `n` (as root).
fn galera_status_value(n: u8, name: &str) -> String {
    galera_sql(n, &format!("SHOW GLOBAL STATUS LIKE '{name}'"))
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

// --- a donor during a real SST -----------------------------------------------------------------

/// Node 3 is stopped and its datadir emptied, so its start is a full rsync SST (see
/// scripts/sandbox/galera.sh: a joiner without data gets everything by SST). The daemons of
/// nodes 1 and 2 watch; whichever Galera picks as donor must answer 503 naming Donor/Desynced
/// while the transfer runs, and a daemon with `available_when_donor` on the same node 200. Then
/// all three are Synced again.
#[test]
fn donor_during_a_real_sst_is_503_unless_available_when_donor() {
    let _lock = lock("galera");
    galera_heal();
    let _heal = Restore::new(galera_heal);
    // Without a larger table the transfer (about 95 MB of system tables and InnoDB files) could
    // end between two polls; with it, it lasts seconds. Created once, kept for the next runs.
    grow_sst_payload();

    let strict: Vec<Daemon> = (1..=2).map(|n| Daemon::galera(n, "")).collect();
    let lenient: Vec<Daemon> = (1..=2)
        .map(|n| Daemon::galera(n, "available_when_donor = true"))
        .collect();
    for d in strict.iter().chain(&lenient) {
        d.wait_check(Duration::from_secs(5), "200 before the SST", |a| {
            a.status == 200
        });
    }

    sandbox(&["galera", "stop", "3"]);
    let data = sandbox_dir().join("galera/node3/data");
    std::fs::remove_dir_all(&data).unwrap_or_else(|e| panic!("{}: {e}", data.display()));
    // `galera start 3` returns once node 3 is Synced; it runs beside the observation.
    let fault = Instant::now();
    let mut joiner = Command::new("bash")
        .arg(common::repo().join("scripts/sandbox.sh"))
        .args(["galera", "start", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node 3");

    // The donor's verdict: the first strict daemon to answer Donor/Desynced.
    let (donor, answer) = loop {
        if let Some((i, a)) = strict
            .iter()
            .map(Daemon::check)
            .enumerate()
            .find(|(_, a)| a.body.contains("Donor/Desynced"))
        {
            break (i, a);
        }
        if let Ok(Some(status)) = joiner.try_wait() {
            panic!(
                "node 3 finished joining ({status}) before any daemon saw a donor, after {:?}",
                fault.elapsed()
            );
        }
        assert!(
            fault.elapsed() < Duration::from_secs(120),
            "no donor seen within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = fault.elapsed();
    record(
        "Galera donor during a real rsync SST",
        "/",
        &answer,
        "joiner start",
        took,
    );
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(
        answer.body,
        "Galera cluster node is not synced: Donor/Desynced.\n"
    );
    let node = donor + 1;
    let donor_state = galera_status_value(node as u8, "wsrep_local_state_comment");
    // The lenient daemon on the same node, while the transfer still runs.
    let (lenient_answer, _) = lenient[donor].wait_check(
        Duration::from_secs(3),
        "the donor seen with available_when_donor",
        |a| a.body.contains("Donor/Desynced"),
    );
    let still_donor = strict[donor].check();
    record(
        "Galera donor during a real rsync SST, available_when_donor = true",
        "/",
        &lenient_answer,
        "joiner start",
        fault.elapsed(),
    );
    assert_eq!(lenient_answer.status, 200, "{}", lenient_answer.body);
    assert!(
        still_donor.body.contains("Donor/Desynced"),
        "the SST ended while the lenient daemon was read: {}",
        still_donor.body
    );
    eprintln!("donor node {node} ({donor_state}) seen {took:?} after the joiner started");

    // The transfer ends, node 3 is Synced, and every node is Synced again.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = joiner.try_wait().expect("wait for galera start 3") {
            break status;
        }
        assert!(Instant::now() < deadline, "node 3 not Synced in 180 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    let joined = fault.elapsed();
    let mut stderr = String::new();
    if let Some(mut pipe) = joiner.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(status.success(), "galera start 3: {stderr}");
    let (back, _) = strict[donor].wait_check(Duration::from_secs(10), "200 after the SST", |a| {
        a.status == 200
    });
    assert_eq!(back.body, "Galera cluster node is synced.\n");
    let node3 = Daemon::galera(3, "");
    node3.wait_check(Duration::from_secs(10), "node 3 synced", |a| {
        a.status == 200
    });
    for n in 1..=3u8 {
        assert_eq!(
            galera_status_value(n, "wsrep_local_state_comment"),
            "Synced"
        );
        assert_eq!(galera_status_value(n, "wsrep_cluster_size"), "3");
    }
    eprintln!("node 3 joined by SST {joined:?} after its start");
}

/// A table that makes the SST last seconds rather than a fraction of one: about 100 MB of
/// incompressible rows in `ccd_faults.sst_payload`, replicated to every node (created once).
fn grow_sst_payload() {
    galera_sql(
        1,
        "CREATE DATABASE IF NOT EXISTS ccd_faults; \
         CREATE TABLE IF NOT EXISTS ccd_faults.sst_payload \
         (id INT AUTO_INCREMENT PRIMARY KEY, pad VARBINARY(8000)) ENGINE=InnoDB",
    );
    let rows: u64 = galera_sql(1, "SELECT COUNT(*) FROM ccd_faults.sst_payload")
        .trim()
        .parse()
        .unwrap_or(0);
    // 12,000 rows of 8,000 random bytes: 96 MB, in transactions of 1,000 rows (Galera's
    // write-set limit is far above 8 MB).
    let want = 12_000u64;
    for _ in (rows / 1000)..(want / 1000) {
        galera_sql(
            1,
            "INSERT INTO ccd_faults.sst_payload (pad) \
             SELECT CONCAT(RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), \
             RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), RANDOM_BYTES(1024), \
             RANDOM_BYTES(832)) FROM ccd_faults.seq_1_to_1000",
        );
    }
}

// --- max_connections exhausted -----------------------------------------------------------------

thread_local! {
    /// Idle root connections holding a node's connection slots, where both the test and its
    /// Restore guard (run on the same thread, also when the test panics) can close them.
    static FILLERS: std::cell::RefCell<Vec<Child>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn close_fillers() {
    for mut child in FILLERS.with(|f| std::mem::take(&mut *f.borrow_mut())) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// SET GLOBAL max_connections on node `n`, retrying for up to 15 s while the server is still
/// full (closed clients' sessions end a moment later); false if it never worked.
fn set_max_connections(n: u8, value: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let done = quietly(
            "bash",
            &[
                &common::path_str(&common::repo().join("scripts/sandbox.sh")),
                "galera",
                "sql",
                &n.to_string(),
                &format!("SET GLOBAL max_connections = {value}"),
            ],
        )
        .is_some_and(|o| o.status.success());
        if done || Instant::now() > deadline {
            return done;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fillers() -> usize {
    FILLERS.with(|f| f.borrow().len())
}

/// Open one more idle root connection to node `n`: Some(child) once it is connected (it printed
/// the result of its first SELECT), None when the server refused it (the error is returned).
fn open_filler(n: u8) -> Result<Child, String> {
    open_filler_on(&sandbox_dir().join(format!("galera/node{n}/mysqld.sock")))
}

/// The same on the server listening on `socket`.
fn open_filler_on(socket: &std::path::Path) -> Result<Child, String> {
    let mut child = Command::new("mariadb")
        .args(["--no-defaults", "--protocol=socket", "-S"])
        .arg(socket)
        .args(["-u", "root", "-N", "-B", "--unbuffered", "-e"])
        .arg("SELECT 'connected'; DO SLEEP(3600)")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the mariadb client");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(line) if line.trim() == "connected" => Ok(child),
        other => {
            let _ = child.kill();
            let output = child
                .wait_with_output()
                .expect("the refused client's output");
            Err(format!(
                "{other:?} {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// max_connections is set low on node 3 and filled with idle root connections (root has SUPER,
/// so it gets the one extra connection MariaDB keeps for it: the fill ends with the server
/// refusing root too). The daemon that was already running keeps its persistent connection and
/// its 200; a daemon started while the server is full says "Too many connections" (503), and 200
/// once slots are free again.
#[test]
fn max_connections_exhausted_keeps_the_running_daemon_and_refuses_a_new_one() {
    let _lock = lock("galera");
    galera_heal();
    let n = 3u8;
    let original = galera_sql(n, "SELECT @@GLOBAL.max_connections")
        .trim()
        .to_owned();
    assert!(original.parse::<u32>().is_ok(), "{original:?}");
    let running = Daemon::galera(n, "");
    running.wait_check(Duration::from_secs(5), "200 before the fill", |a| {
        a.status == 200
    });

    let restore_to = original.clone();
    let _restore = Restore::new(move || {
        close_fillers();
        set_max_connections(n, &restore_to);
    });
    let connected: u32 = galera_status_value(n, "Threads_connected")
        .parse()
        .expect("Threads_connected");
    // MariaDB's floor is 10; a few slots above what is connected now (this query's included).
    let limit = (connected + 3).max(10);
    galera_sql(n, &format!("SET GLOBAL max_connections = {limit}"));

    let fault = Instant::now();
    let refusal = loop {
        match open_filler(n) {
            Ok(child) => FILLERS.with(|f| f.borrow_mut().push(child)),
            Err(error) => break error,
        }
        assert!(
            fillers() < 64,
            "64 idle connections and the server still accepts more (limit {limit})"
        );
    };
    let full = fault.elapsed();
    assert!(
        refusal.contains("Too many connections"),
        "the fill ended otherwise: {refusal}"
    );
    eprintln!(
        "max_connections {limit}, {connected} connected before, {} root fillers accepted, then: {refusal}",
        fillers()
    );

    // Two polls of the running daemon that started after the server was full.
    let after_full = Instant::now();
    let mut polls = 0;
    let mut last_age = f64::MAX;
    let answer = loop {
        let status: serde_json::Value =
            serde_json::from_str(&running.get("/status").body).expect("/status is JSON");
        let age = status["galera"]["snapshot_age_seconds"]
            .as_f64()
            .unwrap_or(f64::MAX);
        let answer = running.check();
        assert_eq!(
            answer.status, 200,
            "the persistent connection: {}",
            answer.body
        );
        if age < after_full.elapsed().as_secs_f64() && age < last_age {
            polls += 1;
        }
        last_age = age;
        if polls >= 2 {
            break answer;
        }
        assert!(
            after_full.elapsed() < Duration::from_secs(5),
            "no two polls within 5 s of the fill: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    record(
        "MariaDB max_connections exhausted: the running daemon",
        "/",
        &answer,
        FAULT,
        fault.elapsed(),
    );
    assert_eq!(answer.body, "Galera cluster node is synced.\n");

    let spawn = Instant::now();
    let late = Daemon::galera(n, "");
    let (answer, _) = late.wait_check(Duration::from_secs(5), "too many connections", |a| {
        a.status == 503 && a.body.to_ascii_lowercase().contains("too many connections")
    });
    record(
        "MariaDB max_connections exhausted: a daemon started meanwhile",
        "/",
        &answer,
        "daemon start",
        spawn.elapsed(),
    );
    eprintln!("full after {full:?}; the late daemon said: {}", answer.body);

    // Slots free again: the late daemon gets its connection (its reconnect backs off up to 5 s).
    close_fillers();
    assert!(
        set_max_connections(n, &original),
        "max_connections not restored"
    );
    late.wait_check(Duration::from_secs(10), "200 once slots are free", |a| {
        a.status == 200
    });
}

// --- RabbitMQ management API hung --------------------------------------------------------------

fn rabbitmq_pid(n: u8) -> u32 {
    let dir = sandbox_dir().join(format!("rabbitmq/node{n}"));
    let pid: u32 = std::fs::read_to_string(dir.join("rabbitmq.pid"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {}/rabbitmq.pid", dir.display()));
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        cmdline.contains(&format!("{}", dir.display())) && cmdline.contains("beam"),
        "pid {pid} is not node {n}'s Erlang VM"
    );
    pid
}

fn rabbitmq_heal() {
    for n in 1..=3u8 {
        let _ = quietly(
            "bash",
            &[
                &common::path_str(&common::repo().join("scripts/sandbox.sh")),
                "rabbitmq",
                "alarm",
                &n.to_string(),
                "off",
            ],
        );
    }
    sandbox(&["rabbitmq", "partition", "1", "off"]);
    sandbox(&["up", "rabbitmq"]);
    sandbox(&["rabbitmq", "policy_restore"]);
}

/// Node 3's Erlang VM is SIGSTOPped for 10 s, well under its net_ticktime (read from the node;
/// 60 s by default), so its peers do not declare it down and it resumes where it was. Its daemon
/// answers 503 within interval + timeout while Galera's check, in the same daemon, keeps
/// answering 200 from memory; a peer's daemon keeps answering too. After SIGCONT: 200 again.
#[test]
fn rabbitmq_management_api_hung_is_503_within_its_timeout_and_the_rest_answers() {
    let _galera = lock("galera");
    let _rabbitmq = lock("rabbitmq");
    galera_heal();
    rabbitmq_heal();
    let n = 3u8;
    let ticktime: u64 = sandbox(&[
        "rabbitmq",
        "ctl",
        &n.to_string(),
        "-q",
        "eval",
        "net_kernel:get_net_ticktime().",
    ])
    .trim()
    .parse()
    .expect("net_ticktime");
    let hold = Duration::from_secs(10);
    assert!(
        Duration::from_secs(ticktime) > hold * 2,
        "net_ticktime {ticktime} s: a {hold:?} stop could get node {n} declared down"
    );
    let both = |node: u8| {
        Daemon::start(&format!(
            "{}{}",
            galera_section(node, ""),
            common::rabbitmq_section(node, "")
        ))
    };
    let own = both(n);
    let peer = both(1);
    for d in [&own, &peer] {
        d.wait_check(Duration::from_secs(5), "Galera 200", |a| a.status == 200);
        wait_get(d, "/rabbitmq", Duration::from_secs(15), |a| a.status == 200);
    }

    let pid = rabbitmq_pid(n);
    let _resume = Restore::new(move || {
        let _ = quietly("kill", &["-CONT", &pid.to_string()]);
        rabbitmq_heal();
    });
    let fault = Instant::now();
    common::stdout_of(
        Command::new("kill").args(["-STOP", &pid.to_string()]),
        "kill -STOP",
    );
    // interval 1 s + timeout 2 s (common::rabbitmq_section) + 1 s of slack.
    let within = Duration::from_secs(4);
    let answer = wait_get(&own, "/rabbitmq", within, |a| a.status == 503);
    let took = fault.elapsed();
    record(
        "RabbitMQ management API hung (beam.smp SIGSTOP 10 s < net_ticktime)",
        "/rabbitmq, own",
        &answer,
        FAULT,
        took,
    );
    assert!(took <= within, "{took:?}");
    // While it hangs, everything else this daemon and the peer's serve still answers, fast.
    let mut slowest = Duration::ZERO;
    let mut peer_answer = None;
    while fault.elapsed() < hold {
        let galera = own.check();
        assert_eq!(galera.status, 200, "{}", galera.body);
        let peer_rabbit = peer.get("/rabbitmq");
        slowest = slowest.max(galera.elapsed).max(peer_rabbit.elapsed);
        peer_answer = Some(peer_rabbit);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(slowest < Duration::from_millis(100), "slowest {slowest:?}");
    let peer_answer = peer_answer.expect("the peer was asked");
    record(
        "RabbitMQ management API hung (beam.smp SIGSTOP 10 s < net_ticktime)",
        "/rabbitmq, peer",
        &peer_answer,
        FAULT,
        fault.elapsed(),
    );
    let own_answer = own.get("/rabbitmq");
    assert_eq!(own_answer.status, 503, "{}", own_answer.body);

    common::stdout_of(
        Command::new("kill").args(["-CONT", &pid.to_string()]),
        "kill -CONT",
    );
    let resumed = Instant::now();
    wait_get(&own, "/rabbitmq", Duration::from_secs(30), |a| {
        a.status == 200
    });
    eprintln!(
        "hung {took:?} after SIGSTOP: {}; peer: {} {}; 200 again {:?} after SIGCONT",
        answer.body.trim_end(),
        peer_answer.status,
        peer_answer.body.trim_end(),
        resumed.elapsed()
    );
    wait_get(&peer, "/rabbitmq", Duration::from_secs(30), |a| {
        a.status == 200 && a.body.contains("3 of 3")
    });
}

fn wait_get(d: &Daemon, path: &str, within: Duration, want: impl Fn(&Answer) -> bool) -> Answer {
    let start = Instant::now();
    loop {
        let answer = d.get(path);
        if want(&answer) {
            return answer;
        }
        assert!(
            start.elapsed() <= within,
            "{path}: not as wanted within {within:?}; last {} {:?}\n{}",
            answer.status,
            answer.body,
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// --- the daemon's own restart ------------------------------------------------------------------

/// SIGTERM, then a new daemon on the same port, as systemd's restart does: how long the port is
/// closed, what the check answers as soon as it listens again (a 503 "no poll has completed yet"
/// until the first poll, or already the real verdict), and when the real verdict (200) is back.
#[test]
fn daemon_restart_answers_its_first_real_verdict_soon_after_listening() {
    let _lock = lock("galera");
    galera_heal();
    let spawn = Instant::now();
    let first = Daemon::galera(1, "");
    let cold_ready = spawn.elapsed();
    let (_, cold_verdict) = first.wait_check(Duration::from_secs(5), "200", |a| a.status == 200);
    let port = first.addr().port();

    // Dropping it is what systemd's stop does: SIGTERM, wait for the exit (SIGKILL only after
    // 5 s, which the bound below would catch).
    let fault = Instant::now();
    drop(first);
    let stopped = fault.elapsed();
    assert!(
        stopped < Duration::from_secs(5),
        "no exit on SIGTERM: {stopped:?}"
    );
    let config = format!(
        "[listen]\ncheck = \"127.0.0.1:{port}\"\n{}",
        galera_section(1, "")
    );
    let second = Daemon::start(&config);
    let listening = fault.elapsed();
    assert_eq!(second.addr().port(), port);
    // Everything answered from the moment it listens, until the real verdict.
    let mut answers: Vec<(Duration, u16, String)> = Vec::new();
    let verdict = loop {
        let answer = second.check();
        answers.push((
            fault.elapsed(),
            answer.status,
            answer.body.trim_end().to_owned(),
        ));
        if answer.status == 200 {
            break answer;
        }
        assert!(
            answer.body.contains("no poll has completed yet"),
            "a verdict other than 'not polled yet' before the first 200: {answers:?}"
        );
        assert!(
            fault.elapsed() < Duration::from_secs(10),
            "no 200 within 10 s of the restart: {answers:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = fault.elapsed();
    let first_answer = Answer {
        status: answers[0].1,
        head: String::new(),
        body: answers[0].2.clone(),
        elapsed: Duration::ZERO,
    };
    record(
        "clustercheckd restarted: first answer once listening",
        "/",
        &first_answer,
        "SIGTERM to the old daemon",
        answers[0].0,
    );
    record(
        "clustercheckd restarted: first real verdict",
        "/",
        &verdict,
        "SIGTERM to the old daemon",
        took,
    );
    eprintln!(
        "cold start: ready {cold_ready:?}, 200 {:?}; restart: old exited {stopped:?}, new listening {listening:?}, 200 {took:?}; answers: {answers:?}",
        cold_ready + cold_verdict
    );
    // Interval 1 s: the first poll runs at start, so the real verdict follows within one.
    assert!(
        took - listening < Duration::from_secs(2),
        "{:?} between listening and the real verdict",
        took - listening
    );
}

// --- MariaDB's extra_port: the way in when max_connections is exhausted -------------------------

/// A free TCP port on 127.0.0.1 (bound, read, released: a server started right after takes it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A scratch MariaDB (not Galera: the sandbox nodes' my.cnf are shared and extra_port is not
/// dynamic) with `extra_port`, stopped and removed when dropped.
struct ScratchMariadb {
    dir: std::path::PathBuf,
    child: Child,
    port: u16,
    extra_port: u16,
}

impl ScratchMariadb {
    fn start() -> ScratchMariadb {
        // Under /var/tmp and owned by mysql: mariadbd drops to that user.
        let dir = sandbox_dir().join(format!("faults-extra-port-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("scratch dir");
        common::stdout_of(
            Command::new("chown").args(["-R", "mysql:mysql"]).arg(&dir),
            "chown",
        );
        common::stdout_of(
            Command::new("mariadb-install-db")
                .arg("--no-defaults")
                .arg(format!("--datadir={}", dir.join("data").display()))
                .args([
                    "--user=mysql",
                    "--skip-test-db",
                    "--auth-root-authentication-method=socket",
                ]),
            "mariadb-install-db",
        );
        let (port, extra_port) = (free_port(), free_port());
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .args([
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .args(["--innodb-buffer-pool-size=16M", "--max-connections=10"])
            .arg(format!("--port={port}"))
            .arg(format!("--extra-port={extra_port}"))
            .arg("--extra-max-connections=2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let server = ScratchMariadb {
            dir,
            child,
            port,
            extra_port,
        };
        let start = Instant::now();
        while server.sql("SELECT 1").is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "scratch mariadbd did not answer in 30 s: {}",
                std::fs::read_to_string(server.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.join("mysqld.sock")
    }

    fn sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "--protocol=socket", "-S"])
            .arg(self.socket())
            .args(["-u", "root", "-N", "-B", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for ScratchMariadb {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What docs/reliability.md says about extra_port, shown on a real server: with max_connections
/// exhausted, a daemon pointed at the normal port gets "Too many connections", one pointed at
/// `extra_port` reaches the server and gets its answer (here the server is not a Galera node, so
/// that answer is about wsrep, not about connections).
#[test]
fn extra_port_lets_a_new_daemon_in_when_max_connections_is_exhausted() {
    let server = ScratchMariadb::start();
    let (user, password) = (&env()["GALERA_CHECK_USER"], &env()["GALERA_CHECK_PASSWORD"]);
    server
        .sql(&format!(
            "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; \
             GRANT PROCESS ON *.* TO '{user}'@'127.0.0.1'"
        ))
        .expect("the check user");
    let _close = Restore::new(close_fillers);
    let refusal = loop {
        match open_filler_on(&server.socket()) {
            Ok(child) => FILLERS.with(|f| f.borrow_mut().push(child)),
            Err(error) => break error,
        }
        assert!(fillers() < 64, "64 idle connections and still not full");
    };
    assert!(refusal.contains("Too many connections"), "{refusal}");
    let tcp = |port: u16| {
        format!(
            "[galera]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\n\
             password = \"{password}\"\ninterval = \"1s\"\ntimeout = \"1s\"\n"
        )
    };
    let main_port = Daemon::start(&tcp(server.port));
    let (answer, _) = main_port.wait_check(Duration::from_secs(5), "1040", |a| {
        a.body.contains("Too many connections")
    });
    assert_eq!(answer.status, 503);
    let extra = Daemon::start(&tcp(server.extra_port));
    let (answer, _) = extra.wait_check(Duration::from_secs(5), "the server's own answer", |a| {
        !a.body.contains("no poll has completed yet")
    });
    // The poll got in and read SHOW STATUS: a plain MariaDB has no wsrep_local_state.
    assert!(
        answer.body.contains("wsrep_local_state is missing"),
        "{}",
        answer.body
    );
    eprintln!(
        "through extra_port: {} {}",
        answer.status,
        answer.body.trim_end()
    );
}
