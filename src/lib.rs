//! clustercheckd: one long-running process per controller that watches the stateful heart of an
//! OpenStack HA control plane and answers HAProxy's health checks from memory.
//!
//! Data flows one way: collectors poll on their own intervals and publish immutable snapshots
//! ([`collectors`]); the decisions turn a snapshot into a verdict ([`health`]); the HTTP side
//! renders verdicts, status and metrics from the latest snapshots ([`http`], [`metrics`]).
//! [`run`] takes already-bound listeners and a shutdown token, so tests start the real server on
//! port 0.

pub mod collectors;
pub mod config;
pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, RabbitmqCredentials};
use crate::http::{AppState, Limits, Watches};

/// The listeners, bound by the caller before anything else starts (so a port clash is a start-up
/// error, and tests can bind port 0).
pub struct Listeners {
    pub check: TcpListener,
    pub metrics: Option<TcpListener>,
}

/// Run the collectors and the listeners until `shutdown` is cancelled.
pub async fn run(config: Config, listeners: Listeners, shutdown: CancellationToken) {
    let mut tasks = Vec::new();
    // The endpoint and credentials were resolved once by `Config::load`, and are present exactly
    // for the enabled sections.
    let galera = match (config.galera.enabled, &config.galera.endpoint) {
        (true, Some(endpoint)) => {
            let (watch, task) = collectors::galera::spawn(
                config.galera.clone(),
                endpoint.clone(),
                shutdown.clone(),
            );
            tasks.push(task);
            Some(watch)
        }
        _ => None,
    };
    let pacemaker = if config.pacemaker.enabled {
        let (watch, task) = collectors::pacemaker::spawn(
            config.pacemaker.clone(),
            config.vip.enabled,
            shutdown.clone(),
        );
        tasks.push(task);
        Some(watch)
    } else {
        None
    };
    let rabbitmq = match (config.rabbitmq.enabled, &config.rabbitmq.credentials) {
        (true, Some(credentials)) => start_rabbitmq(&config, credentials, &shutdown, &mut tasks),
        _ => None,
    };
    let limits = Limits {
        header_read_timeout: config.listen.header_read_timeout,
        max_connections: config.listen.max_connections,
    };
    let watches = Watches {
        galera,
        pacemaker,
        rabbitmq,
    };
    let state = AppState::new(config, watches);
    let with_pages = listeners.metrics.is_none();
    tasks.push(tokio::spawn(http::serve(
        listeners.check,
        http::check_router(state.clone(), with_pages),
        limits,
        shutdown.clone(),
    )));
    if let Some(listener) = listeners.metrics {
        tasks.push(tokio::spawn(http::serve(
            listener,
            http::pages_router(state),
            limits,
            shutdown.clone(),
        )));
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn start_rabbitmq(
    config: &Config,
    credentials: &RabbitmqCredentials,
    shutdown: &CancellationToken,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<collectors::rabbitmq::RabbitWatch> {
    let spawned = collectors::rabbitmq::spawn(
        config.rabbitmq.clone(),
        credentials.clone(),
        shutdown.clone(),
    );
    match spawned {
        Ok((watch, handles)) => {
            tasks.extend(handles);
            Some(watch)
        }
        Err(error) => {
            tracing::error!(%error, "rabbitmq collector not started");
            None
        }
    }
}
