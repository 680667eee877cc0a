//! Galera's own notifications (`wsrep_notify_cmd`), turned into "poll now".
//!
//! MariaDB runs `wsrep_notify_cmd` through `sh -c` on every state and view change it notifies
//! (docs/failover.md lists what that covers, measured on the sandbox: donor/joined/synced,
//! membership and non-Primary views, shutdown; not `SET GLOBAL wsrep_desync`), waits for it, and
//! passes `--status`, `--uuid`, `--primary`, `--members` and `--index`. `clustercheckd notify`
//! ([`crate::collectors::galera::notify::Notification::encode`] is its wire format) sends one
//! datagram to the daemon's [`listen`]ing socket, and the poller polls at once.
//!
//! A notification is a hint, never a verdict: it only makes the next poll come sooner, and only a
//! poll's answer can make the node healthy. Everything in a datagram is outside input: unknown
//! keys are ignored, values are capped and stripped of control characters, and any sender that
//! can write the socket can at most cause one extra status poll per 100 ms.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::net::UnixDatagram;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The first line of every datagram: a stray sender (or a future format) is recognised.
const MAGIC: &str = "clustercheckd-notify 1";
/// The longest datagram read; a 3-node member list is about 250 bytes, a 64-node one 6 KiB.
const MAX_DATAGRAM: usize = 16 * 1024;
/// The longest value kept from one field.
const MAX_VALUE: usize = 4096;
/// Who may write to the socket: mysqld runs as its own user (`mysql`), not ours. The worst a
/// local user can do with it is trigger extra status polls, coalesced to one per 100 ms.
const SOCKET_MODE: u32 = 0o666;

/// One notification, as Galera gave it (every field optional: versions and events differ).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The node's new state, lower-cased: MariaDB 10.4+ sends `joiner`, `donor`, `joined`,
    /// `synced`, `disconnecting`, `disconnected`...; 10.3 `Joiner`, `Donor`, `Synced`,
    /// `Undefined`...
    pub status: Option<String>,
    /// The cluster state UUID.
    pub uuid: Option<String>,
    /// `yes` or `no`: whether the new view is a Primary component.
    pub primary: Option<String>,
    /// The view's members, `uuid/name/incoming_address` separated by commas.
    pub members: Option<String>,
    /// This node's index in `members`.
    pub index: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("galera.notify_socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("galera.notify_socket {0}: exists and is not a socket; not replacing it")]
    NotASocket(PathBuf),
}

impl Notification {
    /// Set the field named by a `wsrep_notify_cmd` option (`status`, `uuid`, ...); other names
    /// are ignored, so a newer server's extra options do not break anything.
    pub fn set(&mut self, name: &str, value: &str) {
        let value = clean(value);
        let field = match name {
            "status" => &mut self.status,
            "uuid" => &mut self.uuid,
            "primary" => &mut self.primary,
            "members" => &mut self.members,
            "index" => &mut self.index,
            _ => return,
        };
        *field = Some(if name == "status" || name == "primary" {
            value.to_ascii_lowercase()
        } else {
            value
        });
    }

    /// The datagram `clustercheckd notify` sends.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = format!("{MAGIC}\n");
        for (name, value) in self.fields() {
            if let Some(value) = value {
                text.push_str(&format!("{name}={value}\n"));
            }
        }
        text.into_bytes()
    }

    /// Read a datagram; `None` when it is not ours.
    pub fn decode(datagram: &[u8]) -> Option<Notification> {
        let text = String::from_utf8_lossy(datagram);
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return None;
        }
        let mut notification = Notification::default();
        for line in lines {
            if let Some((name, value)) = line.split_once('=') {
                notification.set(name, value);
            }
        }
        Some(notification)
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("status", &self.status),
            ("uuid", &self.uuid),
            ("primary", &self.primary),
            ("members", &self.members),
            ("index", &self.index),
        ]
    }

    /// How many members the view has (entries in `members`).
    pub fn member_count(&self) -> Option<usize> {
        self.members
            .as_deref()
            .map(|m| m.split(',').filter(|s| !s.trim().is_empty()).count())
    }
}

