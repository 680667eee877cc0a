//! The health checks HAProxy polls: 200 healthy, 503 not, a one-line text body saying why.
//!
//! The Galera check answers any method (`OPTIONS / HTTP/1.0` is what a bare `option httpchk`
//! sends; GET and HEAD are common too) on any path not claimed by another endpoint, as
//! clustercheck under xinetd did.

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::AppState;
use crate::config::Compat;
use crate::health::galera::verdict;
use crate::health::rabbitmq::verdict as rabbitmq_verdict;

pub fn routes() -> Router<AppState> {
    // Any method, like the Galera check: HAProxy sends what `option httpchk` says.
    Router::new().route("/rabbitmq", any(rabbitmq))
}

/// The RabbitMQ check (`option httpchk GET /rabbitmq`), from the latest snapshot.
pub async fn rabbitmq(State(state): State<AppState>) -> Response {
    let Some(watch) = &state.rabbitmq else {
        return text(
            false,
            "RabbitMQ check is disabled in the configuration.\n".to_owned(),
        );
    };
    let snapshot = watch.borrow().clone();
    let verdict = rabbitmq_verdict(&snapshot, &state.config.rabbitmq, Instant::now());
    state.check_counts.count_rabbitmq(verdict.healthy);
    text(verdict.healthy, format!("{}\n", verdict.text))
}

pub async fn galera(State(state): State<AppState>) -> Response {
    let Some(galera) = &state.galera else {
        return text(
            false,
            "Galera check is disabled in the configuration.\n".to_owned(),
        );
    };
    let snapshot = galera.borrow().clone();
    let config = &state.config.galera;
    let verdict = verdict(&snapshot, config, Instant::now());
    state.check_counts.count(verdict.healthy);
    let body = match config.compat {
        Compat::Native => format!("{}\n", verdict.text),
        Compat::Percona => verdict.reason.percona().to_owned(),
    };
    text(verdict.healthy, body)
}

/// A check answer: text/plain, and `Connection: close` because HAProxy opens a new connection per
/// check and clustercheck always said so.
pub fn text(healthy: bool, body: String) -> Response {
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
