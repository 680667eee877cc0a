//! systemd socket activation: listening sockets inherited from the service manager instead of
//! bound here (sd_listen_fds(3): `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`; the sockets are
//! file descriptors 3, 4, ...).
//!
//! Why: with config/clustercheckd.socket, systemd holds the check port while the daemon restarts,
//! so HAProxy's checks wait in the socket's accept queue instead of being refused in the gap
//! between the old process and the new one; with the first polls done before anything is accepted
//! (`lib::first_polls`), a restart is then invisible to HAProxy.
//!
//! Which socket is which: by name (`FileDescriptorName=check`, `metrics` or `agent` in the .socket
//! unit);
//! sockets without one of those names (systemd names them after the unit by default) are taken in
//! order, the first as `check`, the second as `metrics`. An inherited socket replaces binding that
//! listener; a listener without one is bound from the configuration as usual.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The first inherited descriptor (sd_listen_fds(3): SD_LISTEN_FDS_START).
const LISTEN_FDS_START: RawFd = 3;

/// More inherited sockets than this is a mistake in the unit, not a configuration.
const MAX_INHERITED: usize = 16;

/// The listeners the service manager handed over, if any.
#[derive(Debug, Default)]
pub struct Inherited {
    pub check: Option<std::net::TcpListener>,
    pub metrics: Option<std::net::TcpListener>,
    /// The HAProxy agent-check listener's (`listen.agent`); only by name.
    pub agent: Option<std::net::TcpListener>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("socket activation: {name}={value:?} is not a valid count")]
    BadCount { name: &'static str, value: String },
    #[error(
        "socket activation: {count} sockets inherited; at most {MAX_INHERITED} (check, metrics)"
    )]
    TooMany { count: usize },
    #[error("socket activation: descriptor {fd} ({name}) is not a listening TCP socket")]
    NotAListener { fd: RawFd, name: String },
    #[error(
        "socket activation: descriptor {fd} is named {name:?}; expected check, metrics or agent"
    )]
    UnknownName { fd: RawFd, name: String },
    #[error("socket activation: two sockets for {name}")]
    Twice { name: &'static str },
    #[error("socket activation: descriptor {fd}: {source}")]
    Io { fd: RawFd, source: std::io::Error },
}

/// Take the sockets passed to this process, and remove the variables so no child (crm_mon, ...)
/// takes them for its own. Must run before any other thread starts: it changes the environment.
/// Nothing passed (or passed to another process: `LISTEN_PID` differs) is no error.
pub fn take() -> Result<Inherited, ActivationError> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    let for_us = pid
        .as_deref()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let (Some(count), true) = (count, for_us) else {
        return Ok(Inherited::default());
    };
    let count: usize = count
        .trim()
        .parse()
        .map_err(|_| ActivationError::BadCount {
            name: "LISTEN_FDS",
            value: count.clone(),
        })?;
    if count > MAX_INHERITED {
        return Err(ActivationError::TooMany { count });
    }
    let names: Vec<&str> = names
        .as_deref()
        .map(|n| n.split(':').collect())
        .unwrap_or_default();
    let mut sockets = Vec::with_capacity(count);
    for index in 0..count {
        // Offsets below MAX_INHERITED: no overflow.
        let fd = LISTEN_FDS_START + index as RawFd;
        let name = names.get(index).copied().unwrap_or("");
        // SAFETY: only borrowed for this one question, while the descriptor cannot be closed (no
        // other thread runs yet); a descriptor that is not open makes getsockopt fail (EBADF).
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        if nix::sys::socket::getsockopt(&borrowed, nix::sys::socket::sockopt::SockType).is_err() {
            // Not a socket, or not open: never take ownership of what is not ours to close.
            return Err(ActivationError::NotAListener {
                fd,
                name: name.to_owned(),
            });
        }
        // SAFETY: under the socket activation protocol, descriptors 3 .. 3 + LISTEN_FDS belong
        // to this process (LISTEN_PID is ours; it is an open socket, checked above) and nothing
        // else in it uses them: they are taken here once, before any other thread starts, and
        // the variables that name them are gone.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        sockets.push((fd, name, owned));
    }
    assign(sockets)
}

