//! The Prometheus exposition, built at scrape time from the collectors' latest snapshots.
//!
//! Each scrape renders what the snapshots say right now, so a series exists exactly while its
//! value is known: when a database stops answering, its wsrep gauges disappear instead of
//! repeating the last value, and `clustercheckd_collector_up` says why. Families are built with
//! the prometheus crate's data model and encoded by its text encoder; [`Exposition`] only makes
//! sure each family is declared once with one type and help text.

use std::collections::HashMap;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

use crate::collectors::CollectorStats;

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
