//! `clustercheckd recover` on the real sandbox: the whole Galera cluster goes down, the advisor
//! reads the three daemons' /status pages (galera.data_dir set), and its advice, followed, brings
//! the cluster back.
//!
//! - Clean stop, one node after the other: while one node still runs it refuses (one line, that
//!   node); once all are down it names the last one stopped (safe_to_bootstrap 1, no edit).
//! - SIGKILL of all three right after a committed write: seqnos are -1, it says so and asks for
//!   `--wsrep-recover`; run on each node (with that node's defaults file), the positions name the
//!   most advanced node; bootstrapping it (after the one printed edit) and starting the others
//!   keeps the row on every node, and no joiner has to throw its data away.
//!
//! - Over https with basic auth, as in a deployment whose daemons keep their pages behind the web
//!   config: `recover -c` reads this node's own metrics listener, its `[peers]` and a `--peer
//!   https://` URL with `[peers]`' CA and credentials, and answers exactly as over plain http (the
//!   clean-stop advice, and, without stopping anything, the refusal while all three run: one
//!   line per node, named from its page, which proves every page was read). A wrong password or
//!   a CA that did not sign the certificates: one refusal line per node, naming it and the cause.
//!
//! The first two hold the Galera lock for the whole run and bring the cluster back to three
//! Synced nodes in a Restore guard, also when an assertion fails; the https one only reads (it
//! holds the lock so nobody stops a node under it). Each test prints how long it took.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{
    closed_port, env, galera_heal, galera_section, galera_sql, lock, repo, Daemon, Restore,
};

const NODES: [u8; 3] = [1, 2, 3];

fn node_dir(n: u8) -> String {
    format!("{}/galera/node{n}", env()["SANDBOX_DIR"])
}

fn data_dir(n: u8) -> String {
    format!("{}/data", node_dir(n))
}

/// `key:` from grastate.dat, read here independently of the daemon's parser.
fn grastate(n: u8, key: &str) -> String {
    let path = format!("{}/grastate.dat", data_dir(n));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key}: in {path}:\n{text}"))
}

/// The daemon of node `n` (named `nodeN`, reading its state files) and a config file naming the
/// same listener, for `recover -c`.
struct Watched {
    daemon: Daemon,
    config: tempfile::NamedTempFile,
}

/// Node `n`'s `[galera]` section: the sandbox node, reading its state files.
fn watched_section(n: u8) -> String {
    galera_section(n, &format!("data_dir = \"{}\"", data_dir(n)))
}

fn watch(n: u8) -> Watched {
    let section = watched_section(n);
    let daemon = Daemon::start(&format!(
        "node_name = \"node{n}\"\n[listen]\ncheck = \"127.0.0.1:0\"\n{section}"
    ));
    let config = tempfile::NamedTempFile::new().expect("temp config");
    std::fs::write(
        config.path(),
        format!(
            "node_name = \"node{n}\"\n[listen]\ncheck = \"{}\"\n{section}",
            daemon.check
        ),
    )
    .expect("write config");
    Watched { daemon, config }
}

fn url(w: &Watched) -> String {
    format!("http://{}", w.daemon.check)
}

fn mysqld(w: &Watched) -> String {
    let page: serde_json::Value =
        serde_json::from_str(&w.daemon.get("/status").body).expect("/status is JSON");
    page["galera"]["mysqld"].as_str().unwrap_or("").to_owned()
}

