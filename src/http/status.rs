//! The /status document: one section per enabled subsystem, each with its verdict (`healthy`,
//! `reason`) first and then what the snapshot knows. /status serves it as JSON and /ui renders it
//! for people; both read it from here, so they never disagree.

use std::time::Instant;

use serde_json::{json, Value};

use super::AppState;
use crate::collectors::galera::grastate;
use crate::collectors::{galera, pacemaker, rabbitmq, writer};
use crate::health;

/// The whole status document: one section per enabled subsystem, each with its verdict
/// (`healthy`, `reason`) first. /status serves it as JSON and /ui renders it for people.
pub fn document(state: &AppState, now: Instant) -> Value {
    let mut body = json!({
        "node_name": state.config.node_name,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": now.duration_since(state.started).as_secs_f64(),
    });
    if let Some(watch) = &state.galera {
        body["galera"] = galera_status(&watch.borrow(), state, now);
    }
    if let Some(watch) = &state.pacemaker {
        let snapshot = watch.borrow().clone();
        body["pacemaker"] = pacemaker_status(&snapshot, state, now);
        if state.config.vip.enabled {
            body["vip"] = vip_status(&snapshot, state, now);
        }
    }
    if let Some(watch) = &state.rabbitmq {
        let snapshot = watch.borrow().clone();
        body["rabbitmq"] = rabbitmq_status(&snapshot, state, now);
    }
    if let (Some(writer), Some(galera)) = (&state.writer, &state.galera) {
        let writer = writer.borrow().clone();
        let galera = galera.borrow().clone();
        body["writer"] = writer_status(&writer, &galera, state, now);
    }
    body
}

/// The top-level `writer` object (peers read it from each other's /status): who holds the
/// lease as this node last read it, and whether this node is the writer now.
fn writer_status(
    snapshot: &writer::WriterSnapshot,
    galera: &galera::GaleraSnapshot,
    state: &AppState,
    now: Instant,
) -> Value {
    let verdict = super::check::writer_verdict(state, snapshot, galera, now);
    // The claim peers read (`is_writer`, `holder`), derived where /cluster and the metrics
    // derive it.
    let claim = health::writer::claim(snapshot, &verdict);
    let backup = super::check::writer_backup_verdict(state, snapshot, galera, now);
    let age = |t: Instant| now.saturating_duration_since(t).as_secs_f64();
    let lease = snapshot.lease.as_ref().ok();
    let holding = snapshot.holding();
    json!({
        "healthy": verdict.healthy,
        "reason": verdict.reason,
        "is_writer": claim.claimed,
        "identity": snapshot.identity,
        "holder": claim.holder,
        "generation": lease.map(|l| l.generation),
        "renewals": lease.map(|l| l.renewals),
        "holds_lease": holding.is_some(),
        "lease_age_seconds": snapshot.seen_since.map(age),
        "since_renewal_seconds": holding.map(|h| age(h.renewal_issued)),
        // `/writer/backup` (the writer variant's backup lines) at this instant.
        "backup_ok": backup.healthy,
        "backup_reason": backup.reason,
        // Only while a new holder waits out the gap: null once it has passed.
        "handover_gap_remaining_seconds": holding
            .filter(|h| h.answer_from > now)
            .map(|h| (h.answer_from - now).as_secs_f64()),
        "last_statement": snapshot.last_statement.map(|s| json!({
            "statement": s.statement,
            "result": s.outcome,
            "age_seconds": age(s.sent),
        })),
        "acquisitions": snapshot.acquisitions,
        "releases": snapshot.releases,
        "snapshot_age_seconds": snapshot.taken_at.map(age),
        "collector": snapshot.stats,
        "error": snapshot.lease.as_ref().err().map(|e| e.to_string()),
    })
}

