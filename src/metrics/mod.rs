//! The Prometheus exposition, built at scrape time from the collectors' latest snapshots.
//!
//! Each scrape renders what the snapshots say right now, so a series exists exactly while its
//! value is known: when a database stops answering, its wsrep gauges disappear instead of
//! repeating the last value, and `clustercheckd_collector_up` says why. Families are built with
//! the prometheus crate's data model and encoded by its text encoder; [`Exposition`] only makes
//! sure each family is declared once with one type and help text.
//!
//! One file per subsystem renders its series from its snapshot and its verdict ([`galera`],
//! [`pacemaker`], [`vip`], [`rabbitmq`]); [`render`] assembles the whole page. Every series is
//! documented in docs/metrics.md.

pub mod cluster;
pub mod galera;
pub mod pacemaker;
pub mod rabbitmq;
pub mod vip;
pub mod writer;

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::collectors::galera::GaleraSnapshot;
use crate::collectors::pacemaker::PacemakerSnapshot;
use crate::collectors::peers::PeersSnapshot;
use crate::collectors::rabbitmq::RabbitSnapshot;
use crate::collectors::writer::WriterSnapshot;
use crate::collectors::CollectorStats;
use crate::config::Config;
use crate::health;

/// What one scrape renders: the latest snapshot of each enabled subsystem, and the daemon's own
/// counters.
pub struct Scrape<'a> {
    pub config: &'a Config,
    pub galera: Option<&'a GaleraSnapshot>,
    pub pacemaker: Option<&'a PacemakerSnapshot>,
    pub rabbitmq: Option<&'a RabbitSnapshot>,
    /// The writer lease; rendered only together with the Galera snapshot (its verdict needs it).
    pub writer: Option<&'a WriterSnapshot>,
    /// The peers' latest answers; `None` without `[peers]`.
    pub peers: Option<&'a PeersSnapshot>,
    /// Answered checks per check name: [200, 503].
    pub check_counts: Vec<(&'static str, [u64; 2])>,
    /// Agent replies by kind, in [`health::agent::Reply::KINDS`] order.
    pub agent_counts: [u64; 5],
    pub started_wall: SystemTime,
    pub now: Instant,
}

