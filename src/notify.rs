//! `clustercheckd notify`: the client Galera runs as `wsrep_notify_cmd`.
//!
//! MariaDB runs the command through `sh -c` and waits for it, on every state and view change,
//! appending `--status S --uuid U --primary yes|no --members LIST --index I`. This client hands
//! the event to the local daemon in one datagram on `--socket PATH` (the daemon's
//! `galera.notify_socket`) and exits 0 at once, whatever happens: a missing daemon, a missing
//! socket, a full queue or options it does not know must never slow down or fail mysqld. It reads
//! no config file (mysqld's user cannot read it), only its arguments. The daemon then polls; a
//! notification never decides a verdict by itself.
//!
//! Chaining an existing notify script: point `wsrep_notify_cmd` at a wrapper that runs both, e.g.
//! ```sh
//! #!/bin/sh
//! /usr/local/bin/old-notify.sh "$@"
//! exec /usr/bin/clustercheckd notify --socket /run/clustercheckd/notify.sock "$@"
//! ```

use std::ffi::OsString;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use crate::collectors::galera::notify::Notification;

const USAGE: &str = "\
usage: clustercheckd notify --socket PATH [--status S] [--uuid U] [--primary yes|no]
                            [--members LIST] [--index I]
Set as Galera's wsrep_notify_cmd (in my.cnf, before mysqld starts):
  wsrep_notify_cmd = /usr/bin/clustercheckd notify --socket /run/clustercheckd/notify.sock
Sends the event to the daemon's galera.notify_socket and always exits 0.";

/// What the arguments say: where to send, and what.
#[derive(Debug, Default, PartialEq)]
pub struct Request {
    pub socket: Option<PathBuf>,
    pub notification: Notification,
    pub help: bool,
}

/// Read `--name value` and `--name=value` options; unknown ones (and stray words) are skipped,
/// an option without its value is ignored.
pub fn parse(args: &[OsString]) -> Request {
    let mut request = Request::default();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        let arg = arg.to_string_lossy();
        let Some(option) = arg.strip_prefix("--") else {
            if arg == "-h" {
                request.help = true;
            }
            continue;
        };
        if option == "help" {
            request.help = true;
            continue;
        }
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(OsString::from(value))),
            None => {
                // A value may be empty (`--members ''`) but is never the next option.
                let value = match args.get(i) {
                    Some(next) if !next.to_string_lossy().starts_with("--") => {
                        i += 1;
                        Some(next.clone())
                    }
                    _ => None,
                };
                (option.to_owned(), value)
            }
        };
        let Some(value) = value else { continue };
        if name == "socket" {
            request.socket = Some(PathBuf::from(value));
        } else {
            request.notification.set(&name, &value.to_string_lossy());
        }
    }
    request
}

/// Send the notification; every failure is reported on stderr (which mysqld puts in its error
/// log) and otherwise ignored.
pub fn send(request: &Request) -> Result<(), String> {
    let socket = request
        .socket
        .as_ref()
        .ok_or_else(|| "no --socket given; nothing sent".to_owned())?;
    let client = UnixDatagram::unbound().map_err(|e| format!("cannot create a socket: {e}"))?;
    // Never wait: a daemon that does not read fast enough loses this event, not mysqld time.
    client
        .set_nonblocking(true)
        .map_err(|e| format!("cannot make the socket non-blocking: {e}"))?;
    client
        .send_to(&request.notification.encode(), socket)
        .map(|_| ())
        .map_err(|e| format!("{}: {e} (is clustercheckd running?)", socket.display()))
}

/// The subcommand: always succeeds (see the module documentation).
pub fn main(args: &[OsString]) {
    let request = parse(args);
    if request.help {
        println!("{USAGE}");
        return;
    }
    if let Err(error) = send(&request) {
        eprintln!("clustercheckd notify: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_what_mariadb_sends_in_either_case() {
        // As logged by the sandbox's notify script (MariaDB 10.11), and 10.3's capitalised word.
        let r = parse(&args(&[
            "--socket",
            "/run/n.sock",
            "--status",
            "Synced",
            "--uuid",
            "c277a04d-ee22-11f1-b3d1-8bbce84c8a61",
            "--primary",
            "yes",
            "--index",
            "0",
            "--members",
            "u1/node1/127.0.0.1:23301,u2/node2/127.0.0.1:23302",
            "--future-option",
            "x",
        ]));
        assert_eq!(r.socket, Some(PathBuf::from("/run/n.sock")));
        assert_eq!(r.notification.status.as_deref(), Some("synced"));
        assert_eq!(r.notification.primary.as_deref(), Some("yes"));
        assert_eq!(r.notification.index.as_deref(), Some("0"));
        assert_eq!(r.notification.member_count(), Some(2));
        let r = parse(&args(&[
            "--status=disconnecting",
            "--members",
            "--socket=/s",
        ]));
        assert_eq!(r.notification.status.as_deref(), Some("disconnecting"));
        assert_eq!(r.notification.members, None);
        assert_eq!(r.socket, Some(PathBuf::from("/s")));
    }

    #[test]
    fn no_socket_or_no_daemon_is_an_error_message_not_a_failure() {
        assert!(send(&parse(&args(&["--status", "synced"]))).is_err());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let r = parse(&[OsString::from("--socket"), missing.into_os_string()]);
        let err = send(&r).unwrap_err();
        assert!(err.contains("none.sock"), "{err}");
    }
}
