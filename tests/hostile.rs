//! Checks survive hostile clients, inside the limits the shipped systemd unit sets
//! (LimitNOFILE=4096, MemoryMax=64M): the daemon runs under `prlimit --nofile=4096`, thousands of
//! slow, idle or malformed connections come from one loopback address (127.0.0.1), and
//! well-formed checks from another (127.0.0.2) must all be answered, the slowest within 1 s, with
//! the daemon's RSS under 48 MiB.
//!
//! The attack is bounded in count and time and stays on loopback. No cluster is needed: the
//! daemon's Galera check is disabled, so every answer is an immediate 503 with a body — what is
//! measured is the HTTP side, which is what a hostile client can reach.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Daemon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The check port's limit on one process's descriptors, as in config/clustercheckd.service.
const DAEMON_NOFILE: &str = "--nofile=4096";
const MAX_RSS_KIB: u64 = 48 * 1024;
const SLOWEST_CHECK: Duration = Duration::from_secs(1);
/// Checks sent during each attack, one every CHECK_SPACING.
const CHECKS: usize = 30;
const CHECK_SPACING: Duration = Duration::from_millis(150);

#[derive(Debug, Clone, Copy)]
enum Attack {
    /// A partial request head, then one header line every 0.5 s; reconnect when closed.
    Slowloris,
    /// Connect and send nothing; reconnect when closed.
    Idle,
    /// Each connection: random-looking garbage, an oversized head, a request with a large
    /// body, or a request followed by a half-close, in turn.
    Malformed,
}

fn daemon() -> Daemon {
    Daemon::start_wrapped("[galera]\nenabled = false\n", &["prlimit", DAEMON_NOFILE])
}

/// Raise this test process's own descriptor limit: thousands of attacking sockets live here.
fn raise_own_nofile() {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=16384:16384"])
        .status()
        .expect("prlimit (util-linux)");
    assert!(
        status.success(),
        "prlimit could not raise our own descriptor limit"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn attacker(
    target: SocketAddr,
    attack: Attack,
    id: usize,
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicU64>,
) {
    let mut round = id;
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(target)).await
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        match attack {
            Attack::Slowloris => {
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        },
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {
                            if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
            Attack::Idle => {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        read = stream.read(&mut buf) => match read {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        },
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
            Attack::Malformed => {
                let payload: Vec<u8> = match round % 4 {
                    0 => (0..4096u32)
                        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                        .collect(),
                    1 => {
                        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
                        head.extend(std::iter::repeat_n(b'a', 256 * 1024));
                        head.extend(b"\r\n\r\n");
                        head
                    }
                    2 => {
                        let mut request =
                            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"
                                .to_vec();
                        request.extend(std::iter::repeat_n(b'b', 64 * 1024));
                        request
                    }
                    _ => b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&payload).await;
                let _ = stream.shutdown().await; // half-close: we still read the answer
                let mut sink = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut sink))
                    .await;
            }
        }
        round += 1;
        // Reconnect at once, as an attacker would, but yield so the test's own checks run.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One well-formed check from 127.0.0.2: its latency, or why it failed.
async fn check_from_other_address(target: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(3), async {
        let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
            .map_err(|e| e.to_string())?;
        let mut stream = socket.connect(target).await.map_err(|e| e.to_string())?;
        stream
            .write_all(b"OPTIONS / HTTP/1.0\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .map_err(|_| "no answer within 3 s".to_owned())??;
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    if status == "200" || status == "503" {
        Ok(started.elapsed())
    } else {
        Err(format!("unexpected answer: {:.80}", answer))
    }
}

fn survive(attack: Attack, connections: usize) {
    // One attack at a time: they would measure each other otherwise.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    raise_own_nofile();
    let daemon = daemon();
    let target = daemon.addr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let (latencies, failures, peak_rss) = runtime.block_on(async {
        let attackers: Vec<_> = (0..connections)
            .map(|id| tokio::spawn(attacker(target, attack, id, stop.clone(), opened.clone())))
            .collect();
        // Let the attack build up before measuring: every attacker connected at least once.
        let deadline = Instant::now() + Duration::from_secs(20);
        while opened.load(Ordering::Relaxed) < connections as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut latencies = Vec::new();
        let mut failures = Vec::new();
        let mut peak_rss = 0;
        for _ in 0..CHECKS {
            match check_from_other_address(target).await {
                Ok(latency) => latencies.push(latency),
                Err(error) => failures.push(error),
            }
            peak_rss = peak_rss.max(rss_kib(daemon.pid()));
            tokio::time::sleep(CHECK_SPACING).await;
        }
        stop.store(true, Ordering::Relaxed);
        for task in attackers {
            task.abort();
        }
        (latencies, failures, peak_rss)
    });
    // Close every attacking socket before the last check below (it comes from 127.0.0.1 too).
    drop(runtime);
    let opened = opened.load(Ordering::Relaxed);
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    let summary = format!(
        "{attack:?} x{connections}: {} checks answered, {} failed {failures:?}, slowest {:.1} ms, \
         attacker connections opened {opened}, daemon peak RSS {} KiB",
        latencies.len(),
        failures.len(),
        slowest.as_secs_f64() * 1000.0,
        peak_rss
    );
    eprintln!("{summary}");
    assert!(
        opened >= connections as u64,
        "the attack never reached {connections} connections: {summary}"
    );
    assert!(failures.is_empty(), "checks failed under attack: {summary}");
    assert!(slowest < SLOWEST_CHECK, "a check took too long: {summary}");
    assert!(
        peak_rss > 0 && peak_rss < MAX_RSS_KIB,
        "daemon memory: {summary}"
    );
    // The attacking address is not shut out for good: once its connections are gone (the
    // daemon notices within header_read_timeout), it is served again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = std::panic::catch_unwind(|| common::request(target, "GET / HTTP/1.0\r\n\r\n"))
            .map(|answer| answer.status == 503)
            .unwrap_or(false);
        if served {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "127.0.0.1 was still refused 10 s after the attack: {summary}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        daemon.log_text().contains("over its connection limit"),
        "the daemon did not say it shed connections:\n{}",
        daemon.log_text()
    );
}

#[test]
fn checks_survive_1000_slowloris_clients_from_one_address() {
    survive(Attack::Slowloris, 1000);
}

#[test]
fn checks_survive_5000_slowloris_clients_from_one_address() {
    survive(Attack::Slowloris, 5000);
}

#[test]
fn checks_survive_5000_idle_clients_from_one_address() {
    survive(Attack::Idle, 5000);
}

#[test]
fn checks_survive_garbage_oversized_heads_bodies_and_half_closes() {
    survive(Attack::Malformed, 1000);
}
