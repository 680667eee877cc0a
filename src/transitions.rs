//! The one place verdict changes are logged, for every subsystem.
//!
//! Each poller sends every snapshot it publishes, in order, down its history channel
//! ([`crate::collectors::Feed::history`]); this module judges each one at the time it was taken
//! and logs a line when the verdict's state changes: info when it turns healthy, warn when it
//! does not. Because every snapshot is seen, a 503 -> 200 -> 503 within a millisecond gives two
//! lines, where a reader of the latest snapshot alone would have seen nothing change.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::collectors::galera::GaleraSnapshot;
use crate::collectors::pacemaker::PacemakerSnapshot;
use crate::collectors::peers::PeersWatch;
use crate::collectors::rabbitmq::RabbitSnapshot;
use crate::config::Config;
use crate::health::{self, Rule, Verdict};

/// A verdict reduced to what a transition compares and what its log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub healthy: bool,
    /// [`Rule::state_key`]: the reason without values that change on every poll.
    pub key: String,
    pub reason: String,
}

impl<R: Rule> From<Verdict<R>> for Judged {
    fn from(verdict: Verdict<R>) -> Self {
        Self {
            healthy: verdict.healthy,
            key: verdict.rule.state_key(),
            reason: verdict.reason,
        }
    }
}

/// One change of a check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub check: &'static str,
    /// The reason before; `None` for the first verdict after start-up.
    pub from: Option<String>,
    pub to: Judged,
}

/// Remembers one check's last verdict and says when it changed.
#[derive(Debug)]
pub struct TransitionLog {
    check: &'static str,
    last: Option<Judged>,
}

impl TransitionLog {
    pub fn new(check: &'static str) -> Self {
        Self { check, last: None }
    }

    pub fn observe(&mut self, judged: Judged) -> Option<Transition> {
        let changed = self
            .last
            .as_ref()
            .is_none_or(|last| last.healthy != judged.healthy || last.key != judged.key);
        if !changed {
            return None;
        }
        let from = self.last.replace(judged.clone()).map(|last| last.reason);
        Some(Transition {
            check: self.check,
            from,
            to: judged,
        })
    }
}

fn log(transition: &Transition) {
    let from = transition.from.as_deref().unwrap_or("start");
    let to = &transition.to.reason;
    if transition.to.healthy {
        tracing::info!(check = transition.check, %from, %to, "verdict changed: healthy");
    } else {
        tracing::warn!(check = transition.check, %from, %to, "verdict changed: unhealthy");
    }
}

type Judge<S> = Box<dyn Fn(&S) -> Judged + Send>;

