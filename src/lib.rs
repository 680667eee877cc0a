//! clustercheckd: one long-running process per controller that watches the stateful heart of an
//! OpenStack HA control plane and answers HAProxy's health checks from memory.
//!
//! Data flows one way (docs/architecture.md; tests/architecture.rs enforces it):
//! config <- collectors <- health <- (metrics, http, transitions) <- lib/main. Collectors poll on
//! their own intervals and publish immutable snapshots ([`collectors`]); the decisions turn a
//! snapshot into a verdict ([`health`]); the exposition, the HTTP side and the transition log
//! read verdicts and snapshots ([`metrics`], [`http`], [`transitions`]). [`run`] takes
//! already-bound listeners and a shutdown token, so tests start the real server on port 0.

pub mod collectors;
pub mod config;
pub mod drain;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod recover;
pub mod transitions;

#[cfg(test)]
mod golden_tests;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, RabbitmqCredentials};
use crate::http::{AppState, Limits, Watches};
use crate::transitions::Histories;

/// The listeners, bound by the caller before anything else starts (so a port clash is a start-up
/// error, and tests can bind port 0).
pub struct Listeners {
    pub check: TcpListener,
    pub metrics: Option<TcpListener>,
    /// The HAProxy agent-check listener (`listen.agent`), if one is configured.
    pub agent: Option<TcpListener>,
    /// The loaded web config (TLS, basic auth) for the metrics listener, if one is configured:
    /// loaded before binding ([`http::web::Web::from_config`]), so a bad one stops start-up.
    pub web: Option<http::web::Web>,
}

/// Run the collectors and the listeners until `shutdown` is cancelled.
pub async fn run(config: Config, listeners: Listeners, shutdown: CancellationToken) {
    let Ok(()) = run_with_ready(config, listeners, shutdown, || {
        Ok::<(), std::convert::Infallible>(())
    })
    .await;
}

/// [`run`], calling `ready` once the listeners are about to accept checks: after each enabled
/// collector's first poll (see [`first_polls`]). When `ready` fails, everything is shut down and
/// its error returned.
pub async fn run_with_ready<E>(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
    ready: impl FnOnce() -> Result<(), E>,
) -> Result<(), E> {
    let mut tasks = Vec::new();
    let mut histories = Histories::default();
    // The endpoint and credentials were resolved once by `Config::load`, and are present exactly
    // for the enabled sections.
    let galera = match (config.galera.enabled, &config.galera.endpoint) {
        (true, Some(endpoint)) => {
            let (feed, task) = collectors::galera::spawn(
                config.galera.clone(),
                endpoint.clone(),
                shutdown.clone(),
            );
            tasks.push(task);
            histories.galera = Some(feed.history);
            Some(feed.latest)
        }
        _ => None,
    };
    let pacemaker = if config.pacemaker.enabled {
        let (feed, task) = collectors::pacemaker::spawn(
            config.pacemaker.clone(),
            config.node_name.clone(),
            config.vip.enabled,
            shutdown.clone(),
        );
        tasks.push(task);
        histories.pacemaker = Some(feed.history);
        Some(feed.latest)
    } else {
        None
    };
    let rabbitmq = match (config.rabbitmq.enabled, &config.rabbitmq.credentials) {
        (true, Some(credentials)) => start_rabbitmq(&config, credentials, &shutdown, &mut tasks)
            .map(|feed| {
                histories.rabbitmq = Some(feed.history);
                feed.latest
            }),
        _ => None,
    };
    // Peer failures are never fatal: a client that cannot be built costs the cluster view only.
    let peers = if config.peers.enabled() {
        match collectors::peers::spawn(config.peers.clone(), shutdown.clone()) {
            Ok((feed, task)) => {
                tasks.push(task);
                Some(feed.latest)
            }
            Err(error) => {
                tracing::error!(%error, "peers collector not started");
                None
            }
        }
    } else {
        None
    };
    histories.peers = peers.clone();
    let writer = match (&config.writer.endpoint, &galera) {
        (Some(endpoint), Some(galera)) if config.writer.enabled => {
            // The lease acts on the Galera verdict without the collector layer judging: it gets
            // the verdict as a function, the same one the check gives (a stale view included).
            let galera = galera.clone();
            let peers = peers.clone();
            let galera_config = config.galera.clone();
            let peers_staleness = config.peers.max_staleness();
            let healthy: collectors::writer::Healthy = std::sync::Arc::new(move || {
                let peers = peers.as_ref().map(|watch| watch.borrow().clone());
                let peers = peers.as_deref().map(|snapshot| health::galera::Peers {
                    snapshot,
                    max_staleness: peers_staleness,
                });
                health::galera::verdict(
                    &galera.borrow(),
                    peers,
                    &galera_config,
                    std::time::Instant::now(),
                )
                .healthy
            });
            let (feed, task) = collectors::writer::spawn(
                config.writer.clone(),
                endpoint.clone(),
                healthy,
                shutdown.clone(),
            );
            tasks.push(task);
            Some(feed.latest)
        }
        _ => None,
    };
    // They end by themselves when their collectors stop (the history channels close).
    tasks.extend(transitions::spawn(&config, histories));
    let limits = Limits {
        header_read_timeout: config.listen.header_read_timeout,
        max_connections: config.listen.max_connections,
        max_connections_per_source: config.listen.max_connections_per_source,
    };
    let watches = Watches {
        galera,
        pacemaker,
        rabbitmq,
        writer,
        peers,
    };
    first_polls(&config, &watches, &shutdown).await;
    let state = AppState::new(config, watches);
    // With a metrics listener, the check port names where the pages went; its bound address is
    // the truth (the configured one may say port 0).
    let pages = match &listeners.metrics {
        None => http::Pages::Here,
        Some(listener) => match listener.local_addr() {
            Ok(address) => http::Pages::MovedTo(address),
            Err(_) => http::Pages::MovedTo(
                state
                    .config
                    .listen
                    .metrics
                    .unwrap_or(state.config.listen.check),
            ),
        },
    };
    if let Some(listener) = listeners.agent {
        tasks.push(tokio::spawn(http::agent::serve(
            listener,
            state.clone(),
            limits,
            shutdown.clone(),
        )));
    }
    tasks.push(tokio::spawn(http::serve(
        listeners.check,
        http::check_router(state.clone(), pages),
        limits,
        shutdown.clone(),
    )));
    match (listeners.metrics, listeners.web) {
        (Some(listener), Some(web)) => {
            let (handle, watcher) = web.start(shutdown.clone());
            tasks.push(watcher);
            tasks.push(tokio::spawn(http::serve_web(
                listener,
                http::pages_router(state),
                limits,
                handle,
                shutdown.clone(),
            )));
        }
        (Some(listener), None) => {
            http::web::log_hangups(shutdown.clone());
            tasks.push(tokio::spawn(http::serve(
                listener,
                http::pages_router(state),
                limits,
                shutdown.clone(),
            )));
        }
        // Config validation refuses a web config without listen.metrics: the check port never
        // gets TLS or auth, which HAProxy's checks could not pass.
        (None, Some(_)) => tracing::error!("web config ignored: there is no metrics listener"),
        (None, None) => http::web::log_hangups(shutdown.clone()),
    }
    let ready = ready();
    if ready.is_err() {
        shutdown.cancel();
    }
    for task in tasks {
        let _ = task.await;
    }
    ready
}