fn galera_status(snapshot: &galera::GaleraSnapshot, state: &AppState, now: Instant) -> Value {
    let config = &state.config.galera;
    let verdict = state.galera_verdict(snapshot, now);
    let mut section = json!({
        "healthy": verdict.healthy,
        "reason": verdict.reason,
        "expected_nodes": config.expected_nodes,
        "snapshot_age_seconds": snapshot.taken_at.map(|t| now.saturating_duration_since(t).as_secs_f64()),
        "maintenance_file": snapshot.maintenance_file,
        "recovering": snapshot.hold,
        "collector": snapshot.stats,
        "error": snapshot.outcome.as_ref().err().map(|e| e.to_string()),
        "mysqld": mysqld(snapshot, config, now),
    });
    // Only with `galera.data_dir`: grastate.dat and gvwstate.dat as read at the last poll (known
    // also while mysqld is down), each with the error that kept it out, if any. gvwstate.dat is
    // null without an error after a clean stop (Galera removes it).
    if let Some(files) = &snapshot.state_files {
        let error = |e: Option<&grastate::StateFileError>| e.map(|e| e.to_string());
        section["state_files"] = json!({
            "data_dir": config.data_dir,
            "grastate": files.grastate.as_ref().ok(),
            "grastate_error": error(files.grastate.as_ref().err()),
            "gvwstate": files.gvwstate.as_ref().ok().and_then(Option::as_ref),
            "gvwstate_error": error(files.gvwstate.as_ref().err()),
        });
    }
    if let Ok(polled) = &snapshot.outcome {
        let s = &polled.status;
        section["state"] = json!(s.local_state_comment);
        section["cluster_status"] = json!(s.cluster_status.to_string());
        section["cluster_size"] = json!(s.cluster_size);
        section["provider_version"] = json!(s.provider_version);
        // Galera's own name for this node (wsrep_node_name), which peers list in their members.
        section["node_name"] = json!(s.node_name);
        section["wsrep"] = json!(s);
        section["members"] = json!(polled.members);
    }
    section
}

/// Whether mysqld runs, as the last poll saw it: `running` (it answered, even with an error),
/// `down` (no connection could be made), `not_answering` (timed out: hung, overloaded or
/// starting) or `unknown` (never polled, or the snapshot is stale). `clustercheckd recover`
/// reads this field and advises only when every node says `down`.
fn mysqld(
    snapshot: &galera::GaleraSnapshot,
    config: &crate::config::GaleraConfig,
    now: Instant,
) -> Value {
    if health::freshness(snapshot.taken_at, config.max_staleness(), now).is_err() {
        return json!("unknown");
    }
    match &snapshot.outcome {
        Ok(_) => json!(galera::Mysqld::Running),
        Err(error) => json!(error.mysqld()),
    }
}

fn pacemaker_status(
    snapshot: &pacemaker::PacemakerSnapshot,
    state: &AppState,
    now: Instant,
) -> Value {
    let config = &state.config;
    let verdict = health::pacemaker::verdict(snapshot, &config.pacemaker, now);
    let mut section = json!({
        "healthy": verdict.healthy,
        "reason": verdict.reason,
        "node_name": snapshot.node.name(),
        "node_name_source": snapshot.node,
        "snapshot_age_seconds": snapshot.taken_at.map(|t| now.saturating_duration_since(t).as_secs_f64()),
        "crm_mon_format": snapshot.format,
        "collector": snapshot.stats,
        "error": snapshot.outcome.as_ref().err().map(|e| e.to_string()),
    });
    if let Ok(polled) = &snapshot.outcome {
        let c = &polled.cluster;
        section["summary"] = json!(c.summary);
        section["local_node"] = json!(snapshot.node.name().and_then(|n| c.node(n)));
        section["nodes"] = json!(c.nodes);
        section["resources"] = json!(c.resources);
        section["fail_counts"] = json!(c
            .fail_counts
            .iter()
            .filter(|f| f.fail_count > 0)
            .collect::<Vec<_>>());
        section["failed_actions"] = json!(c.failures);
        section["bans"] = json!(c.bans);
        match &polled.constraints {
            Ok(constraints) => section["constraints"] = json!(constraints),
            Err(error) => section["constraints_error"] = json!(error),
        }
    }
    section
}

