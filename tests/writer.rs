//! `/writer` on the real 3-node Galera sandbox: three daemons with `[writer]`, one per node, while
//! the test churns the writer's node (desync, SIGKILL and restart of mysqld, SIGSTOP/SIGCONT of
//! mysqld, a restart of its daemon, a frozen daemon, its lease row locked) and a sampler thread GETs all three /writer
//! every 50 ms through the whole run.
//!
//! Safety: never two 200s in one sample round, and between one node's last 200 and another
//! node's first 200 at least HAProxy's `inter x (fall + 1)` (the handover gap's purpose: no
//! HAProxy still routes to the old writer). Liveness: after the writer's node fails, another node
//! answers 200 within 10 s. No take-back: a returning former writer leaves the role where it is.
//! On failure the whole timeline (every round and every event) is printed.
//!
//! Holds the Galera lock throughout and heals the cluster (and resumes anything frozen) when done,
//! even on panic.
//!
//! `each_lease_row_is_an_independent_lease`: `writer.lease_row` separates leases on one cluster
//! (the sandbox's demo daemons hold row 2 while the tests use row 1).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{galera_heal, lock, sandbox, Daemon, Restore};

/// The test's timing (docs/writer.md): lease 2.5 s, margin 0.5 s, renewals every 0.4 s, HAProxy
/// `inter 400ms fall 2` (1.2 s), handover gap 1.5 s.
const HAPROXY_DELAY: Duration = Duration::from_millis(1200);
const LIVENESS: Duration = Duration::from_secs(10);
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// Daemon `n`'s config; its maintenance file is its own, in `dir` (never created): the default
/// path is shared by everything on this host, and a file left there would disable all three.
fn writer_toml(n: u8, dir: &std::path::Path) -> String {
    writer_toml_with(n, dir, "1s", "")
}

/// [`writer_toml`] with the Galera poll `interval` and `haproxy_extra` lines in `[haproxy]`.
fn writer_toml_with(n: u8, dir: &std::path::Path, interval: &str, haproxy_extra: &str) -> String {
    let maintenance = dir.join(format!("node{n}.disabled"));
    format!(
        "{}\n{}",
        common::galera_toml(
            &common::galera_defaults_file(n),
            interval,
            &format!("maintenance_file = \"{}\"", maintenance.display())
        ),
        common::fast_writer_section_with(n, haproxy_extra)
    )
}

/// Heal the cluster now, and again (every desync off first) when the returned guard drops, even
/// on panic.
fn healed_now_and_after() -> Restore {
    let heal = Restore::new(|| {
        for n in ["1", "2", "3"] {
            let _ = std::process::Command::new("bash")
                .arg(common::repo().join("scripts/sandbox.sh"))
                .args(["galera", "desync", n, "off"])
                .output();
        }
        galera_heal();
    });
    galera_heal();
    heal
}

/// One sample round: when (since the start) and each daemon's status code on `/writer` and on
/// `/writer/backup`, with the latter's reason (0 and "": no answer).
#[derive(Debug, Clone)]
struct Round {
    at: Duration,
    codes: [u16; 3],
    backup: [u16; 3],
    backup_reasons: [String; 3],
}

/// The shared record: sample rounds and the test's own events, both timed from `start`.
#[derive(Default)]
struct Timeline {
    rounds: Vec<Round>,
    events: Vec<(Duration, String)>,
}

