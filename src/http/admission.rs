//! Admission control, the one copy every listener uses (the HTTP check and pages listeners in
//! [`super::serve`], the agent in [`super::agent::serve`]): which accepted connection is served,
//! and when.
//!
//! - At most `max_connections` connections are served at once: beyond that, the next one waits
//!   for a slot (and the clients after it in the kernel's accept queue) instead of exhausting
//!   descriptors or memory.
//! - At most `max_connections_per_source` of them come from one address: one address holding
//!   many slow or idle connections (slowloris) gets its extra connections closed at once, so it
//!   can never fill the slots the load balancers need. Checked at accept, before a slot is
//!   waited for, so a shed connection never holds one. The shedding is logged at most once a
//!   minute per listener.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::Limits;

/// Between the shed warnings of one listener.
const SHED_LOG_EVERY: Duration = Duration::from_secs(60);

/// One listener's admission state: its slots, its per-source counts, its last shed warning.
pub(super) struct Admission {
    slots: Arc<Semaphore>,
    sources: Arc<Sources>,
    max_connections: usize,
    max_per_source: usize,
    /// Put before every log line, to tell the listeners apart (`""`, `"agent: "`).
    log_prefix: &'static str,
    shed_logged_at: Option<Instant>,
}

/// An admitted connection's hold on its slot and its source's share; both are given back when
/// it is dropped (when the connection ends).
pub(super) struct Admitted {
    /// The client's address, IPv4-mapped IPv6 as IPv4 ([`source_of`]).
    pub source: IpAddr,
    _source_slot: SourceSlot,
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    pub(super) fn new(limits: &Limits, log_prefix: &'static str) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            sources: Arc::new(Sources::default()),
            max_connections: limits.max_connections,
            max_per_source: limits.max_connections_per_source,
            log_prefix,
            shed_logged_at: None,
        }
    }

    /// Accept connections until one is admitted, and return it with its hold. `None` once
    /// `shutdown` is cancelled (also while waiting for a slot).
    pub(super) async fn accept(
        &mut self,
        listener: &TcpListener,
        shutdown: &CancellationToken,
    ) -> Option<(TcpStream, Admitted)> {
        let prefix = self.log_prefix;
        loop {
            // Accept first, then decide: a source over its share is closed at once instead of
            // waiting for a slot (which it would then hold); everyone else waits for a slot.
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors or a reset before accept: keep serving the others.
                        tracing::warn!(%error, "{prefix}accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                _ = shutdown.cancelled() => return None,
            };
            let source = source_of(peer);
            let Some(source_slot) = self.sources.enter(source, self.max_per_source) else {
                // Closing without reading costs one accept; say so at most once a minute.
                if self
                    .shed_logged_at
                    .is_none_or(|at| at.elapsed() > SHED_LOG_EVERY)
                {
                    tracing::warn!(%source, limit = self.max_per_source,
                        "{prefix}closing connections from a source over its connection limit");
                    self.shed_logged_at = Some(Instant::now());
                }
                drop(stream);
                continue;
            };
            let permit = tokio::select! {
                permit = self.slots.clone().acquire_owned() => permit.ok()?,
                _ = shutdown.cancelled() => return None,
            };
            let admitted = Admitted {
                source,
                _source_slot: source_slot,
                _permit: permit,
            };
            return Some((stream, admitted));
        }
    }

    /// Wait until every admitted connection has ended (all slots back), at most `timeout`.
    pub(super) async fn drain(&self, timeout: Duration) {
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(timeout, self.slots.acquire_many(all)).await;
    }
}

/// Connections being served, per source address: one address can hold at most
/// `max_connections_per_source` of the `max_connections` slots.
#[derive(Debug, Default)]
struct Sources(Mutex<HashMap<IpAddr, usize>>);

/// A connection's hold on its source's count; released when the connection ends.
struct SourceSlot {
    sources: Arc<Sources>,
    ip: IpAddr,
}

impl Sources {
    /// A slot for `ip`, or `None` when that address already has `max` connections.
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            sources: self.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.sources.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// IPv4-mapped IPv6 sources count as their IPv4 address, so a dual-stack listener cannot be
/// used to double a client's share.
fn source_of(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_gets_at_most_its_share_and_gets_it_back() {
        let sources = Arc::new(Sources::default());
        let attacker: IpAddr = [127, 0, 0, 1].into();
        let haproxy: IpAddr = [127, 0, 0, 2].into();
        let held: Vec<_> = (0..3).map(|_| sources.enter(attacker, 3)).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(
            sources.enter(attacker, 3).is_none(),
            "a fourth is over the share"
        );
        assert!(
            sources.enter(haproxy, 3).is_some(),
            "another source is unaffected"
        );
        drop(held);
        assert!(sources.enter(attacker, 3).is_some(), "slots come back");
        assert!(sources.0.lock().map(|m| m.len() <= 2).unwrap_or(false));
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().expect("address");
        assert_eq!(source_of(mapped), IpAddr::from([127, 0, 0, 1]));
        let v6: SocketAddr = "[::1]:4000".parse().expect("address");
        assert_eq!(source_of(v6), v6.ip());
    }

    /// The shared loop end to end on a real socket: a source over its share is closed at once
    /// (it reads EOF without a slot), its admitted connections keep theirs, and dropping an
    /// admitted connection gives the share back.
    #[tokio::test]
    async fn over_the_share_is_closed_and_the_share_comes_back() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let limits = Limits {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 8,
            max_connections_per_source: 2,
        };
        let mut admission = Admission::new(&limits, "test: ");
        let shutdown = CancellationToken::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(TcpStream::connect(addr).await.expect("connect"));
        }
        let first = admission.accept(&listener, &shutdown).await.expect("first");
        let _second = admission
            .accept(&listener, &shutdown)
            .await
            .expect("second");
        assert_eq!(first.1.source, IpAddr::from([127, 0, 0, 1]));
        // The third is shed while the next accept waits: its client reads EOF.
        let waiting = tokio::spawn(async move {
            let next = admission.accept(&listener, &shutdown).await;
            (admission, next)
        });
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), clients[2].read(&mut byte)).await;
        assert!(matches!(read, Ok(Ok(0))), "shed: {read:?}");
        // The share comes back with a connection's end: a new client is admitted.
        drop(first);
        let _fourth = TcpStream::connect(addr).await.expect("connect");
        let (_admission, next) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("admitted in time")
            .expect("task");
        assert!(next.is_some());
    }
}