/// Wait until node `n`'s daemon says `want` for mysqld.
fn wait_mysqld(w: &Watched, n: u8, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = mysqld(w);
        if seen == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node{n}'s daemon: mysqld {seen:?}, not {want:?}, after 20 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `clustercheckd recover -c <node `me`'s config> --peer <the others> EXTRA...`: the way an
/// operator runs it on one node.
fn recover(nodes: &[Watched], me: usize, extra: &[&str]) -> Run {
    let others: Vec<String> = (0..nodes.len())
        .filter(|&i| i != me)
        .map(|i| url(&nodes[i]))
        .collect();
    run_recover(Some(nodes[me].config.path()), &others, extra)
}

/// `clustercheckd recover [-c CONFIG] --peer URL... EXTRA...`.
fn run_recover(config: Option<&Path>, peers: &[String], extra: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clustercheckd"));
    command.arg("recover");
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    for peer in peers {
        command.args(["--peer", peer]);
    }
    let output = command
        .args(extra)
        .env_remove("RUST_LOG")
        .output()
        .expect("run clustercheckd recover");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The user the daemons' web configs let in, as their `[peers]` sections name it.
const PEER_USER: &str = "peer";
const PEER_PASSWORD: &str = "recover-peer-pw";

/// The three nodes' daemons again, with their pages behind a web config on the metrics listener
/// (TLS from a test CA, basic auth for [`PEER_USER`]), as in a deployment whose daemons read
/// each other over https; their check listeners serve no page.
struct Tls {
    pki: Pki,
    web: PathBuf,
    daemons: Vec<Daemon>,
}

impl Tls {
    fn start() -> Tls {
        let pki = Pki::new();
        let web = pki.web_config(PEER_USER, PEER_PASSWORD);
        let daemons = NODES
            .into_iter()
            .map(|n| {
                Daemon::start_with_args(
                    &format!(
                        "node_name = \"node{n}\"\n[listen]\ncheck = \"127.0.0.1:0\"\n\
                         metrics = \"127.0.0.1:0\"\n{}",
                        watched_section(n)
                    ),
                    &[OsStr::new("--web.config.file"), web.as_os_str()],
                )
            })
            .collect();
        Tls { pki, web, daemons }
    }

    fn url(&self, i: usize) -> String {
        let metrics = self.daemons[i].metrics.expect("a metrics listener");
        format!("https://{metrics}/status")
    }

    /// `recover -c` as on node `me`: its config names its metrics listener and web config (it
    /// reads itself there), the next node in `[peers]` with `ca`'s CA and `password`, and the
    /// last one only with `--peer` (a URL named on the command line).
    fn recover(&self, me: usize, ca: &Pki, password: &str) -> Run {
        let others: Vec<usize> = (0..NODES.len()).filter(|&i| i != me).collect();
        let d = &self.daemons[me];
        let config = tempfile::NamedTempFile::new().expect("temp config");
        std::fs::write(
            config.path(),
            format!(
                "node_name = \"node{}\"\n[listen]\ncheck = \"{}\"\nmetrics = \"{}\"\n\
                 web_config_file = \"{}\"\n{}{}",
                NODES[me],
                d.check,
                d.metrics.expect("a metrics listener"),
                self.web.display(),
                watched_section(NODES[me]),
                ca.peers_section(&[self.url(others[0])], PEER_USER, password)
            ),
        )
        .expect("write config");
        run_recover(Some(config.path()), &[self.url(others[1])], &[])
    }

    /// Assert that reading the pages over https with the right CA and password gives `plain`'s
    /// answer, byte for byte once each URL is replaced by its node's name; the daemons poll every
    /// second, so their pages may lag the plain ones briefly.
    fn assert_same_answer(&self, plain: &Run, plain_urls: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let expected = normalized(plain, plain_urls);
        let urls: Vec<String> = (0..NODES.len()).map(|i| self.url(i)).collect();
        loop {
            let run = self.recover(0, &self.pki, PEER_PASSWORD);
            let got = normalized(&run, &urls);
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "over https:\n{got}\nover plain http:\n{expected}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// A run with each URL replaced by `<nodeN>` (`urls[i]` is node i+1's).
fn normalized(run: &Run, urls: &[String]) -> String {
    let mut text = run.to_string();
    for (url, n) in urls.iter().zip(NODES) {
        text = text.replace(url.as_str(), &format!("<node{n}>"));
    }
    text
}

/// `scripts/sandbox.sh ARGS`, which must succeed; its log (stderr) is returned, for what it did.
fn sandbox_log(args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(repo().join("scripts/sandbox.sh"))
        .args(args)
        .output()
        .expect("run scripts/sandbox.sh");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "scripts/sandbox.sh {} failed:\n{stderr}",
        args.join(" ")
    );
    stderr
}

/// The node the advice names: `Bootstrap nodeN: ...`.
fn advised(run: &Run) -> u8 {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Bootstrap node"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `Bootstrap nodeN:` line:\n{run}"))
}

/// Follow the advice in the sandbox: the printed `sed` line, verbatim, if there is one; then the
/// advised node bootstraps (the sandbox starts it with --wsrep-new-cluster, its `galera start`
/// when no node runs) and the others join one at a time, each Synced before the next. Returns
/// what the sandbox logged, to check no joiner had to discard its data.
fn follow(run: &Run, chosen: u8) -> String {
    if let Some(sed) = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("sed -i"))
    {
        let status = Command::new("sh")
            .args(["-c", sed.trim()])
            .status()
            .expect("run the printed sed");
        assert!(status.success(), "{sed}");
        assert_eq!(
            grastate(chosen, "safe_to_bootstrap"),
            "1",
            "the printed edit sets the flag"
        );
    }
    let mut log = sandbox_log(&["galera", "start", &chosen.to_string()]);
    assert!(
        log.contains(&format!("node{chosen} bootstraps a new cluster")),
        "{log}"
    );
    for n in NODES.into_iter().filter(|&n| n != chosen) {
        log.push_str(&sandbox_log(&["galera", "start", &n.to_string()]));
    }
    sandbox_log(&["galera", "wait_cluster_size", "1", "3", "60"]);
    for n in NODES {
        sandbox_log(&["galera", "wait_synced", &n.to_string(), "60"]);
    }
    log
}

fn heal_guard() -> Restore {
    Restore::new(|| {
        // `up` bootstraps a fully stopped cluster by its own rules and rejoins the rest.
        galera_heal();
    })
}

#[test]
fn clean_stop_names_the_last_node_stopped_and_refuses_while_one_runs() {
    let _lock = lock("galera");
    let started = Instant::now();
    galera_heal();
    let nodes: Vec<Watched> = NODES.into_iter().map(watch).collect();
    let tls = Tls::start();
    for (w, n) in nodes.iter().zip(NODES) {
        wait_mysqld(w, n, "running");
    }
    let _restore = heal_guard();

    // Stopped in the order 3, 1, 2: node2 leaves last and is the one to bootstrap.
    for n in [3u8, 1] {
        sandbox_log(&["galera", "stop", &n.to_string()]);
    }
    for n in [3u8, 1] {
        wait_mysqld(&nodes[usize::from(n) - 1], n, "down");
    }
    // node2 still runs: no advice, one line, naming it.
    let run = recover(&nodes, 0, &[]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.stderr
            .starts_with("clustercheckd recover: refused: node2 (http://")
            && run.stderr.contains("mysqld is running"),
        "{run}"
    );
    assert!(!run.stdout.contains("Bootstrap"), "{run}");

    sandbox_log(&["galera", "stop", "2"]);
    wait_mysqld(&nodes[1], 2, "down");
    let seqnos: Vec<i64> = NODES
        .into_iter()
        .map(|n| grastate(n, "seqno").parse().expect("seqno"))
        .collect();
    assert_eq!(grastate(2, "safe_to_bootstrap"), "1");
    assert!(
        seqnos.iter().all(|&s| s >= 0 && s <= seqnos[1]),
        "{seqnos:?}"
    );

    // A node whose daemon does not answer: refused too, whatever the others say.
    let closed = closed_port();
    let silent = format!("http://127.0.0.1:{}", closed.port);
    let run = recover(&nodes, 0, &["--peer", &silent]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(run.stderr.contains("did not report"), "{run}");

    // All down, cleanly: node2, with no edit, asked from any node.
    for me in [0, 2] {
        let run = recover(&nodes, me, &[]);
        assert_eq!(run.code, 0, "{run}");
        assert_eq!(advised(&run), 2, "{run}");
        assert!(run.stdout.contains("safe_to_bootstrap 1"), "{run}");
        assert!(!run.stdout.contains("sed -i"), "no edit is needed: {run}");
        assert!(run.stdout.contains("galera_new_cluster"), "{run}");
        assert!(run.stderr.is_empty(), "{run}");
    }
    let run = recover(&nodes, 0, &[]);
    println!("{run}");
    // The same advice from pages behind TLS and basic auth.
    let plain_urls: Vec<String> = nodes.iter().map(|w| format!("{}/status", url(w))).collect();
    tls.assert_same_answer(&run, &plain_urls);
    let log = follow(&run, 2);
    assert!(!log.contains("discarding its state"), "{log}");
    for (w, n) in nodes.iter().zip(NODES) {
        wait_mysqld(w, n, "running");
    }
    println!(
        "clean-stop recovery test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn after_a_crash_recovered_positions_name_the_node_and_the_last_write_survives() {
    let _lock = lock("galera");
    let started = Instant::now();
    galera_heal();
    let nodes: Vec<Watched> = NODES.into_iter().map(watch).collect();
    for (w, n) in nodes.iter().zip(NODES) {
        wait_mysqld(w, n, "running");
    }
    let token = format!(
        "recover-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let committed: i64 = galera_sql(
        1,
        &format!(
            "CREATE DATABASE IF NOT EXISTS clustercheckd_recover_test; \
             CREATE TABLE IF NOT EXISTS clustercheckd_recover_test.rows \
             (id VARCHAR(80) PRIMARY KEY); \
             INSERT INTO clustercheckd_recover_test.rows VALUES ('{token}'); \
             SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'"
        ),
    )
    .split_whitespace()
    .last()
    .and_then(|v| v.parse().ok())
    .expect("wsrep_last_committed");

    let _restore = heal_guard();
    // Right after the commit, all three at once (well within evs.suspect_timeout: none of them
    // sees the others go, so all keep the same saved view).
    let kill = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "s={}; \"$s\" galera kill 1 && \"$s\" galera kill 2 && \"$s\" galera kill 3",
            repo().join("scripts/sandbox.sh").display()
        ))
        .output()
        .expect("kill the nodes");
    assert!(kill.status.success(), "{kill:?}");
    for (w, n) in nodes.iter().zip(NODES) {
        wait_mysqld(w, n, "down");
        assert_eq!(grastate(n, "seqno"), "-1", "node{n} crashed");
    }

    // No position known: the advice says so and asks for --wsrep-recover, bootstraps nothing.
    let run = recover(&nodes, 0, &[]);
    println!("{run}");
    assert_eq!(run.code, 3, "{run}");
    assert!(
        run.stdout
            .contains("Crash: seqno -1 on node1, node2, node3"),
        "{run}"
    );
    assert!(run.stdout.contains("--wsrep-recover"), "{run}");
    assert!(!run.stdout.contains("Bootstrap node"), "{run}");
    assert!(!run.stdout.contains("sed -i"), "{run}");
    // The three went down together, each in the same Primary view: pc.recovery is offered.
    assert!(run.stdout.contains("(pc.recovery)"), "{run}");

    // On each node, with that node's defaults file: its recovered position.
    let mut positions = Vec::new();
    let recovering = Instant::now();
    for (i, n) in NODES.into_iter().enumerate() {
        let cnf = format!("{}/my.cnf", node_dir(n));
        let run = recover(
            &nodes,
            i,
            &[
                "--wsrep-recover",
                "--mysqld",
                "mariadbd",
                "--defaults-file",
                &cnf,
            ],
        );
        let flag = run
            .stdout
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("(on the node where you run the advice, pass: ")
            })
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("node{n}: no recovered position:\n{run}"))
            .to_owned();
        let value = flag
            .strip_prefix(&format!("--position node{n}="))
            .unwrap_or_else(|| panic!("{flag}"));
        let seqno: i64 = value
            .rsplit_once(':')
            .and_then(|(_, s)| s.parse().ok())
            .unwrap_or_else(|| panic!("{value}"));
        // Only this node's position is known; the others still crashed.
        assert_eq!(run.code, 3, "{run}");
        positions.push((n, value.to_owned(), seqno));
    }
    let recover_secs = recovering.elapsed().as_secs_f64();
    println!("recovered: {positions:?} in {recover_secs:.1} s; committed {committed}");
    let best = positions.iter().map(|p| p.2).max().unwrap_or(-1);
    assert!(
        best >= committed,
        "the write committed at {committed} is in some node's InnoDB: {positions:?}"
    );

    let mut args = Vec::new();
    for (n, value, _) in &positions {
        args.push("--position".to_owned());
        args.push(format!("node{n}={value}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = recover(&nodes, 1, &args);
    println!("{run}");
    assert_eq!(run.code, 0, "{run}");
    let chosen = advised(&run);
    let chosen_seqno = positions
        .iter()
        .find(|p| p.0 == chosen)
        .map(|p| p.2)
        .expect("the advised node is one of ours");
    assert_eq!(chosen_seqno, best, "{run}");
    assert!(run.stdout.contains("highest recovered seqno"), "{run}");
    // The edit is printed for the chosen node only, on its own data directory.
    let sed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("sed -i"))
        .collect();
    assert_eq!(
        sed,
        [format!(
            "    sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' {}/grastate.dat",
            data_dir(chosen)
        )],
        "{run}"
    );

    let log = follow(&run, chosen);
    // A joiner ahead of the bootstrapped node would have to discard its data (full SST): the
    // advised node was the most advanced, so none is.
    assert!(!log.contains("discarding its state"), "{log}");
    for n in NODES {
        let found = galera_sql(
            n,
            &format!("SELECT id FROM clustercheckd_recover_test.rows WHERE id = '{token}'"),
        );
        assert_eq!(
            found.trim(),
            token,
            "node{n} has the row written before the crash"
        );
    }
    galera_sql(1, "DROP DATABASE clustercheckd_recover_test");
    println!(
        "crash recovery test: {:.1} s (of which --wsrep-recover x3: {recover_secs:.1} s)",
        started.elapsed().as_secs_f64()
    );
}

/// Pages behind the web config (https, basic auth), read with `[peers]`' CA and credentials:
/// the same answer as over plain http. Nothing is stopped: while all three nodes run, recover
/// refuses with one line per node naming it from its own page ("nodeN (URL): mysqld is
/// running"), which it can only do having read all three. A wrong password, or a CA that did not
/// sign the certificates: one line per node naming its URL and the cause, exit 1.
#[test]
fn https_pages_with_basic_auth_give_the_same_answer() {
    let waited = Instant::now();
    let _lock = lock("galera");
    let started = Instant::now();
    println!(
        "waited {:.1} s for the Galera lock",
        waited.elapsed().as_secs_f64()
    );
    let nodes: Vec<Watched> = NODES.into_iter().map(watch).collect();
    let tls = Tls::start();
    for (w, n) in nodes.iter().zip(NODES) {
        wait_mysqld(w, n, "running");
    }
    let plain = recover(&nodes, 0, &[]);
    assert_eq!(plain.code, 1, "{plain}");
    assert_eq!(plain.stderr.lines().count(), 3, "{plain}");
    for (line, n) in plain.stderr.lines().zip(NODES) {
        assert!(
            line.starts_with(&format!("clustercheckd recover: refused: node{n} (http://"))
                && line.contains("mysqld is running"),
            "{plain}"
        );
    }
    let plain_urls: Vec<String> = nodes.iter().map(|w| format!("{}/status", url(w))).collect();
    tls.assert_same_answer(&plain, &plain_urls);

    let refusals = |run: &Run, cause: &str| {
        assert_eq!(run.code, 1, "{run}");
        assert_eq!(run.stderr.lines().count(), 3, "{run}");
        for i in 0..NODES.len() {
            let url = tls.url(i);
            let line = run
                .stderr
                .lines()
                .find(|l| l.contains(&url))
                .unwrap_or_else(|| panic!("no line names {url}:\n{run}"));
            assert!(
                line.starts_with(&format!(
                    "clustercheckd recover: refused: {url}: its clustercheckd did not report ("
                )) && line.contains(cause),
                "{run}"
            );
        }
        assert!(!run.stdout.contains("Bootstrap"), "{run}");
    };
    let run = tls.recover(0, &tls.pki, "wrong-pw");
    refusals(&run, "(answered HTTP 401)");
    assert!(!run.to_string().contains("wrong-pw"), "{run}");
    let other_ca = Pki::new();
    let run = tls.recover(1, &other_ca, PEER_PASSWORD);
    refusals(&run, "invalid peer certificate");

    // Without -c there is no CA to trust: a usage error before any page is asked.
    let run = run_recover(None, &[tls.url(0)], &["--self", &tls.url(1)]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("[peers] ca_file"), "{run}");
    println!(
        "recover over https test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Without any daemon answering (closed ports), recover refuses with one line per silent node
/// and exit 1: it never panics building its HTTP client or reading nothing.
#[test]
fn silent_daemons_are_a_refusal_not_a_crash() {
    let (first, second) = (closed_port(), closed_port());
    let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("recover")
        .args(["--peer", &format!("http://127.0.0.1:{}", first.port)])
        .args(["--self", &format!("http://127.0.0.1:{}", second.port)])
        .env_remove("RUST_LOG")
        .output()
        .expect("run clustercheckd recover");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let text = format!("{stdout}{stderr}");
    assert!(text.contains("did not report"), "{text}");
}