struct Sampler {
    start: Instant,
    addresses: Arc<Mutex<[SocketAddr; 3]>>,
    timeline: Arc<Mutex<Timeline>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(addresses: [SocketAddr; 3]) -> Sampler {
        let start = Instant::now();
        let addresses = Arc::new(Mutex::new(addresses));
        let timeline = Arc::new(Mutex::new(Timeline::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (addresses, timeline, stop) = (addresses.clone(), timeline.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let targets = *addresses.lock().unwrap();
                    let at = start.elapsed();
                    let codes = targets.map(|a| answer_of(a, "/writer").0);
                    let backups = targets.map(|a| answer_of(a, "/writer/backup"));
                    let round = Round {
                        at,
                        codes,
                        backup: backups.clone().map(|(code, _)| code),
                        backup_reasons: backups.map(|(_, reason)| reason),
                    };
                    timeline.lock().unwrap().rounds.push(round);
                    next += SAMPLE_EVERY;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        };
        Sampler {
            start,
            addresses,
            timeline,
            stop,
            thread: Some(thread),
        }
    }

    fn event(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("[{:7.2} s] {what}", self.start.elapsed().as_secs_f64());
        self.timeline
            .lock()
            .unwrap()
            .events
            .push((self.start.elapsed(), what));
    }

    fn set_address(&self, node: usize, address: SocketAddr) {
        self.addresses.lock().unwrap()[node] = address;
    }

    /// Wait until exactly one node other than `not` answers 200 in a round (and keeps it for
    /// three rounds, so a single lucky round is not taken for a writer); its index and how long.
    fn wait_writer(&self, not: Option<usize>, within: Duration, what: &str) -> (usize, Duration) {
        let since = Instant::now();
        let from = self.start.elapsed();
        loop {
            {
                let timeline = self.timeline.lock().unwrap();
                let recent: Vec<&Round> = timeline
                    .rounds
                    .iter()
                    .rev()
                    .take(3)
                    .filter(|r| r.at >= from)
                    .collect();
                if recent.len() == 3 {
                    let writer = |r: &Round| r.codes.iter().position(|c| *c == 200);
                    let first = writer(recent[0]);
                    if let Some(w) = first {
                        if Some(w) != not && recent.iter().all(|r| writer(r) == first) {
                            drop(timeline);
                            let took = since.elapsed();
                            self.event(format!(
                                "{what}: node{} is the writer after {took:.2?}",
                                w + 1
                            ));
                            return (w, took);
                        }
                    }
                }
            }
            if since.elapsed() > within {
                self.fail(&format!("{what}: no new writer within {within:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// For `during`, no node but `w` answers 200 (a returning former writer does not take the
    /// role back), and `w` is still the writer at the end. (`w` may answer 503 for a moment
    /// meanwhile: a view change can stall its renewals past `lease - margin`.)
    fn hold_writer(&self, w: usize, during: Duration, what: &str) {
        let from = self.start.elapsed();
        std::thread::sleep(during);
        let timeline = self.timeline.lock().unwrap();
        let other = timeline
            .rounds
            .iter()
            .filter(|r| r.at >= from)
            .find(|r| (0..3).any(|i| i != w && r.codes[i] == 200))
            .cloned();
        drop(timeline);
        if let Some(round) = other {
            self.fail(&format!(
                "{what}: the role moved away from node{} at {:.2?}: {:?}",
                w + 1,
                round.at,
                round.codes
            ));
        }
        let (still, _) = self.wait_writer(None, Duration::from_secs(5), what);
        if still != w {
            self.fail(&format!(
                "{what}: node{} took the role from node{}",
                still + 1,
                w + 1
            ));
        }
    }

    /// Wait until a round taken from now on satisfies `done`; every round taken meanwhile.
    fn until(&self, within: Duration, what: &str, done: impl Fn(&Round) -> bool) -> Vec<Round> {
        let from = self.start.elapsed();
        let since = Instant::now();
        loop {
            {
                let timeline = self.timeline.lock().unwrap();
                let rounds: Vec<Round> = timeline
                    .rounds
                    .iter()
                    .filter(|r| r.at >= from)
                    .cloned()
                    .collect();
                if rounds.last().is_some_and(&done) {
                    return rounds;
                }
            }
            if since.elapsed() > within {
                self.fail(&format!("{what}: not within {within:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// The safety invariants over the whole timeline.
    fn check_safety(&self) -> usize {
        let timeline = self.timeline.lock().unwrap();
        let rounds = timeline.rounds.len();
        let mut last_200: Option<(usize, Duration)> = None;
        let mut violation = None;
        for round in &timeline.rounds {
            let writers: Vec<usize> = (0..3).filter(|i| round.codes[*i] == 200).collect();
            if writers.len() > 1 {
                violation = Some(format!(
                    "two 200s in one round at {:.2?}: {:?}",
                    round.at, round.codes
                ));
                break;
            }
            if let Some(&w) = writers.first() {
                if let Some((previous, at)) = last_200 {
                    if previous != w && round.at - at < HAPROXY_DELAY {
                        violation = Some(format!(
                            "node{} answered 200 at {:.2?}, {:.2?} after node{}'s last 200: less \
                             than HAProxy's inter x (fall + 1) = {HAPROXY_DELAY:?}",
                            w + 1,
                            round.at,
                            round.at - at,
                            previous + 1
                        ));
                        break;
                    }
                }
                last_200 = Some((w, round.at));
            }
        }
        drop(timeline);
        if let Some(why) = violation {
            self.fail(&why);
        }
        rounds
    }

    /// Panic with the whole timeline: rounds where the answers changed, and every event.
    fn fail(&self, why: &str) -> ! {
        let timeline = self.timeline.lock().unwrap();
        let mut text = String::new();
        let mut previous = None;
        let mut events = timeline.events.iter().peekable();
        for round in &timeline.rounds {
            while let Some((at, what)) = events.peek() {
                if *at > round.at {
                    break;
                }
                text.push_str(&format!("{:9.3} s  EVENT {what}\n", at.as_secs_f64()));
                events.next();
            }
            if previous != Some((round.codes, round.backup)) {
                text.push_str(&format!(
                    "{:9.3} s  {:?} backup {:?}\n",
                    round.at.as_secs_f64(),
                    round.codes,
                    round.backup
                ));
                previous = Some((round.codes, round.backup));
            }
        }
        for (at, what) in events {
            text.push_str(&format!("{:9.3} s  EVENT {what}\n", at.as_secs_f64()));
        }
        let rounds = timeline.rounds.len();
        // Not poisoned for the sampler thread, which still pushes rounds.
        drop(timeline);
        self.stop.store(true, Ordering::Relaxed);
        panic!("{why}\ntimeline ({rounds} rounds; a line when the answers change):\n{text}");
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// GET `path` with short timeouts: the status code and the body's line; (0, "") when there is
/// no answer (daemon down or frozen).
fn answer_of(address: SocketAddr, path: &str) -> (u16, String) {
    let attempt = || -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_millis(300)))?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response);
        let code = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.trim_end())
            .unwrap_or("");
        Ok((code, body.to_owned()))
    };
    attempt().unwrap_or((0, String::new()))
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status();
}

#[test]
fn one_writer_at_most_under_churn_and_a_new_one_within_10s() {
    let _lock = lock("galera");
    let _heal = healed_now_and_after();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut daemons: Vec<Daemon> = (1..=3)
        .map(|n| Daemon::start(&writer_toml(n, dir.path())))
        .collect();
    let frozen_daemon: Arc<Mutex<Option<u32>>> = Arc::default();
    let _thaw = {
        let frozen = frozen_daemon.clone();
        Restore::new(move || {
            if let Some(pid) = frozen.lock().unwrap().take() {
                signal(pid, "-CONT");
            }
        })
    };
    let mut sampler = Sampler::start([daemons[0].addr(), daemons[1].addr(), daemons[2].addr()]);
    let node = |w: usize| (w + 1).to_string();

    let (w, _) = sampler.wait_writer(None, Duration::from_secs(15), "start");
    let mut liveness = Vec::new();

    // 1. Desync: the writer's Galera verdict turns 503; it releases the lease.
    sampler.event(format!("desync node{} on", w + 1));
    sandbox(&["galera", "desync", &node(w), "on"]);
    let (next, took) = sampler.wait_writer(Some(w), LIVENESS, "after desync");
    liveness.push(("desync", took));
    sampler.event(format!("desync node{} off", w + 1));
    sandbox(&["galera", "desync", &node(w), "off"]);
    sandbox(&["galera", "wait_synced", &node(w), "60"]);
    sampler.hold_writer(next, Duration::from_secs(3), "desynced node back");
    let w = next;

    // 2. SIGKILL mysqld on the writer's node (no release possible: the lease expires), then
    // restart it.
    sampler.event(format!("SIGKILL mysqld node{}", w + 1));
    sandbox(&["galera", "kill", &node(w)]);
    let (next, took) = sampler.wait_writer(Some(w), LIVENESS, "after SIGKILL");
    liveness.push(("SIGKILL mysqld", took));
    // Its state transfer comes from the third node: Galera would otherwise pick the first
    // Synced member, which may be the new writer, whose Donor state rightly ends its role (that
    // is a second handover, not the take-back this step is about).
    let third = 3 - w - next;
    sampler.event(format!(
        "start mysqld node{} (donor node{})",
        w + 1,
        third + 1
    ));
    sandbox(&["galera", "start", &node(w), &node(third)]);
    sandbox(&["galera", "wait_cluster_size", "1", "3", "120"]);
    sampler.hold_writer(next, Duration::from_secs(3), "killed node back");
    let w = next;

    // 3. SIGSTOP mysqld on the writer's node: a hung holder. Its own deadline expires; the
    // others take over once Galera has evicted it and the row has not moved for lease + margin.
    sampler.event(format!("SIGSTOP mysqld node{}", w + 1));
    sandbox(&["galera", "sigstop", &node(w)]);
    let (next, took) = sampler.wait_writer(Some(w), LIVENESS, "after SIGSTOP");
    liveness.push(("SIGSTOP mysqld", took));
    sampler.event(format!("SIGCONT mysqld node{}", w + 1));
    sandbox(&["galera", "sigcont", &node(w)]);
    // Resumed, it claims Synced/Primary for a few seconds before it notices its eviction.
    sampler.hold_writer(next, Duration::from_secs(4), "resumed node");
    galera_heal();
    sampler.event("cluster healed");
    let w = next;

    // 4. Restart the writer's daemon: it releases on SIGTERM; the new one starts as a follower
    // and does not take the role back.
    sampler.event(format!("restart daemon node{}", w + 1));
    let old = daemons.remove(w);
    drop(old);
    let restarted = Daemon::start(&writer_toml(w as u8 + 1, dir.path()));
    sampler.set_address(w, restarted.addr());
    daemons.insert(w, restarted);
    let (next, took) = sampler.wait_writer(Some(w), LIVENESS, "after daemon restart");
    liveness.push(("daemon restart", took));
    sampler.hold_writer(next, Duration::from_secs(3), "restarted daemon");
    let w = next;

    // 5. Freeze the writer's daemon itself (SIGSTOP) past lease + margin: its answers stop; when
    // it resumes, its own deadline has long passed and the row has moved.
    sampler.event(format!("SIGSTOP daemon node{}", w + 1));
    let pid = daemons[w].pid();
    *frozen_daemon.lock().unwrap() = Some(pid);
    signal(pid, "-STOP");
    let (next, took) = sampler.wait_writer(Some(w), LIVENESS, "after daemon freeze");
    liveness.push(("daemon frozen", took));
    sampler.event(format!("SIGCONT daemon node{}", w + 1));
    signal(pid, "-CONT");
    frozen_daemon.lock().unwrap().take();
    sampler.hold_writer(next, Duration::from_secs(3), "resumed daemon");
    let w = next;

    // 6. A hung holder whose Galera node stays healthy: a local transaction holds the lease row's
    // lock on its node, so its renewals hang while its Galera verdict says Synced. Only its own
    // deadline (lease - margin after its last renewal was sent) stops its 200s; the others take
    // over after lease + margin (their update aborts the local lock holder) and wait the gap.
    sampler.event(format!("lock the lease row on node{}", w + 1));
    let locker = std::process::Command::new("bash")
        .arg(common::repo().join("scripts/sandbox.sh"))
        .args([
            "galera",
            "sql",
            &node(w),
            "BEGIN; SELECT * FROM clustercheckd.writer_lease WHERE id = 1 FOR UPDATE; \
             SELECT SLEEP(8); COMMIT",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let (next, took) = sampler.wait_writer(Some(w), LIVENESS, "after row lock");
    liveness.push(("lease row locked", took));
    if let Ok(mut locker) = locker {
        let _ = locker.wait();
    }
    sampler.event("row lock gone");
    sampler.hold_writer(next, Duration::from_secs(2), "row unlocked");

    sampler.stop();
    let rounds = sampler.check_safety();
    eprintln!(
        "safety held over {rounds} rounds ({:.0} s); liveness: {liveness:?}",
        sampler.start.elapsed().as_secs_f64()
    );
    for (what, took) in liveness {
        assert!(took <= LIVENESS, "{what}: {took:?}");
    }
}

/// `/writer/backup`, the check of the writer variant's backup lines: after a handover only the
/// new holder is a backup until HAProxy can have taken it up (`writer.handover_gap + haproxy.inter
/// x (haproxy.rise + 1) + writer.margin`, here 1.5 + 0.4 x 6 + 0.5 = 4.4 s from each daemon's
/// sighting of the new generation), then every healthy node again. The old writer comes back
/// healthy within the handover gap (a desync of about a second, the IST donor case): without the
/// rule its backup line would take new writes beside the coming writer.
#[test]
fn during_a_handover_only_the_new_writer_is_a_backup() {
    const RISE_WAIT: Duration = Duration::from_millis(2400); // inter 400ms x (rise 5 + 1)
    let _lock = lock("galera");
    let _heal = healed_now_and_after();
    let dir = tempfile::tempdir().expect("temp dir");
    let daemons: Vec<Daemon> = (1..=3)
        .map(|n| Daemon::start(&writer_toml_with(n, dir.path(), "250ms", "rise = 5\n")))
        .collect();
    let backups = || -> Vec<u16> {
        daemons
            .iter()
            .map(|d| d.get("/writer/backup").status)
            .collect()
    };
    let w = common::wait_for_writer(&daemons.iter().collect::<Vec<_>>(), Duration::from_secs(15));
    // The start's own acquisition is a handover too: wait until it is over everywhere.
    common::wait_for(
        Duration::from_secs(15),
        "every node a backup",
        backups,
        |codes| codes.iter().all(|c| *c == 200),
    );

    let mut sampler = Sampler::start([daemons[0].addr(), daemons[1].addr(), daemons[2].addr()]);
    let node = |i: usize| (i + 1).to_string();
    sampler.event(format!("desync node{} on", w + 1));
    sandbox(&["galera", "desync", &node(w), "on"]);
    // Back as soon as the lease has moved (before the new holder's gap ends), so the old
    // writer is healthy again while HAProxy has not yet taken the new one up.
    let moved = common::wait_for(
        Duration::from_secs(10),
        "the lease to move",
        || {
            common::galera_sql(
                (w + 1) as u8,
                "SELECT holder FROM clustercheckd.writer_lease WHERE id = 1",
            )
        },
        |holder| !holder.trim().is_empty() && holder.trim() != format!("node{}", w + 1),
    );
    sampler.event(format!(
        "lease moved to {}; desync node{} off",
        moved.trim(),
        w + 1
    ));
    sandbox(&["galera", "desync", &node(w), "off"]);
    let n: usize = moved
        .trim()
        .trim_start_matches("node")
        .parse::<usize>()
        .expect("node name")
        - 1;
    let t = 3 - w - n;
    // Until every node is a backup again (the hold, then one poll).
    let rounds = sampler.until(Duration::from_secs(20), "every node a backup again", |r| {
        r.backup.iter().all(|c| *c == 200) && r.codes[n] == 200
    });
    sampler.stop();
    let first_200 = rounds
        .iter()
        .find(|r| r.codes[n] == 200)
        .map(|r| r.at)
        .unwrap_or_else(|| sampler.fail("the new holder never answered 200 on /writer"));
    // From before the new writer's first 200 until HAProxy can have marked it UP, nobody else is
    // a backup; the new writer is.
    let window = first_200.saturating_sub(Duration::from_millis(500))
        ..first_200 + RISE_WAIT - Duration::from_millis(400);
    for r in rounds.iter().filter(|r| window.contains(&r.at)) {
        if r.backup[n] != 200 || r.backup[w] == 200 || r.backup[t] == 200 {
            sampler.fail(&format!(
                "at {:.2?} (new writer node{} first 200 at {first_200:.2?}): backups {:?}",
                r.at,
                n + 1,
                r.backup
            ));
        }
    }
    // The third node, healthy throughout, said why.
    let said = rounds
        .iter()
        .find(|r| window.contains(&r.at) && r.backup[t] == 503)
        .map(|r| r.backup_reasons[t].clone())
        .unwrap_or_default();
    assert!(
        said.starts_with(&format!(
            "Not a writer backup: node{} took the lease (generation ",
            n + 1
        )),
        "{said}"
    );
    // The old writer was healthy again inside the window: what kept it out was the rule.
    assert!(
        rounds
            .iter()
            .any(|r| window.contains(&r.at) && r.backup_reasons[w].contains("took the lease")),
        "node{} was not back within the window; the test proved nothing",
        w + 1
    );
}

/// Two daemons on the same node, one on row 1 and one on row 3, are each the writer of their own
/// row at once. On one row, with the same node name, they would take the lease from each other
/// (a row naming this node is acquired at once) and never pass the handover gap. A row that
/// does not exist is an error in /status, never a writer.
#[test]
fn each_lease_row_is_an_independent_lease() {
    let _lock = lock("galera");
    galera_heal();
    common::galera_sql(
        1,
        "INSERT IGNORE INTO clustercheckd.writer_lease (id) VALUES (3)",
    );
    let _drop_row = Restore::new(|| {
        let _ = std::process::Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args([
                "galera",
                "sql",
                "1",
                "DELETE FROM clustercheckd.writer_lease WHERE id = 3",
            ])
            .output();
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let on_row = |row: u8| {
        Daemon::start(&format!(
            "{}lease_row = {row}\n",
            writer_toml(1, dir.path())
        ))
    };
    let (one, three, missing) = (on_row(1), on_row(3), on_row(200));
    let both = || [one.get("/writer").status, three.get("/writer").status];
    common::wait_for(Duration::from_secs(15), "both writers", both, |c| {
        *c == [200, 200]
    });
    // And they stay so: nothing takes one row's lease for the other's.
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) {
        assert_eq!(both(), [200, 200], "{}", three.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows = common::galera_sql(
        1,
        "SELECT id, holder FROM clustercheckd.writer_lease WHERE id IN (1, 3) ORDER BY id",
    );
    assert_eq!(rows.trim(), "1\tnode1\n3\tnode1", "{rows}");
    assert_eq!(missing.get("/writer").status, 503);
    let status = missing.get("/status").body;
    assert!(
        status.contains("the lease row (id 200 in clustercheckd.writer_lease) does not exist"),
        "{status}"
    );
}
