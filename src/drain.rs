//! `clustercheckd drain`: take this node out of HAProxy before a planned stop of mysqld, and put
//! it back afterwards.
//!
//! Draining is the maintenance file (`galera.maintenance_file`), nothing else: while it exists the
//! daemon's Galera check answers 503, whoever created it. So an operator's `touch`, this command
//! and the mariadb.service drop-in (config/systemd/mariadb.service.d/clustercheckd-drain.conf)
//! all mean the same, and a restart of clustercheckd itself never drains anything: only this
//! command or a person creates the file.
//!
//! `--wait` makes it a safe pre-stop step: it returns only once HAProxy has had time to mark the
//! node down, so no new client lands on a mysqld that is about to stop. That time is first the
//! daemon's next poll (it reads the file on every poll; when the check port answers, this command
//! asks it until it answers 503, bounded), then HAProxy's own: `fall` failed checks `inter` apart,
//! plus one `inter` for the phase of the first check, from `[haproxy] inter` and `fall` (the
//! timing the writer's handover gap waits out too). HAProxy cannot be asked (there may be
//! several, on other hosts), so the wait is computed and printed with its origin.
//!
//! Exit codes (main.rs): 0 done, 1 the file could not be created or removed, or the daemon kept
//! answering 200 although the file exists (it watches another file), 2 a bad configuration.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use humantime_serde::re::humantime::format_duration;

use crate::config::Config;

/// How long one question to the daemon's check port may take: it answers from memory in
/// microseconds, so a slow answer means it is not there to ask.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// Between two questions while waiting for the daemon's next poll.
const ASK_EVERY: Duration = Duration::from_millis(50);

/// The daemon's next poll may start up to one interval after the file appears and take up to its
/// timeout; this much more covers scheduling.
const POLL_SLACK: Duration = Duration::from_secs(1);

/// What the file says, for a person who finds it: who made it and how to undo it.
const FILE_TEXT: &str =
    "created by `clustercheckd drain`; `clustercheckd drain --undo` (or rm) returns this node to service\n";

#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error(
        "galera is not enabled in the configuration: the maintenance file would change no check"
    )]
    GaleraDisabled,
    #[error("cannot create the maintenance file {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove the maintenance file {}: {source}", path.display())]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the check on {addr} still answers {status} {} after {} was created: does the daemon \
         watch another galera.maintenance_file?",
        format_duration(*waited), path.display()
    )]
    NotDrained {
        addr: SocketAddr,
        status: u16,
        waited: Duration,
        path: PathBuf,
    },
}

impl DrainError {
    /// A configuration this command cannot use is a configuration error (exit 2).
    pub fn is_config(&self) -> bool {
        matches!(self, Self::GaleraDisabled)
    }
}

/// Create the maintenance file; with `wait`, return once HAProxy has had time to notice. Progress
/// goes to `out`, one line per step.
pub fn drain(config: &Config, wait: bool, out: &mut dyn Write) -> Result<(), DrainError> {
    if !config.galera.enabled {
        return Err(DrainError::GaleraDisabled);
    }
    let path = &config.galera.maintenance_file;
    let created = create(path)?;
    let _ = writeln!(
        out,
        "draining: {} {}; this node's check answers 503 from the daemon's next poll",
        if created { "created" } else { "found" },
        path.display()
    );
    if !wait {
        return Ok(());
    }
    let addr = local_check_addr(config.listen.check);
    let bound = config
        .galera
        .interval
        .saturating_add(config.galera.timeout)
        .saturating_add(POLL_SLACK);
    match wait_for_503(addr, bound) {
        Seen::Answers503(after) => {
            let _ = writeln!(
                out,
                "draining: the check on {addr} answers 503 (after {})",
                format_duration(round_ms(after))
            );
        }
        Seen::NoAnswer => {
            let _ = writeln!(
                out,
                "draining: nothing answers on {addr} (listen.check): HAProxy's checks fail there too"
            );
        }
        Seen::Still(status) => {
            return Err(DrainError::NotDrained {
                addr,
                status,
                waited: bound,
                path: path.clone(),
            })
        }
    }
    let _ = writeln!(
        out,
        "draining: waiting {} for HAProxy to mark this node down ([haproxy] inter x (fall + 1))",
        config.haproxy.down_after_explained()
    );
    std::thread::sleep(config.haproxy.down_after());
    let _ = writeln!(
        out,
        "drained: HAProxy has had time to mark this node down; stop mysqld now"
    );
    Ok(())
}

