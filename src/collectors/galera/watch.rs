//! Seeing the server close the poller's idle connection the moment it happens.
//!
//! When mysqld dies (SIGKILL, OOM, a crash), the kernel closes its sockets at once: the
//! poller's persistent connection reads EOF (or a reset) right away. Between polls nobody reads
//! that connection, so without this the death would be noticed at the next tick, up to a whole
//! interval later. This module waits on the connection's socket between polls and tells the poller
//! to poll now, at no cost to the server (no query, no second connection).
//!
//! mysql_async does not expose its stream, so the socket is found from the outside: the socket
//! descriptors that appeared in this process while the connection was opened (by inode, from
//! /proc/self/fd) and whose peer is the address connected to. That one is duplicated and watched
//! for readability; when it is readable while idle, a non-consuming peek tells EOF/reset (poll
//! now) from spurious wake-ups. The duplicate is dropped with the connection, so the socket
//! closes when mysql_async closes it. If no single socket matches (another connection to the same
//! address opened at the same moment, /proc not mounted), there is simply no watch and the
//! interval's polls still see everything, a little later.
//!
//! Alternatives weighed: a COM_PING every 100 ms is database work; a second connection blocked in
//! `SELECT SLEEP()` costs a server thread; watching the socket file with inotify misses SIGKILL
//! (the file stays); a pidfd via SO_PEERCRED works only over a local unix socket. This works over
//! the unix socket and TCP alike.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{getpeername, recv, MsgFlags, SockaddrStorage};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The address a connection was opened to, as its peer address will show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Unix(PathBuf),
    /// The host as configured: matched exactly when it is an IP address, by port alone otherwise.
    Tcp {
        host: String,
        port: u16,
    },
}

/// Why the watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The server closed the connection (EOF) or it was reset.
    Eof,
    /// The server sent something unasked (MariaDB says goodbye with an error packet when it
    /// shuts down or the connection is killed); the poll will read it.
    Data,
}

/// The socket inodes open in this process now; `None` when /proc/self/fd cannot be read.
pub fn sockets() -> Option<HashSet<u64>> {
    Some(
        std::fs::read_dir("/proc/self/fd")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| socket_inode(&entry.path()).map(|(_, inode)| inode))
            .collect(),
    )
}

/// (descriptor, inode) of /proc/self/fd/N when it is a socket.
fn socket_inode(link: &Path) -> Option<(i32, u64)> {
    let fd: i32 = link.file_name()?.to_str()?.parse().ok()?;
    let target = std::fs::read_link(link).ok()?;
    let inode = target
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    Some((fd, inode))
}

/// A duplicate of the connection's socket, registered with the runtime.
pub struct ConnWatch {
    fd: AsyncFd<OwnedFd>,
}

impl std::fmt::Debug for ConnWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnWatch")
            .field("fd", &self.fd.get_ref().as_raw_fd())
            .finish()
    }
}

impl ConnWatch {
    /// The one socket opened since `before` whose peer is `peer`; `None` unless exactly one.
    pub fn find(before: &HashSet<u64>, peer: &Peer) -> Option<ConnWatch> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc/self/fd")
            .ok()?
            .filter_map(Result::ok)
        {
            let Some((fd, inode)) = socket_inode(&entry.path()) else {
                continue;
            };
            if before.contains(&inode) {
                continue;
            }
            // SAFETY: the descriptor is only borrowed for the dup (F_DUPFD_CLOEXEC) below. If it was closed
            // since it was listed, dup fails (EBADF) or duplicates whatever reused the number,
            // which the inode check right after rejects: no descriptor we do not own is kept.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let Ok(owned) = borrowed.try_clone_to_owned() else {
                continue;
            };
            let own_link = PathBuf::from(format!("/proc/self/fd/{}", owned.as_raw_fd()));
            if socket_inode(&own_link).map(|(_, i)| i) != Some(inode) {
                continue;
            }
            if peer_matches(&owned, peer) {
                found.push(owned);
            }
        }
        if found.len() != 1 {
            tracing::debug!(
                matches = found.len(),
                ?peer,
                "galera: no single socket to watch; EOF is seen at the next poll"
            );
            return None;
        }
        let owned = found.pop()?;
        // SAFETY: `owned` is our own duplicate, open until the AsyncFd (which owns it) is
        // dropped, and an OwnedFd always returns the same descriptor.
        match unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) } {
            Ok(fd) => Some(ConnWatch { fd }),
            Err(error) => {
                tracing::debug!(%error, "galera: cannot watch the connection's socket");
                None
            }
        }
    }

    /// Resolves when the idle connection is closed by the server (or it sent something). Only
    /// meaningful between polls: during a poll the answer itself makes the socket readable.
    pub async fn closed(&self) -> Closed {
        let mut byte = [0u8; 1];
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                // The registration failed: never fire, the polls still see everything.
                return std::future::pending().await;
            };
            let peeked = recv(
                self.fd.get_ref().as_raw_fd(),
                &mut byte,
                MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
            );
            match peeked {
                Ok(0) => return Closed::Eof,
                Ok(_) => return Closed::Data,
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {
                    // Woken by the poll that just read its answer: nothing is pending.
                    guard.clear_ready();
                }
                Err(_) => return Closed::Eof,
            }
        }
    }
}

fn peer_matches(fd: &OwnedFd, peer: &Peer) -> bool {
    let Ok(address) = getpeername::<SockaddrStorage>(fd.as_raw_fd()) else {
        return false;
    };
    match peer {
        Peer::Unix(path) => address
            .as_unix_addr()
            .and_then(|a| a.path())
            .is_some_and(|p| p == path),
        Peer::Tcp { host, port } => {
            let (ip, p) = if let Some(v4) = address.as_sockaddr_in() {
                (std::net::IpAddr::V4(v4.ip()), v4.port())
            } else if let Some(v6) = address.as_sockaddr_in6() {
                (std::net::IpAddr::V6(v6.ip()), v6.port())
            } else {
                return false;
            };
            p == *port
                && host
                    .parse::<std::net::IpAddr>()
                    .map_or(true, |wanted| wanted == ip)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A real socket pair over loopback TCP and a unix socket: the watch finds the new
    /// connection, stays quiet while it is idle, and fires at once when the peer closes it.
    #[tokio::test]
    async fn fires_on_peer_close_and_not_while_idle() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let before = sockets().unwrap();
        let client = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let peer = Peer::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let watch = ConnWatch::find(&before, &peer).expect("the client socket is found");
        let idle = tokio::time::timeout(Duration::from_millis(200), watch.closed()).await;
        assert!(idle.is_err(), "fired while idle: {idle:?}");
        drop(server);
        let closed = tokio::time::timeout(Duration::from_secs(2), watch.closed())
            .await
            .expect("fired after the peer closed");
        assert_eq!(closed, Closed::Eof);
        drop(client);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let before = sockets().unwrap();
        let _client = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let watch = ConnWatch::find(&before, &Peer::Unix(path.clone())).expect("found");
        server.try_write(b"x").unwrap();
        let fired = tokio::time::timeout(Duration::from_secs(2), watch.closed())
            .await
            .expect("fired on unasked data");
        assert_eq!(fired, Closed::Data);
        // A different address is not this connection.
        assert!(ConnWatch::find(&before, &Peer::Unix("/nonexistent".into())).is_none());
    }
}
