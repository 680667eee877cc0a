//! The HAProxy agent-check listener (`listen.agent`): HAProxy connects, reads one line, and the
//! connection is closed. The line is decided by [`crate::health::agent::reply`] from the latest
//! Galera snapshot, in memory, like the HTTP check.
//!
//! The agent does not read a request (HAProxy sends nothing unless `agent-send` is set), so there
//! is no head to wait for: the reply is written at once. The listener's limits are the HTTP
//! listeners' ([`super::Limits`]), and so is its admission control ([`super::admission`]): at
//! most `max_connections` connections at once, at most `max_connections_per_source` from one
//! address (further ones are closed at once); writing the line is bounded by
//! `header_read_timeout`, whatever the client does.
//!
//! After writing, the agent shuts its side down and reads (and discards) what the client may
//! still send until it closes, bounded by the same timeout: closing a socket with unread data
//! makes the kernel send a reset, which could destroy the reply before HAProxy has read it. A
//! `ready` whose write failed is owed again to that source ([`agent::Withdrawn::owe_ready`]).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::admission::Admission;
use super::{AppState, Limits};
use crate::health::agent::{self, Reply};

/// At most this much of what a client sends after the reply is read and discarded.
const MAX_DISCARD: usize = 16 * 1024;

/// What the agent says to `source` now, remembered for the next reply and counted.
pub fn answer(state: &AppState, source: IpAddr) -> Reply {
    let reply = match &state.galera {
        Some(watch) => {
            let snapshot = watch.borrow().clone();
            // One lock around decide-and-record: two connections from one source at once must
            // not both take the one `ready`.
            let mut withdrawn = state
                .agent_withdrawn
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let verdict = state.galera_verdict(&snapshot, Instant::now());
            let reply = agent::reply(
                &snapshot,
                verdict,
                &state.config.agent,
                withdrawn.contains(source),
            );
            withdrawn.record(source, &reply);
            reply
        }
        // Config validation refuses listen.agent without galera; never say "up" for what is
        // not watched.
        None => Reply::Down("Galera check is disabled in the configuration.".to_owned()),
    };
    state.agent_counts[reply.index()].fetch_add(1, Ordering::Relaxed);
    reply
}

/// Serve the agent on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let mut admission = Admission::new(&limits, "agent: ");
    while let Some((mut stream, admitted)) = admission.accept(&listener, &shutdown).await {
        let source = admitted.source;
        // Decided at accept, in order: the `ready` goes to the first healthy connection.
        let reply = answer(&state, source);
        let state = state.clone();
        tokio::spawn(async move {
            let timeout = limits.header_read_timeout;
            let line = reply.line();
            match tokio::time::timeout(timeout, write_line(&mut stream, line.as_bytes())).await {
                Ok(Ok(())) => {
                    let _ = tokio::time::timeout(timeout, discard(&mut stream)).await;
                }
                // The one `ready` did not get out: the next healthy reply owes it again.
                _ if matches!(reply, Reply::Ready { .. }) => state
                    .agent_withdrawn
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .owe_ready(source),
                _ => {}
            }
            drop(stream);
            drop(admitted);
        });
    }
}

/// Write the line and end our side: `Ok` once the line is handed to the kernel.
async fn write_line(stream: &mut TcpStream, line: &[u8]) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    stream.write_all(line).await?;
    stream.shutdown().await
}

/// Read and drop what the client still sends until it closes. HAProxy closes its checks with a
/// reset, so an error here is normal and says nothing about the line.
async fn discard(stream: &mut TcpStream) {
    let mut buffer = [0u8; 1024];
    let mut discarded = 0;
    while discarded < MAX_DISCARD {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}
