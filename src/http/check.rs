//! The health checks HAProxy polls: 200 healthy, 503 not, a one-line text body saying why.
//!
//! The Galera check answers any method (`OPTIONS / HTTP/1.0` is what a bare `option httpchk`
//! sends; GET and HEAD are common too) on `/`, `/galera` and any path whose first segment is not
//! reserved, as clustercheck under xinetd did ([`super::paths`] decides). `/pacemaker`, `/vip`
//! and `/vip/NAME` are checks of the same kind (any method, text/plain, `Connection: close`, 200
//! or 503), and so are `/rabbitmq`, `/writer` (200 on at most one node: docs/writer.md) and
//! `/writer/backup` (the writer variant's backup lines).

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{AppState, CheckCounts};
use crate::config::Compat;
use crate::health;

/// 200 iff the partition has quorum, this node is online and active, and nothing failed.
pub async fn pacemaker(State(state): State<AppState>) -> Response {
    let Some(watch) = &state.pacemaker else {
        return disabled("Pacemaker");
    };
    let snapshot = watch.borrow().clone();
    let verdict = health::pacemaker::verdict(&snapshot, &state.config.pacemaker, Instant::now());
    CheckCounts::count_in(&state.check_counts.pacemaker, verdict.healthy);
    text(verdict.healthy, format!("{}\n", verdict.reason))
}

/// 200 iff this host holds every configured VIP (or the one named `only`) and Pacemaker agrees.
pub(super) fn vip_check(state: &AppState, only: Option<&str>) -> Response {
    let (Some(watch), true) = (&state.pacemaker, state.config.vip.enabled) else {
        return disabled("VIP");
    };
    let mut entries = state.config.vip.entries();
    if let Some(name) = only {
        entries.retain(|e| e.name() == name);
        if entries.is_empty() {
            return text(false, format!("No VIP named {name:.64} is configured.\n"));
        }
    }
    let snapshot = watch.borrow().clone();
    let states =
        health::vip::evaluate(&snapshot, &entries, &state.config.pacemaker, Instant::now());
    let verdict = health::vip::verdict(&states);
    CheckCounts::count_in(&state.check_counts.vip, verdict.healthy);
    text(verdict.healthy, format!("{}\n", verdict.reason))
}

/// The RabbitMQ check (`option httpchk GET /rabbitmq`), from the latest snapshot.
pub async fn rabbitmq(State(state): State<AppState>) -> Response {
    let Some(watch) = &state.rabbitmq else {
        return not_watched("RabbitMQ", state.config.rabbitmq.enabled);
    };
    let snapshot = watch.borrow().clone();
    let verdict = health::rabbitmq::verdict(&snapshot, &state.config.rabbitmq, Instant::now());
    CheckCounts::count_in(&state.check_counts.rabbitmq, verdict.healthy);
    text(verdict.healthy, format!("{}\n", verdict.reason))
}

pub async fn galera(State(state): State<AppState>) -> Response {
    let Some(galera) = &state.galera else {
        return disabled("Galera");
    };
    let snapshot = galera.borrow().clone();
    let config = &state.config.galera;
    let verdict = state.galera_verdict(&snapshot, Instant::now());
    CheckCounts::count_in(&state.check_counts.galera, verdict.healthy);
    let body = match config.compat {
        Compat::Native => format!("{}\n", verdict.reason),
        Compat::Percona => verdict.rule.percona().to_owned(),
    };
    text(verdict.healthy, body)
}

/// `/writer`: 200 on at most one node at any moment (docs/writer.md), from the latest lease
/// snapshot and the Galera verdict, both judged at this instant.
pub(super) fn writer(state: &AppState) -> Response {
    let (Some(watch), Some(galera)) = (&state.writer, &state.galera) else {
        return disabled("Writer");
    };
    let verdict = writer_verdict(state, &watch.borrow(), &galera.borrow(), Instant::now());
    CheckCounts::count_in(&state.check_counts.writer, verdict.healthy);
    text(verdict.healthy, format!("{}\n", verdict.reason))
}

/// `/writer/backup`: the check of the writer variant's `backup` lines, 200 on a healthy node
/// except, for a while after a handover, on every node but the new writer (docs/writer.md).
pub(super) fn writer_backup(state: &AppState) -> Response {
    let (Some(watch), Some(galera)) = (&state.writer, &state.galera) else {
        return disabled("Writer");
    };
    let verdict = writer_backup_verdict(state, &watch.borrow(), &galera.borrow(), Instant::now());
    CheckCounts::count_in(&state.check_counts.writer_backup, verdict.healthy);
    text(verdict.healthy, format!("{}\n", verdict.reason))
}

/// The writer verdict at `now`: the Galera verdict first, then the lease's timing rules.
pub(super) fn writer_verdict(
    state: &AppState,
    writer: &crate::collectors::writer::WriterSnapshot,
    galera: &crate::collectors::galera::GaleraSnapshot,
    now: Instant,
) -> health::writer::Verdict {
    let galera = state.galera_verdict(galera, now);
    health::writer::verdict(
        writer,
        (galera.healthy, &galera.reason),
        &state.config.writer,
        now,
    )
}

/// The `/writer/backup` verdict at `now`: the Galera verdict first, then the handover hold.
pub(super) fn writer_backup_verdict(
    state: &AppState,
    writer: &crate::collectors::writer::WriterSnapshot,
    galera: &crate::collectors::galera::GaleraSnapshot,
    now: Instant,
) -> health::writer::BackupVerdict {
    let galera = state.galera_verdict(galera, now);
    health::writer::backup_verdict(
        writer,
        (galera.healthy, &galera.reason),
        &state.config.writer,
        now,
    )
}

/// A check whose subsystem is off answers 503: HAProxy must never take "not watched" for healthy.
fn disabled(check: &str) -> Response {
    not_watched(check, false)
}

/// 503 for a subsystem nobody watches: switched off, or enabled but its collector could not start
/// (the reason is in the log from start-up).
fn not_watched(check: &str, enabled: bool) -> Response {
    let body = if enabled {
        format!("{check} collector did not start; see the log from start-up.\n")
    } else {
        format!("{check} check is disabled in the configuration.\n")
    };
    text(false, body)
}

/// A check answer: 200 or 503, as [`plain`] text.
pub fn text(healthy: bool, body: String) -> Response {
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    plain(status, body)
}

/// A text/plain answer with `Connection: close`, because HAProxy opens a new connection per check
/// and clustercheck always said so.
pub fn plain(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn an_enabled_subsystem_without_a_collector_is_not_called_disabled() {
        let (status, body) = body_of(not_watched("RabbitMQ", true)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("did not start"), "{body}");
        let (status, body) = body_of(not_watched("RabbitMQ", false)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("disabled in the configuration"), "{body}");
    }
}
