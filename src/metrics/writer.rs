//! The writer-lease series: whether this node is the writer now, the lease as this node last
//! read it, and what its lease statements came to. Summed over the nodes,
//! `clustercheckd_writer_is_writer` is 0 (nobody: the HAProxy backups take the writes) or 1;
//! never more (docs/writer.md).

use std::time::Instant;

use super::Exposition;
use crate::collectors::writer::{Outcome, WriterSnapshot};
use crate::health::writer::Verdict;

pub fn render(e: &mut Exposition, snapshot: &WriterSnapshot, verdict: &Verdict, now: Instant) {
    e.collector("writer", &snapshot.stats);
    e.flag(
        "writer_is_writer",
        "1 while this node answers 200 on /writer. Summed over the nodes: 0 or 1, never more.",
        &[],
        verdict.healthy,
    );
    e.flag(
        "writer_holds_lease",
        "1 while this daemon holds the writer lease (also during the handover gap and after its \
         deadline passed without a renewal).",
        &[],
        snapshot.holding().is_some(),
    );
    for outcome in Outcome::ALL {
        e.counter(
            "writer_lease_renewals_total",
            "Lease statements (renewals, releases, acquisitions) by result: ok, lost (the row \
             moved), conflict (Galera certification, 1213), not_primary, timeout, error.",
            &[("result", outcome.label())],
            snapshot.statements.get(outcome) as f64,
        );
    }
    e.counter(
        "writer_handovers_total",
        "Times this daemon acquired the writer lease (each is a handover to this node).",
        &[],
        snapshot.acquisitions as f64,
    );
    e.counter(
        "writer_releases_total",
        "Times this daemon released the writer lease (unhealthy node or shutdown).",
        &[],
        snapshot.releases as f64,
    );
    if let (Ok(lease), Some(seen_since)) = (&snapshot.lease, snapshot.seen_since) {
        e.gauge(
            "writer_lease_age_seconds",
            "How long the lease row has not changed, by this node's clock (a live holder renews \
             it every renew_interval; another node takes over past lease + margin).",
            &[],
            now.saturating_duration_since(seen_since).as_secs_f64(),
        );
        e.gauge(
            "writer_lease_generation",
            "The lease's generation as last read (bumped by every acquisition).",
            &[],
            lease.generation as f64,
        );
    }
    if let Some(holding) = snapshot.holding() {
        e.gauge(
            "writer_since_renewal_seconds",
            "On the holder: time since its last confirmed renewal was sent (no 200 past \
             lease - margin).",
            &[],
            now.saturating_duration_since(holding.renewal_issued)
                .as_secs_f64(),
        );
    }
}