/// Remove the maintenance file: the node returns to service through its normal check (200 from
/// the daemon's next poll once healthy, then HAProxy's `rise`).
pub fn undo(config: &Config, out: &mut dyn Write) -> Result<(), DrainError> {
    let path = &config.galera.maintenance_file;
    match std::fs::remove_file(path) {
        Ok(()) => {
            let _ = writeln!(
                out,
                "undrained: removed {}; HAProxy marks this node up once its check passes",
                path.display()
            );
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let _ = writeln!(out, "undrained: {} was not there", path.display());
            Ok(())
        }
        Err(source) => Err(DrainError::Remove {
            path: path.clone(),
            source,
        }),
    }
}

/// `true` when this call created the file, `false` when it was already there (an operator's, or
/// an earlier drain's: kept as it is).
fn create(path: &Path) -> Result<bool, DrainError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => {
            // The file's presence is what counts; its text is only for a person who finds it.
            let _ = file.write_all(FILE_TEXT.as_bytes());
            Ok(true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(DrainError::Create {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Where this host reaches its own check listener: a wildcard address means loopback.
fn local_check_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Answers503(Duration),
    /// Nothing listens, or it does not answer HTTP.
    NoAnswer,
    /// Still this status when the bound ran out.
    Still(u16),
}

/// Ask the check until it answers 503, at most `bound`.
fn wait_for_503(addr: SocketAddr, bound: Duration) -> Seen {
    let start = Instant::now();
    loop {
        match ask(addr) {
            Some(503) => return Seen::Answers503(start.elapsed()),
            None => return Seen::NoAnswer,
            Some(status) if start.elapsed() >= bound => return Seen::Still(status),
            Some(_) => std::thread::sleep(ASK_EVERY),
        }
    }
}

/// The status code of one check, asked as HAProxy's `option httpchk` does.
fn ask(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, ASK_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(ASK_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(ASK_TIMEOUT)).ok()?;
    stream.write_all(b"OPTIONS / HTTP/1.0\r\n\r\n").ok()?;
    // The status line is all we need; it fits in the first few bytes.
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() && !head[..len].contains(&b'\n') {
        match stream.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(_) => return None,
        }
    }
    status_code(&head[..len])
}

/// `HTTP/1.x NNN ...` -> NNN.
fn status_code(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head).ok()?;
    let mut words = text.split_whitespace();
    words.next().filter(|w| w.starts_with("HTTP/"))?;
    words
        .next()
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse().ok())
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_asked_on_loopback() {
        let at = |s: &str| local_check_addr(s.parse().unwrap()).to_string();
        assert_eq!(at("0.0.0.0:9200"), "127.0.0.1:9200");
        assert_eq!(at("[::]:9200"), "[::1]:9200");
        assert_eq!(at("10.0.0.11:9200"), "10.0.0.11:9200");
    }

    #[test]
    fn status_line_parsing_takes_no_garbage() {
        assert_eq!(
            status_code(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code(b"HTTP/1.0 200 OK\r\n"), Some(200));
        for garbage in [
            &b""[..],
            b"SSH-2.0-OpenSSH",
            b"HTTP/1.1 5030 x",
            b"\xff\xfe",
            b"HTTP/1.1",
        ] {
            assert_eq!(status_code(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn nothing_listening_is_no_answer() {
        // Bound but never listening: connections to it are refused at once.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(wait_for_503(addr, Duration::from_secs(1)), Seen::NoAnswer);
    }

    #[test]
    fn create_keeps_an_existing_file_and_undo_tolerates_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maint");
        assert!(create(&path).unwrap());
        std::fs::write(&path, "operator's note").unwrap();
        assert!(!create(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "operator's note");
        let err = create(&dir.path().join("missing/dir/maint")).unwrap_err();
        assert!(err.to_string().contains("missing/dir/maint"), "{err}");
    }
}
