//! Pages for Prometheus and people: /metrics, /status, /cluster and /ui, rendered from the
//! latest snapshots.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::{cluster, status, ui, AppState};
use crate::metrics::{self, Scrape};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(exposition))
        .route("/status", get(status_page))
        .route("/ui", get(ui::page))
        .route("/cluster", get(cluster_page))
}

pub(super) async fn exposition(State(state): State<AppState>) -> Response {
    let galera = state.galera.as_ref().map(|w| w.borrow().clone());
    let pacemaker = state.pacemaker.as_ref().map(|w| w.borrow().clone());
    let rabbitmq = state.rabbitmq.as_ref().map(|w| w.borrow().clone());
    let writer = state.writer.as_ref().map(|w| w.borrow().clone());
    let peers = state.peers.as_ref().map(|w| w.borrow().clone());
    let check_counts = state
        .check_counts
        .all()
        .map(|(check, counters)| {
            (
                check,
                [
                    counters[0].load(Ordering::Relaxed),
                    counters[1].load(Ordering::Relaxed),
                ],
            )
        })
        .to_vec();
    let text = metrics::render(&Scrape {
        config: &state.config,
        galera: galera.as_deref(),
        pacemaker: pacemaker.as_deref(),
        rabbitmq: rabbitmq.as_deref(),
        writer: writer.as_deref(),
        peers: peers.as_deref(),
        check_counts,
        agent_counts: state
            .agent_counts
            .each_ref()
            .map(|count| count.load(Ordering::Relaxed)),
        started_wall: state.started_wall,
        now: Instant::now(),
    });
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

pub(super) async fn status_page(State(state): State<AppState>) -> Json<Value> {
    Json(status::document(&state, Instant::now()))
}

pub(super) async fn cluster_page(State(state): State<AppState>) -> Json<Value> {
    Json(cluster::document(&state, Instant::now()))
}