/// Judge every snapshot of one history with each of `judges` and hand each change to `sink`,
/// until the poller is gone.
pub async fn follow<S>(
    mut history: UnboundedReceiver<Arc<S>>,
    judges: Vec<(&'static str, Judge<S>)>,
    mut sink: impl FnMut(Transition),
) {
    let mut logs: Vec<(TransitionLog, Judge<S>)> = judges
        .into_iter()
        .map(|(check, judge)| (TransitionLog::new(check), judge))
        .collect();
    while let Some(snapshot) = history.recv().await {
        for (log, judge) in &mut logs {
            if let Some(transition) = log.observe(judge(&snapshot)) {
                sink(transition);
            }
        }
    }
}

/// The snapshot histories of the running collectors.
#[derive(Default)]
pub struct Histories {
    pub galera: Option<UnboundedReceiver<Arc<GaleraSnapshot>>>,
    pub pacemaker: Option<UnboundedReceiver<Arc<PacemakerSnapshot>>>,
    pub rabbitmq: Option<UnboundedReceiver<Arc<RabbitSnapshot>>>,
    /// The peers' latest answers, which the Galera verdict reads (the stale-view rule). A change
    /// of the peers' view alone is logged with the next Galera snapshot (within a poll).
    pub peers: Option<PeersWatch>,
}

/// Log the verdict transitions of every running collector. Each snapshot is judged at the time
/// it was taken, so a late log line never reports a staleness the check did not see.
pub fn spawn(config: &Config, histories: Histories) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(history) = histories.galera {
        let galera = config.galera.clone();
        let peers = histories.peers.clone();
        let max_staleness = config.peers.max_staleness();
        let judge: Judge<GaleraSnapshot> = Box::new(move |s| {
            let at = s.taken_at.unwrap_or_else(Instant::now);
            let latest = peers.as_ref().map(|w| w.borrow().clone());
            let peers = latest.as_deref().map(|snapshot| health::galera::Peers {
                snapshot,
                max_staleness,
            });
            health::galera::verdict(s, peers, &galera, at).into()
        });
        tasks.push(tokio::spawn(follow(
            history,
            vec![("galera", judge)],
            |t| log(&t),
        )));
    }
    if let Some(history) = histories.pacemaker {
        let pacemaker = config.pacemaker.clone();
        let mut judges: Vec<(&'static str, Judge<PacemakerSnapshot>)> = vec![(
            "pacemaker",
            Box::new(move |s| {
                let at = s.taken_at.unwrap_or_else(Instant::now);
                health::pacemaker::verdict(s, &pacemaker, at).into()
            }),
        )];
        if config.vip.enabled {
            let pacemaker = config.pacemaker.clone();
            let entries = config.vip.entries();
            judges.push((
                "vip",
                Box::new(move |s| {
                    let at = s.taken_at.unwrap_or_else(Instant::now);
                    let states = health::vip::evaluate(s, &entries, &pacemaker, at);
                    health::vip::verdict(&states).into()
                }),
            ));
        }
        tasks.push(tokio::spawn(follow(history, judges, |t| log(&t))));
    }
    if let Some(history) = histories.rabbitmq {
        let rabbitmq = config.rabbitmq.clone();
        let judge: Judge<RabbitSnapshot> = Box::new(move |s| {
            let at = s.cluster.taken_at.unwrap_or_else(Instant::now);
            health::rabbitmq::verdict(s, &rabbitmq, at).into()
        });
        tasks.push(tokio::spawn(follow(
            history,
            vec![("rabbitmq", judge)],
            |t| log(&t),
        )));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::publisher;

    fn judged(healthy: bool, reason: &str) -> Judged {
        Judged {
            healthy,
            key: reason.to_owned(),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn only_changes_are_transitions() {
        let mut log = TransitionLog::new("galera");
        let first = log.observe(judged(false, "down")).expect("first verdict");
        assert_eq!(first.from, None);
        assert_eq!(log.observe(judged(false, "down")), None);
        let up = log.observe(judged(true, "up")).expect("turned healthy");
        assert_eq!(up.from.as_deref(), Some("down"));
        // Same health, another rule: still a transition worth a line.
        assert!(log.observe(judged(true, "up, donor accepted")).is_some());
    }

    #[test]
    fn a_changing_duration_is_not_a_transition() {
        let mut log = TransitionLog::new("galera");
        let unreachable = |secs: &str| Judged {
            healthy: false,
            key: "unreachable".into(),
            reason: format!("unreachable for {secs} s"),
        };
        assert!(log.observe(unreachable("1.0")).is_some());
        assert_eq!(log.observe(unreachable("2.0")), None);
    }

    /// 503 -> 200 -> 503 published within a millisecond: both changes are logged, because the
    /// log reads the history, not the latest snapshot.
    #[tokio::test]
    async fn a_blip_published_faster_than_anyone_reads_gives_two_lines() {
        let (publisher, feed) = publisher(false);
        publisher.publish(false);
        publisher.publish(true);
        publisher.publish(false);
        drop(publisher);
        let mut lines = Vec::new();
        let judge: Judge<bool> = Box::new(|up: &bool| judged(*up, if *up { "up" } else { "down" }));
        follow(feed.history, vec![("galera", judge)], |t| lines.push(t)).await;
        let reasons: Vec<(Option<String>, String)> =
            lines.into_iter().map(|t| (t.from, t.to.reason)).collect();
        assert_eq!(
            reasons,
            vec![
                (None, "down".to_owned()),
                (Some("down".to_owned()), "up".to_owned()),
                (Some("up".to_owned()), "down".to_owned()),
            ]
        );
    }
}