/// No newlines (they delimit fields), no control characters (they would reach the log), at most
/// MAX_VALUE bytes (on a character boundary).
fn clean(value: &str) -> String {
    let mut out: String = value.chars().filter(|c| !c.is_control()).collect();
    if out.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// Create the socket at `path` (replacing a stale socket left by an earlier run, never another
/// kind of file), make it writable by mysqld's user, and start a task that calls
/// `trigger.notify_one()` for every notification until `shutdown`; the socket file is removed
/// then. Bound before the poller starts, so the first event after start-up is not lost.
pub fn listen(
    path: &Path,
    trigger: Arc<Notify>,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, NotifyError> {
    let error = |source| NotifyError::Socket {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(error)?,
        Ok(_) => return Err(NotifyError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e)),
    }
    let socket = UnixDatagram::bind(path).map_err(error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(error)?;
    let path = path.to_owned();
    tracing::info!(socket = %path.display(), "galera: listening for wsrep_notify_cmd events");
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::select! {
                r = socket.recv(&mut buf) => r,
                _ = shutdown.cancelled() => break,
            };
            match received {
                Ok(n) => match buf.get(..n).and_then(Notification::decode) {
                    Some(event) => {
                        tracing::info!(status = ?event.status, primary = ?event.primary,
                            members = ?event.member_count(), index = ?event.index,
                            "galera: wsrep_notify_cmd event; polling now");
                        trigger.notify_one();
                    }
                    None => tracing::debug!(
                        bytes = n,
                        "galera: ignored a datagram that is not a notification"
                    ),
                },
                Err(error) => {
                    // Datagram receive errors are per message (never "closed"); do not spin.
                    tracing::warn!(%error, "galera: reading the notify socket failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        let _ = std::fs::remove_file(&path);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_lowercases_status_and_ignores_unknown_options() {
        let mut n = Notification::default();
        n.set("status", "Synced");
        n.set("primary", "YES");
        n.set("members", "u1/node1/127.0.0.1:3306,u2/node2/127.0.0.1:3307");
        n.set("index", "0");
        n.set("future", "x");
        let decoded = Notification::decode(&n.encode()).unwrap();
        assert_eq!(decoded, n);
        assert_eq!(decoded.status.as_deref(), Some("synced"));
        assert_eq!(decoded.primary.as_deref(), Some("yes"));
        assert_eq!(decoded.member_count(), Some(2));
        assert_eq!(decoded.uuid, None);
    }

    #[test]
    fn garbage_is_not_a_notification_and_never_panics() {
        assert_eq!(Notification::decode(b""), None);
        assert_eq!(Notification::decode(b"\xff\xfe status=synced"), None);
        let mut odd = format!("{MAGIC}\nstatus\n=x\nstatus=a\x07b\nmembers=").into_bytes();
        odd.extend(std::iter::repeat_n(b'\xc3', 9000));
        let n = Notification::decode(&odd).unwrap();
        assert_eq!(n.status.as_deref(), Some("ab"));
        assert!(n.members.unwrap().len() <= MAX_VALUE);
    }

    #[test]
    fn values_cannot_smuggle_fields() {
        let mut n = Notification::default();
        n.set("status", "donor\nprimary=yes");
        let decoded = Notification::decode(&n.encode()).unwrap();
        assert_eq!(decoded.primary, None);
        assert_eq!(decoded.status.as_deref(), Some("donorprimary=yes"));
    }

    #[tokio::test]
    async fn a_datagram_triggers_and_a_regular_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let trigger = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let task = listen(&path, trigger.clone(), shutdown.clone()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, SOCKET_MODE);
        let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
        client.send_to(b"not ours", &path).unwrap();
        let mut n = Notification::default();
        n.set("status", "donor");
        client.send_to(&n.encode(), &path).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), trigger.notified())
            .await
            .expect("triggered");
        shutdown.cancel();
        task.await.unwrap();
        assert!(!path.exists(), "the socket is removed at shutdown");

        std::fs::write(&path, "precious").unwrap();
        let err = listen(&path, trigger, CancellationToken::new()).unwrap_err();
        assert!(matches!(err, NotifyError::NotASocket(_)), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }
}