/// The whole exposition page.
pub fn render(scrape: &Scrape) -> String {
    let config = scrape.config;
    let now = scrape.now;
    let mut e = Exposition::new();
    e.gauge(
        "build_info",
        "Version of the running clustercheckd; always 1.",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.gauge(
        "start_time_seconds",
        "Unix time the daemon started.",
        &[],
        scrape
            .started_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    let peers = scrape.peers.map(|snapshot| health::galera::Peers {
        snapshot,
        max_staleness: config.peers.max_staleness(),
    });
    let mut local = None;
    if let Some(snapshot) = scrape.galera {
        let verdict = health::galera::verdict(snapshot, peers, &config.galera, now);
        galera::render(&mut e, snapshot, &config.galera, &verdict);
        // The writer lease is judged on the Galera verdict, and is rendered only with it.
        let claim = scrape.writer.map(|writer_snapshot| {
            let writer_verdict = health::writer::verdict(
                writer_snapshot,
                (verdict.healthy, &verdict.reason),
                &config.writer,
                now,
            );
            writer::render(&mut e, writer_snapshot, &writer_verdict, now);
            health::writer::claim(writer_snapshot, &writer_verdict)
        });
        local = Some(health::cluster::local_report(
            snapshot,
            verdict.healthy,
            &verdict.reason,
            claim,
            now,
        ));
    }
    if let Some(snapshot) = scrape.peers {
        let view = health::cluster::view(
            local.as_ref(),
            Some(snapshot),
            config.peers.max_staleness(),
            now,
        );
        cluster::render(&mut e, snapshot, &view);
    }
    if let Some(snapshot) = scrape.pacemaker {
        let verdict = health::pacemaker::verdict(snapshot, &config.pacemaker, now);
        pacemaker::render(&mut e, snapshot, &verdict);
        if config.vip.enabled {
            let states =
                health::vip::evaluate(snapshot, &config.vip.entries(), &config.pacemaker, now);
            vip::render(&mut e, &states);
        }
    }
    if let Some(snapshot) = scrape.rabbitmq {
        let verdict = health::rabbitmq::verdict(snapshot, &config.rabbitmq, now);
        rabbitmq::render(&mut e, snapshot, &config.rabbitmq, &verdict);
    }
    // Every check, enabled or not (a disabled one still answers 503), for a stable label set.
    for (check, [ok, unavailable]) in &scrape.check_counts {
        for (code, count) in [("200", ok), ("503", unavailable)] {
            e.counter(
                "check_requests_total",
                "Health checks answered, by check and status code.",
                &[("check", check), ("code", code)],
                *count as f64,
            );
        }
    }
    // All five kinds always, with or without an agent listener: a stable label set.
    for (reply, count) in health::agent::Reply::KINDS.iter().zip(scrape.agent_counts) {
        e.counter(
            "agent_replies_total",
            "HAProxy agent-check replies sent, by kind.",
            &[("reply", reply)],
            count as f64,
        );
    }
    e.encode()
}

/// Prefix of every series: collides with no other exporter's names.
pub const PREFIX: &str = "clustercheckd_";

#[derive(Default)]
pub struct Exposition {
    families: Vec<MetricFamily>,
    index: HashMap<String, usize>,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// A gauge sample. `name` is without the `clustercheckd_` prefix.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        let mut gauge = Gauge::default();
        gauge.set_value(value);
        let mut metric = Metric::from_gauge(gauge);
        metric.set_label(label_pairs(labels));
        self.push(name, help, MetricType::GAUGE, metric);
    }

    /// A counter sample; `name` must end in `_total`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        let mut counter = Counter::default();
        counter.set_value(value);
        let mut metric = Metric::default();
        metric.set_counter(counter);
        metric.set_label(label_pairs(labels));
        self.push(name, help, MetricType::COUNTER, metric);
    }

    pub fn flag(&mut self, name: &str, help: &str, labels: &[(&str, &str)], on: bool) {
        self.gauge(name, help, labels, if on { 1.0 } else { 0.0 });
    }

    /// A state set: one series per possible value, 1 for the current one, so a text value is
    /// kept as a time series instead of being dropped.
    pub fn state_set(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        possible: &[&str],
        current: &str,
    ) {
        for value in possible {
            self.flag(name, help, &[(label, value)], *value == current);
        }
    }

    fn push(&mut self, name: &str, help: &str, kind: MetricType, metric: Metric) {
        let full = format!("{PREFIX}{name}");
        let index = match self.index.get(&full) {
            Some(&i) => i,
            None => {
                let mut family = MetricFamily::default();
                family.set_name(full.clone());
                family.set_help(help.to_owned());
                family.set_field_type(kind);
                self.families.push(family);
                self.index.insert(full, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        self.families[index].mut_metric().push(metric);
    }

    /// The shared per-collector self-metrics.
    pub fn collector(&mut self, collector: &str, stats: &CollectorStats) {
        let labels = [("collector", collector)];
        self.flag(
            "collector_up",
            "Whether the collector's last poll succeeded (1) or failed (0).",
            &labels,
            stats.up,
        );
        self.gauge(
            "collector_poll_duration_seconds",
            "How long the collector's last poll took.",
            &labels,
            stats.last_poll_duration.as_secs_f64(),
        );
        self.counter(
            "collector_poll_errors_total",
            "Polls that failed since the daemon started.",
            &labels,
            stats.errors_total as f64,
        );
        // Zero until the first success: "never" is older than any alert threshold.
        self.gauge(
            "collector_last_success_timestamp_seconds",
            "Unix time of the collector's last successful poll (0: never).",
            &labels,
            stats.last_success_unix_seconds().unwrap_or(0.0),
        );
    }

    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding our own well-formed families cannot fail; an empty page is the fallback.
        if TextEncoder::new()
            .encode(&self.families, &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

fn label_pairs(labels: &[(&str, &str)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_family_per_name_with_all_samples() {
        let mut e = Exposition::new();
        e.flag("x_up", "help", &[("collector", "a")], true);
        e.flag("x_up", "help", &[("collector", "b")], false);
        let text = e.encode();
        assert_eq!(text.matches("# TYPE clustercheckd_x_up gauge").count(), 1);
        assert!(text.contains("clustercheckd_x_up{collector=\"a\"} 1"));
        assert!(text.contains("clustercheckd_x_up{collector=\"b\"} 0"));
    }

    #[test]
    fn state_set_marks_only_the_current_value() {
        let mut e = Exposition::new();
        e.state_set("s", "help", "state", &["a", "b", "c"], "b");
        let text = e.encode();
        assert!(text.contains("clustercheckd_s{state=\"a\"} 0"));
        assert!(text.contains("clustercheckd_s{state=\"b\"} 1"));
        assert!(text.contains("clustercheckd_s{state=\"c\"} 0"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::new();
        e.gauge("i", "help", &[("v", "a\"b\\c\nd")], 1.0);
        assert!(e.encode().contains(r#"clustercheckd_i{v="a\"b\\c\nd"} 1"#));
    }
}