fn vip_status(snapshot: &pacemaker::PacemakerSnapshot, state: &AppState, now: Instant) -> Value {
    let config = &state.config;
    let states = health::vip::evaluate(snapshot, &config.vip.entries(), &config.pacemaker, now);
    let verdict = health::vip::verdict(&states);
    json!({
        "healthy": verdict.healthy,
        "reason": verdict.reason,
        "vips": states,
        "local_addresses_error": snapshot
            .local_addresses
            .as_ref()
            .and_then(|a| a.as_ref().err()),
    })
}

fn rabbitmq_status(snapshot: &rabbitmq::RabbitSnapshot, state: &AppState, now: Instant) -> Value {
    let config = &state.config.rabbitmq;
    let verdict = health::rabbitmq::verdict(snapshot, config, now);
    let age = |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t).as_secs_f64());
    let mut section = json!({
        "healthy": verdict.healthy,
        "reason": verdict.reason,
        "expected_nodes": config.expected_nodes,
        "snapshot_age_seconds": age(snapshot.cluster.taken_at),
        "collector": snapshot.cluster.stats,
        "error": snapshot.cluster.outcome.as_ref().err().map(|e| e.to_string()),
        "probe": {
            "enabled": config.probe,
            "age_seconds": age(snapshot.probe.taken_at),
            "last": snapshot.probe.outcome,
            "duration_seconds": snapshot.probe.duration.as_secs_f64(),
            "counts": snapshot.probe.counts,
        },
        "queues": {
            "enabled": config.scan_queues,
            "age_seconds": age(snapshot.queues.taken_at),
            "collector": snapshot.queues.stats,
            "summary": snapshot.queues.outcome.as_ref().ok().map(|s| s.as_ref()),
            "error": snapshot.queues.outcome.as_ref().err().map(|e| e.to_string()),
        },
        "api_calls": snapshot.api_calls,
    });
    if let Some(cluster) = snapshot.cluster() {
        section["node"] = json!(cluster.overview.node);
        section["cluster_name"] = json!(cluster.overview.cluster_name);
        section["rabbitmq_version"] = json!(cluster.overview.rabbitmq_version);
        section["erlang_version"] = json!(cluster.overview.erlang_version);
        section["mirroring_supported"] = json!(cluster.mirroring_supported());
        section["nodes"] = json!(cluster.nodes);
        section["alarms"] = json!(cluster.alarms);
        section["alarms_source"] = json!(cluster.alarms_source);
        section["policies"] = json!(health::rabbitmq::policy_checks(snapshot, config));
    }
    section
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::writer::{Lease, WriterSnapshot};
    use crate::config::Config;
    use crate::http::Watches;

    /// The writer object's `is_writer` and `holder` (what peers read) are the claim /cluster and
    /// the metrics give: the holder the last read of the lease row names, nobody once released.
    #[test]
    fn the_writer_object_carries_the_claim() {
        let now = Instant::now();
        let state = AppState::new(Config::default(), Watches::default());
        let galera = galera::GaleraSnapshot::initial(now);
        let mut writer = WriterSnapshot::initial();
        writer.lease = Ok(Lease {
            holder: "node2".into(),
            generation: 4,
            renewals: 9,
        });
        let object = writer_status(&writer, &galera, &state, now);
        assert_eq!(object["holder"], "node2", "{object}");
        assert_eq!(object["is_writer"], false, "{object}");
        writer.lease = Ok(Lease {
            holder: String::new(),
            generation: 4,
            renewals: 10,
        });
        let object = writer_status(&writer, &galera, &state, now);
        assert!(object["holder"].is_null(), "{object}");
    }
}