/// Check each socket and give it its role.
fn assign(sockets: Vec<(RawFd, &str, OwnedFd)>) -> Result<Inherited, ActivationError> {
    let mut inherited = Inherited::default();
    let mut unnamed = Vec::new();
    for (fd, name, owned) in sockets {
        let listener = listener(fd, name, owned)?;
        let slot = match name {
            "check" => &mut inherited.check,
            "metrics" => &mut inherited.metrics,
            "agent" => &mut inherited.agent,
            // systemd's default name is the unit's (clustercheckd.socket), or none at all.
            "" | "unknown" => {
                unnamed.push(listener);
                continue;
            }
            other if other.ends_with(".socket") => {
                unnamed.push(listener);
                continue;
            }
            other => {
                return Err(ActivationError::UnknownName {
                    fd,
                    name: other.to_owned(),
                })
            }
        };
        if slot.replace(listener).is_some() {
            return Err(ActivationError::Twice {
                name: match name {
                    "check" => "check",
                    "metrics" => "metrics",
                    _ => "agent",
                },
            });
        }
    }
    for listener in unnamed {
        match (&inherited.check, &inherited.metrics) {
            (None, _) => inherited.check = Some(listener),
            (Some(_), None) => inherited.metrics = Some(listener),
            (Some(_), Some(_)) => return Err(ActivationError::Twice { name: "metrics" }),
        }
    }
    Ok(inherited)
}

/// A listening TCP socket, close-on-exec (children must not inherit it) and non-blocking (as
/// tokio needs it).
fn listener(
    fd: RawFd,
    name: &str,
    owned: OwnedFd,
) -> Result<std::net::TcpListener, ActivationError> {
    use nix::sys::socket::{getsockopt, sockopt, SockType};
    let listening = getsockopt(&owned, sockopt::AcceptConn).unwrap_or(false);
    let stream = getsockopt(&owned, sockopt::SockType).ok() == Some(SockType::Stream);
    if !(listening && stream) {
        return Err(ActivationError::NotAListener {
            fd,
            name: name.to_owned(),
        });
    }
    // The service manager may pass it without FD_CLOEXEC; a duplicate always has it.
    let owned = owned
        .try_clone()
        .map_err(|source| ActivationError::Io { fd, source })?;
    let listener = std::net::TcpListener::from(owned);
    // A unix socket passes the checks above too; it has no TCP address.
    match listener.local_addr() {
        Ok(_) => {}
        Err(_) => {
            return Err(ActivationError::NotAListener {
                fd,
                name: name.to_owned(),
            })
        }
    }
    listener
        .set_nonblocking(true)
        .map_err(|source| ActivationError::Io { fd, source })?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_listener() -> OwnedFd {
        OwnedFd::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn names_decide_and_unnamed_ones_go_in_order() {
        let got = assign(vec![
            (3, "metrics", tcp_listener()),
            (4, "check", tcp_listener()),
        ])
        .unwrap();
        assert!(got.check.is_some() && got.metrics.is_some());
        let got = assign(vec![(3, "clustercheckd.socket", tcp_listener())]).unwrap();
        assert!(got.check.is_some() && got.metrics.is_none());
        let got = assign(vec![
            (3, "check", tcp_listener()),
            (4, "agent", tcp_listener()),
        ])
        .unwrap();
        assert!(got.check.is_some() && got.agent.is_some() && got.metrics.is_none());
    }

    #[test]
    fn wrong_sockets_are_refused_by_name() {
        let err = assign(vec![(3, "web", tcp_listener())]).unwrap_err();
        assert!(err.to_string().contains("\"web\""), "{err}");
        let err = assign(vec![
            (3, "check", tcp_listener()),
            (4, "check", tcp_listener()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("two sockets for check"), "{err}");
        // Bound but not listening, and a UDP socket.
        let udp = OwnedFd::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let err = assign(vec![(3, "check", udp)]).unwrap_err();
        assert!(
            err.to_string().contains("not a listening TCP socket"),
            "{err}"
        );
        let file = OwnedFd::from(tempfile::tempfile().unwrap());
        let err = assign(vec![(5, "", file)]).unwrap_err();
        assert!(err.to_string().contains("descriptor 5"), "{err}");
    }
}
