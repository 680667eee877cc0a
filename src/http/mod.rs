//! The HTTP side: the check listener HAProxy polls, and the pages for Prometheus and people.
//!
//! Handlers only read the collectors' latest snapshots: a check is answered from memory in
//! microseconds and never waits on a database. The accept loop is our own (not `axum::serve`)
//! because a health-check port that listens on every controller must survive hostile clients,
//! and HAProxy's routing depends on its answers:
//! - a cap on connections served at once (`max_connections`) and per source address
//!   (`max_connections_per_source`), the admission control every listener shares
//!   ([`admission`]): beyond the first, new clients wait in the kernel's accept queue; beyond the
//!   second, one address's extra connections are closed at once, so slow or idle clients
//!   (slowloris) can never fill the slots the load balancers need;
//! - a deadline for the request head (`header_read_timeout`) and a small read buffer, so a slow or
//!   oversized head holds a slot briefly and little memory;
//! - a deep accept backlog ([`bind`]), so a burst of connections does not drop a check's SYN.
//!
//! Every connection is closed after one response, as clustercheck did and as HAProxy expects
//! from `option httpchk`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

use crate::collectors::galera::{GaleraSnapshot, GaleraWatch};
use crate::collectors::pacemaker::PacemakerWatch;
use crate::collectors::peers::PeersWatch;
use crate::collectors::rabbitmq::RabbitWatch;
use crate::collectors::writer::WriterWatch;
use crate::config::Config;
use crate::health;
pub use paths::Pages;
use paths::{Page, Route};

pub mod activation;
mod admission;
pub mod agent;
mod check;
mod cluster;
mod pages;
pub mod paths;
mod status;
mod ui;
pub mod web;

/// Everything a handler may read. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub galera: Option<GaleraWatch>,
    /// Also feeds the VIP checks (`[vip]` needs `[pacemaker]`).
    pub pacemaker: Option<PacemakerWatch>,
    pub rabbitmq: Option<RabbitWatch>,
    /// The writer lease (`[writer]`); `/writer` also reads `galera`.
    pub writer: Option<WriterWatch>,
    /// The peers' latest answers (`[peers]`): /cluster, and the Galera check's stale-view rule.
    pub peers: Option<PeersWatch>,
    pub started: Instant,
    pub started_wall: std::time::SystemTime,
    pub check_counts: CheckCounts,
    /// Agent replies by kind, in [`crate::health::agent::Reply::KINDS`] order, for
    /// `clustercheckd_agent_replies_total`.
    pub agent_counts: [AtomicU64; 5],
    /// The load balancers the agent last told `maint` or `drain` (each is owed one `ready`).
    pub agent_withdrawn: Mutex<crate::health::agent::Withdrawn>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The collectors' snapshot channels; `None` for a disabled subsystem.
#[derive(Default)]
pub struct Watches {
    pub galera: Option<GaleraWatch>,
    /// Also feeds the VIP checks (`[vip]` needs `[pacemaker]`).
    pub pacemaker: Option<PacemakerWatch>,
    pub rabbitmq: Option<RabbitWatch>,
    pub writer: Option<WriterWatch>,
    pub peers: Option<PeersWatch>,
}

impl Inner {
    /// The Galera verdict, as every check and page gives it: with the peers' latest answers
    /// when `[peers]` is configured.
    pub fn galera_verdict(
        &self,
        snapshot: &GaleraSnapshot,
        now: Instant,
    ) -> health::galera::Verdict {
        let peers = self.peers.as_ref().map(|w| w.borrow().clone());
        let peers = peers.as_deref().map(|snapshot| health::galera::Peers {
            snapshot,
            max_staleness: self.config.peers.max_staleness(),
        });
        health::galera::verdict(snapshot, peers, &self.config.galera, now)
    }
}

impl AppState {
    pub fn new(config: Config, watches: Watches) -> Self {
        Self(Arc::new(Inner {
            config,
            galera: watches.galera,
            pacemaker: watches.pacemaker,
            rabbitmq: watches.rabbitmq,
            writer: watches.writer,
            peers: watches.peers,
            started: Instant::now(),
            started_wall: std::time::SystemTime::now(),
            check_counts: CheckCounts::default(),
            agent_counts: Default::default(),
            agent_withdrawn: Mutex::default(),
        }))
    }
}

/// Answered checks by verdict, for `clustercheckd_check_requests_total`: [200, 503] per check.
#[derive(Default)]
pub struct CheckCounts {
    pub galera: [AtomicU64; 2],
    pub pacemaker: [AtomicU64; 2],
    pub vip: [AtomicU64; 2],
    pub rabbitmq: [AtomicU64; 2],
    pub writer: [AtomicU64; 2],
    pub writer_backup: [AtomicU64; 2],
}

