//! The HTTP side: the check listener HAProxy polls, and the pages for Prometheus and people.
//!
//! Handlers only read the collectors' latest snapshots: a check is answered from memory in
//! microseconds and never waits on a database. The accept loop is our own (not `axum::serve`)
//! because a health-check port needs two guards axum does not expose: a header-read timeout, so a
//! slow client cannot hold a connection, and a cap on concurrent connections, so a flood waits in
//! the kernel's accept queue instead of exhausting descriptors. Every connection is closed after
//! one response, as clustercheck did and as HAProxy expects from `option httpchk`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::collectors::galera::GaleraWatch;
use crate::collectors::pacemaker::PacemakerWatch;
use crate::collectors::rabbitmq::RabbitWatch;
use crate::config::Config;
pub use paths::Pages;
use paths::{Page, Route};

mod check;
mod pages;
pub mod paths;
mod status;
mod ui;

/// Everything a handler may read. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub galera: Option<GaleraWatch>,
    /// Also feeds the VIP checks (`[vip]` needs `[pacemaker]`).
    pub pacemaker: Option<PacemakerWatch>,
    pub rabbitmq: Option<RabbitWatch>,
    pub started: Instant,
    pub started_wall: std::time::SystemTime,
    pub check_counts: CheckCounts,
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
}

impl AppState {
    pub fn new(config: Config, watches: Watches) -> Self {
        Self(Arc::new(Inner {
            config,
            galera: watches.galera,
            pacemaker: watches.pacemaker,
            rabbitmq: watches.rabbitmq,
            started: Instant::now(),
            started_wall: std::time::SystemTime::now(),
            check_counts: CheckCounts::default(),
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
}

impl CheckCounts {
    fn count_in(counters: &[AtomicU64; 2], healthy: bool) {
        counters[usize::from(!healthy)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every check with its counters, for the exposition.
    pub fn all(&self) -> [(&'static str, &[AtomicU64; 2]); 4] {
        [
            ("galera", &self.galera),
            ("pacemaker", &self.pacemaker),
            ("vip", &self.vip),
            ("rabbitmq", &self.rabbitmq),
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
        Route::Pacemaker => check::pacemaker(State(state)).await,
        Route::Vip => check::vip_check(&state, None),
        Route::VipNamed(name) => check::vip_check(&state, Some(&name)),
        Route::Page(Page::Metrics) => pages::exposition(State(state)).await,
        Route::Page(Page::Status) => pages::status_page(State(state)).await.into_response(),
        Route::Page(Page::Ui) => ui::page(State(state)).await.into_response(),
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
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(false);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors or a reset before accept: keep serving the others.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            // Errors here are the client's doing (reset, closed early, timed out): nothing to log
            // per connection on a port that is polled several times a second.
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
            drop(permit);
        });
    }
    // All slots back means all connections are done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all)).await;
}