/// Wait until every enabled collector has published its first poll, each for at most its poll
/// timeout (all at once, so at most the longest one), or until shutdown. The listeners are
/// already bound, so HAProxy's checks meanwhile wait in the accept queue instead of being refused;
/// once accepted they are answered from a real poll, never with "no poll has completed yet". That
/// is what makes a restart of the daemon invisible to HAProxy: without it, the first checks after
/// a restart answer 503 and `fall` of them mark a healthy node DOWN (tests/restart.rs).
async fn first_polls(config: &Config, watches: &Watches, shutdown: &CancellationToken) {
    let started = std::time::Instant::now();
    let polled = async {
        tokio::join!(
            first_poll("galera", watches.galera.clone(), config.galera.timeout),
            first_poll(
                "pacemaker",
                watches.pacemaker.clone(),
                config.pacemaker.timeout
            ),
            first_poll(
                "rabbitmq",
                watches.rabbitmq.clone(),
                config.rabbitmq.timeout
            ),
        )
    };
    tokio::select! {
        _ = polled => tracing::info!(took_ms = started.elapsed().as_millis() as u64,
            "first polls done; accepting checks"),
        _ = shutdown.cancelled() => {}
    }
}

/// Wait for one collector's first published snapshot, at most `timeout`.
async fn first_poll<S>(
    name: &str,
    watch: Option<tokio::sync::watch::Receiver<S>>,
    timeout: std::time::Duration,
) {
    let Some(mut watch) = watch else { return };
    if tokio::time::timeout(timeout, watch.changed())
        .await
        .is_err()
    {
        tracing::warn!(
            collector = name,
            "first poll not done within its timeout; accepting checks anyway"
        );
    }
}

/// The RabbitMQ collector can still fail to start (its HTTP client cannot be built): that
/// subsystem then reports nothing while the others keep working.
fn start_rabbitmq(
    config: &Config,
    credentials: &RabbitmqCredentials,
    shutdown: &CancellationToken,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<collectors::Feed<collectors::rabbitmq::RabbitSnapshot>> {
    match collectors::rabbitmq::spawn(
        config.rabbitmq.clone(),
        credentials.clone(),
        shutdown.clone(),
    ) {
        Ok((feed, handles)) => {
            tasks.extend(handles);
            Some(feed)
        }
        Err(error) => {
            tracing::error!(%error, "rabbitmq collector not started");
            None
        }
    }
}