impl CheckCounts {
    fn count_in(counters: &[AtomicU64; 2], healthy: bool) {
        counters[usize::from(!healthy)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every check with its counters, for the exposition.
    pub fn all(&self) -> [(&'static str, &[AtomicU64; 2]); 6] {
        [
            ("galera", &self.galera),
            ("pacemaker", &self.pacemaker),
            ("vip", &self.vip),
            ("rabbitmq", &self.rabbitmq),
            ("writer", &self.writer),
            ("writer_backup", &self.writer_backup),
        ]
    }
}

/// The router of the check listener. With [`Pages::Here`] it also serves /metrics, /status and
/// /ui (the default single-port setup); otherwise those answer 404 naming the metrics listener.
/// Every path goes through [`paths::route`]: reserved first segments match in any case.
pub fn check_router(state: AppState, pages: Pages) -> Router {
    Router::new()
        .fallback(
            move |State(state): State<AppState>, method: Method, uri: Uri| async move {
                dispatch(state, pages, &method, uri.path()).await
            },
        )
        .with_state(state)
}

async fn dispatch(state: AppState, pages: Pages, method: &Method, path: &str) -> Response {
    match paths::route(method, path, pages) {
        Route::Galera => check::galera(State(state)).await,
        Route::Rabbitmq => check::rabbitmq(State(state)).await,
        Route::Writer => check::writer(&state),
        Route::WriterBackup => check::writer_backup(&state),
        Route::Pacemaker => check::pacemaker(State(state)).await,
        Route::Vip => check::vip_check(&state, None),
        Route::VipNamed(name) => check::vip_check(&state, Some(&name)),
        Route::Page(Page::Metrics) => pages::exposition(State(state)).await,
        Route::Page(Page::Status) => pages::status_page(State(state)).await.into_response(),
        Route::Page(Page::Ui) => ui::page(State(state)).await.into_response(),
        Route::Page(Page::Cluster) => pages::cluster_page(State(state)).await.into_response(),
        Route::Moved(page, address) => paths::moved(page, address),
        Route::PageMethodNotAllowed => paths::method_not_allowed(),
        Route::NotFound => paths::not_found(path, pages),
    }
}

/// The router of the separate metrics listener.
pub fn pages_router(state: AppState) -> Router {
    pages::routes().with_state(state)
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_source: usize,
}

/// Pending connections the kernel keeps for us. A flood of connections (or thousands of
/// reconnecting slow clients) must not overflow the queue: an overflowing queue drops SYNs, and
/// the dropped check is retried by the client only after a second.
const ACCEPT_BACKLOG: u32 = 4096;

/// The largest request head we buffer. A check's head is a few dozen bytes; 16 KiB leaves room
/// for any sane client and bounds the memory a hostile one can make us hold.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Bind a listener the way the daemon serves: address reuse (a restart does not wait for
/// TIME_WAIT) and a deep accept backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Upper bound on a whole connection, whatever the client does after its headers.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// How long shutdown waits for responses already being written.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve `router` on `listener` until `shutdown` is cancelled, then let in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    serve_with(listener, router, limits, None, shutdown).await
}

/// [`serve`] with the web config's TLS and basic auth (the metrics listener only: the check port
/// stays plain HTTP for HAProxy). Each connection gets the TLS config current at its accept; the
/// TLS handshake must finish within `header_read_timeout`, like a request head.
pub async fn serve_web(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    web: web::WebHandle,
    shutdown: CancellationToken,
) {
    let router = router.layer(axum::middleware::from_fn_with_state(
        web.clone(),
        web::require_auth,
    ));
    serve_with(listener, router, limits, Some(web), shutdown).await
}

async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    web: Option<web::WebHandle>,
    shutdown: CancellationToken,
) {
    let mut admission = admission::Admission::new(&limits, "");
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false);
    while let Some((stream, admitted)) = admission.accept(&listener, &shutdown).await {
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let tls = web.as_ref().and_then(web::WebHandle::tls);
        let builder = builder.clone();
        let connection = async move {
            match tls {
                None => builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                    .is_ok(),
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                            .is_ok(),
                        // A failed handshake (no or a bad client certificate, a plain-HTTP
                        // client) is the client's to see; rustls has sent it an alert.
                        _ => false,
                    }
                }
            }
        };
        tokio::spawn(async move {
            // Errors here are the client's doing (reset, closed early, timed out): nothing to log
            // per connection on a port that is polled several times a second.
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
            drop(admitted);
        });
    }
    // All slots back means all connections are done.
    admission.drain(DRAIN_TIMEOUT).await;
}
