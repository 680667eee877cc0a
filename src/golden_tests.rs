//! Golden files of what users see, for a set of recorded snapshots: every check's status and
//! body, the /status JSON and the /metrics exposition, served by the real HTTP stack on a
//! loopback port. Refactors must leave them byte-identical; a change of behaviour rewrites them
//! on purpose (`UPDATE_GOLDEN=1 cargo test golden`) and says so in its commit.
//!
//! Time-dependent values (ages, uptime, start time) are replaced by `<time>` before comparing;
//! everything else, including the order of keys and series, is compared exactly.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::collectors::galera::grastate::{parse_grastate, StateFiles};
use crate::collectors::galera::status::tests_support::synced_status;
use crate::collectors::galera::{GaleraSnapshot, Member, Members, PollError, Polled};
use crate::collectors::pacemaker::local::LocalAddress;
use crate::collectors::pacemaker::PacemakerSnapshot;
use crate::collectors::rabbitmq::api::{Alarm, ApiError, CallStats};
use crate::collectors::rabbitmq::probe::ProbeOutcome;
use crate::collectors::rabbitmq::queues::{QueueSummary, Rules, Scan};
use crate::collectors::rabbitmq::{ClusterState, RabbitSnapshot};
use crate::collectors::CollectorStats;
use crate::config::{Compat, Config, VipEntry};
use crate::http::{self, AppState, Limits, Watches};

/// A fixed wall-clock time for "last success" stamps: 2026-01-01T00:00:00Z.
fn fixed_wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn stats(up: bool, errors: u64) -> CollectorStats {
    CollectorStats {
        up,
        last_poll_duration: Duration::from_millis(3),
        errors_total: errors,
        last_success_wall: Some(fixed_wall()),
        last_success: None,
    }
}

// ---- Galera ----

fn galera_synced(now: Instant) -> GaleraSnapshot {
    let mut snapshot = GaleraSnapshot::initial(now);
    snapshot.taken_at = Some(now);
    snapshot.unreachable_since = now;
    snapshot.outcome = Ok(Arc::new(Polled {
        status: synced_status(),
        members: Some(Members {
            nodes: (1..=3)
                .map(|i| Member {
                    name: format!("node{i}"),
                    address: format!("127.0.0.1:1330{i}"),
                    uuid: format!("5f0b2a3e-c9a4-11f0-8a51-6b2f4d1c9e0{i}"),
                })
                .collect(),
            stale: false,
        }),
    }));
    snapshot.stats = stats(true, 0);
    snapshot.stats.last_success = Some(now);
    snapshot
}

fn galera_with(now: Instant, edit: impl FnOnce(&mut Polled)) -> GaleraSnapshot {
    let mut snapshot = galera_synced(now);
    if let Ok(polled) = &mut snapshot.outcome {
        edit(Arc::make_mut(polled));
    }
    snapshot
}

fn galera_donor(now: Instant) -> GaleraSnapshot {
    galera_with(now, |p| {
        p.status.local_state = crate::collectors::galera::status::LocalState::DonorDesynced;
        p.status.local_state_code = 2;
        p.status.local_state_comment = "Donor/Desynced".into();
        p.status.desync = Some(true);
    })
}

fn galera_non_primary(now: Instant) -> GaleraSnapshot {
    galera_with(now, |p| {
        p.status.cluster_status = crate::collectors::galera::status::ClusterStatus::NonPrimary;
        p.status.cluster_conf_id = u64::MAX;
        p.status.cluster_size = Some(1);
        p.status.ready = false;
        p.status.local_state = crate::collectors::galera::status::LocalState::from_code(0);
        p.status.local_state_code = 0;
        p.status.local_state_comment = "Initialized".into();
        if let Some(members) = &mut p.members {
            members.stale = true;
        }
    })
}

fn galera_unreachable(now: Instant) -> GaleraSnapshot {
    let mut snapshot = galera_synced(now);
    snapshot.outcome = Err(PollError::Unreachable(
        "Input/output error: Connection refused (os error 111)".into(),
    ));
    snapshot.unreachable_since = now - Duration::from_millis(4200);
    snapshot.stats = stats(false, 5);
    // With galera.data_dir (set in the scenario's config): mysqld was stopped cleanly, so
    // grastate.dat holds the seqno (the real file of a sandbox node) and gvwstate.dat is gone.
    snapshot.state_files = Some(Arc::new(StateFiles {
        grastate: parse_grastate(include_str!(
            "../tests/fixtures/galera-state/grastate-clean-stop.dat"
        )),
        gvwstate: Ok(None),
    }));
    snapshot
}

fn galera_auth_failed(now: Instant) -> GaleraSnapshot {
    let mut snapshot = galera_synced(now);
    snapshot.outcome = Err(PollError::AuthenticationFailed(
        "Access denied for user 'clustercheck'@'localhost' (using password: YES)".into(),
    ));
    snapshot.stats = stats(false, 1);
    snapshot
}

fn galera_recovering(now: Instant) -> GaleraSnapshot {
    let mut snapshot = galera_synced(now);
    snapshot.hold = Some(crate::collectors::galera::recovery::Hold {
        since: now - Duration::from_millis(2000),
        outage: Duration::from_secs(20),
        conf_id_before: 3,
        steady_needed: Duration::from_millis(5750),
        steady_since: Some(now - Duration::from_millis(1000)),
        evicted: false,
    });
    snapshot
}

fn galera_stale(now: Instant) -> GaleraSnapshot {
    let mut snapshot = galera_synced(now - Duration::from_secs(10));
    snapshot.taken_at = Some(now - Duration::from_secs(10));
    snapshot
}

fn galera_maintenance(now: Instant) -> GaleraSnapshot {
    let mut snapshot = galera_synced(now);
    snapshot.maintenance_file = true;
    snapshot
}

// ---- Pacemaker and the VIP ----

fn pacemaker(scenario: &str, now: Instant, holds_vip: bool) -> PacemakerSnapshot {
    // The node is set per scenario (`with_node`).
    let mut snapshot = crate::health::pacemaker::tests::snapshot_of(scenario, "?", now);
    snapshot.stats = stats(true, 0);
    let mut addresses = vec![LocalAddress {
        interface: "lo".into(),
        address: [127, 0, 0, 1].into(),
        up: true,
        running: true,
    }];
    if holds_vip {
        addresses.push(LocalAddress {
            interface: "ccdvip0".into(),
            address: [192, 0, 2, 10].into(),
            up: true,
            running: true,
        });
    }
    snapshot.local_addresses = Some(Ok(addresses));
    snapshot
}

/// The snapshot of `node_name = node`, in a steady state: the previous poll saw the same.
fn with_node(snapshot: PacemakerSnapshot, node: &str) -> PacemakerSnapshot {
    let snapshot = PacemakerSnapshot {
        node: crate::collectors::pacemaker::LocalNode::Configured(node.into()),
        ..snapshot
    };
    PacemakerSnapshot {
        previous: Some(std::sync::Arc::new(snapshot.clone())),
        ..snapshot
    }
}

fn pacemaker_failed(now: Instant) -> PacemakerSnapshot {
    let mut snapshot = pacemaker("healthy", now, true);
    snapshot.outcome = Err(crate::collectors::pacemaker::PollError::Tool(
        crate::collectors::pacemaker::command::ToolError::Timeout(
            "/usr/sbin/crm_mon".into(),
            Duration::from_secs(4),
        ),
    ));
    snapshot.stats = stats(false, 2);
    snapshot
}

// ---- RabbitMQ ----

/// The same recorded cluster as the RabbitMQ verdict's unit tests use.
fn rabbit_cluster() -> ClusterState {
    crate::health::rabbitmq::tests::state()
}

/// A queue listing as RabbitMQ 3.10 wrote it in the sandbox.
const QUEUE_LISTING: &str = r#"[{"exclusive":false,"name":"synced","node":"rabbit1@vm","policy":"ha-all","slave_nodes":["rabbit2@vm","rabbit3@vm"],"synchronised_slave_nodes":["rabbit2@vm","rabbit3@vm"],"type":"classic","vhost":"/"},
{"exclusive":false,"name":"behind","node":"rabbit1@vm","policy":"ha-all","slave_nodes":["rabbit2@vm","rabbit3@vm"],"synchronised_slave_nodes":["rabbit3@vm"],"type":"classic","vhost":"/"},
{"exclusive":false,"name":"bare","node":"rabbit1@vm","policy":null,"slave_nodes":"","synchronised_slave_nodes":"","type":"classic","vhost":"/"},
{"exclusive":false,"members":["rabbit1@vm","rabbit3@vm","rabbit2@vm"],"name":"qq","online":["rabbit1@vm","rabbit2@vm"],"type":"quorum","vhost":"/"}]"#;

fn queue_summary() -> QueueSummary {
    let rules = Rules {
        ha_policies: vec![("/".into(), "ha-all".into())],
        mirroring_supported: true,
    };
    let mut scan = Scan::new(&rules, 1000, 1 << 20);
    scan.feed(QUEUE_LISTING.as_bytes()).expect("listing");
    scan.finish().expect("listing")
}

fn rabbit(
    now: Instant,
    cluster: Result<ClusterState, ApiError>,
    probe: ProbeOutcome,
) -> RabbitSnapshot {
    let mut s = RabbitSnapshot::initial();
    let up = cluster.is_ok();
    s.cluster.taken_at = Some(now);
    s.cluster.outcome = cluster.map(Arc::new);
    s.cluster.stats = stats(up, u64::from(!up));
    s.queues.taken_at = Some(now);
    s.queues.outcome = Ok(Arc::new(queue_summary()));
    s.queues.stats = stats(true, 0);
    s.probe.taken_at = Some(now);
    s.probe.duration = Duration::from_millis(4);
    s.probe.counts.success = 7;
    s.probe.counts.blocked = u64::from(matches!(probe, ProbeOutcome::Blocked { .. }));
    s.probe.outcome = Some(probe);
    let mut calls = BTreeMap::new();
    for call in crate::collectors::rabbitmq::api::CALLS {
        calls.insert(
            call,
            CallStats {
                last_duration: Duration::from_millis(2),
                errors_total: 0,
                calls_total: 10,
            },
        );
    }
    s.api_calls = calls;
    s
}

fn probe_ok() -> ProbeOutcome {
    ProbeOutcome::Success {
        round_trip: Duration::from_millis(2),
    }
}

fn rabbit_healthy(now: Instant) -> RabbitSnapshot {
    rabbit(now, Ok(rabbit_cluster()), probe_ok())
}

fn rabbit_alarm_and_partition(now: Instant) -> RabbitSnapshot {
    let mut cluster = rabbit_cluster();
    cluster.alarms = vec![Alarm {
        node: "rabbit2@vm".into(),
        resource: "memory".into(),
    }];
    cluster.nodes[1].mem_alarm = true;
    cluster.nodes[0].partitions = vec!["rabbit3@vm".into()];
    cluster.nodes[2].partitions = vec!["rabbit1@vm".into()];
    rabbit(
        now,
        Ok(cluster),
        ProbeOutcome::Blocked {
            reason: "low on memory".into(),
        },
    )
}

fn rabbit_api_down(now: Instant) -> RabbitSnapshot {
    rabbit(
        now,
        Err(ApiError::Unreachable(
            "error sending request: connection refused".into(),
        )),
        ProbeOutcome::Failed {
            error: "connect: Connection refused (os error 111)".into(),
        },
    )
}

// ---- Scenarios ----

struct Scenario {
    name: &'static str,
    config: Config,
    galera: Option<GaleraSnapshot>,
    pacemaker: Option<PacemakerSnapshot>,
    rabbitmq: Option<RabbitSnapshot>,
}

fn config(node: &str) -> Config {
    let mut config = Config {
        node_name: Some(node.into()),
        ..Config::default()
    };
    config.pacemaker.enabled = true;
    config.vip.enabled = true;
    config.vip.vips = vec![VipEntry {
        name: None,
        resource: Some("vip".into()),
        address: Some([192, 0, 2, 10].into()),
    }];
    config.rabbitmq.enabled = true;
    config
}

fn scenarios(now: Instant) -> Vec<Scenario> {
    let all = |name, node: &str, galera, pacemaker, rabbitmq| Scenario {
        name,
        config: config(node),
        galera: Some(galera),
        pacemaker: Some(with_node(pacemaker, node)),
        rabbitmq: Some(rabbitmq),
    };
    let mut list = vec![
        all(
            "healthy",
            "controller01",
            galera_synced(now),
            pacemaker("healthy", now, true),
            rabbit_healthy(now),
        ),
        all(
            "backup-node",
            "controller02",
            galera_donor(now),
            pacemaker("healthy", now, false),
            rabbit_alarm_and_partition(now),
        ),
        all(
            "standby",
            "controller02",
            galera_non_primary(now),
            pacemaker("standby", now, false),
            rabbit_api_down(now),
        ),
        all(
            "outage",
            "controller01",
            galera_unreachable(now),
            pacemaker_failed(now),
            rabbit_api_down(now),
        ),
        all(
            "vip-moved-left-behind",
            "controller01",
            galera_recovering(now),
            pacemaker("vip-moved", now, true),
            rabbit_healthy(now),
        ),
        all(
            "quorum-lost",
            "controller01",
            galera_auth_failed(now),
            pacemaker("quorum-lost", now, false),
            rabbit_healthy(now),
        ),
        all(
            "stale-and-maintenance",
            "controller01",
            galera_stale(now),
            pacemaker("live-dummy-failed", now, true),
            rabbit_healthy(now),
        ),
    ];
    if let Some(outage) = list.iter_mut().find(|s| s.name == "outage") {
        outage.config.galera.data_dir = Some("/var/lib/mysql".into());
    }
    let mut maintenance = all(
        "percona-maintenance",
        "controller01",
        galera_maintenance(now),
        pacemaker("healthy", now, true),
        rabbit_healthy(now),
    );
    maintenance.config.galera.compat = Compat::Percona;
    list.push(maintenance);
    let mut percona = all(
        "percona-synced",
        "controller01",
        galera_synced(now),
        pacemaker("healthy", now, true),
        rabbit_healthy(now),
    );
    percona.config.galera.compat = Compat::Percona;
    list.push(percona);
    list.push(Scenario {
        name: "all-disabled",
        config: Config {
            node_name: Some("controller01".into()),
            galera: crate::config::GaleraConfig {
                enabled: false,
                ..Default::default()
            },
            ..Config::default()
        },
        galera: None,
        pacemaker: None,
        rabbitmq: None,
    });
    list
}

/// The requests every scenario answers: each check, as HAProxy or a person sends it.
const REQUESTS: &[&str] = &[
    "OPTIONS / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /anything/else HTTP/1.1\r\nHost: x\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /rabbitmq HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /pacemaker HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /vip HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /vip/vip HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /vip/nope HTTP/1.1\r\nHost: x\r\n\r\n",
];

async fn request(address: SocketAddr, raw: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or("-")
        .to_owned();
    (format!("{status} {content_type}"), body.to_owned())
}

/// Keys whose value depends on when the test runs.
const TIME_KEYS: &[&str] = &[
    "uptime_seconds",
    "snapshot_age_seconds",
    "age_seconds",
    "held_for_seconds",
];

fn normalise_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if TIME_KEYS.contains(&key.as_str()) && value.is_number() {
                    *value = serde_json::Value::String("<time>".into());
                } else {
                    normalise_json(value);
                }
            }
        }
        serde_json::Value::Array(list) => list.iter_mut().for_each(normalise_json),
        _ => {}
    }
}

/// Durations in reasons ("last poll result is 10.0 s old", "unreachable for 4.2 s") depend on
/// how long the request took to be served on a loaded machine: "<N.N> s" keeps the sentence and
/// drops the figure.
fn normalise_durations(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        // digits '.' digit " s" not preceded by a digit or a dot
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.'));
        if starts {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            let duration = bytes.get(j) == Some(&b'.')
                && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
                && bytes.get(j + 2) == Some(&b' ')
                && bytes.get(j + 3) == Some(&b's')
                && !bytes.get(j + 4).is_some_and(u8::is_ascii_alphanumeric);
            if duration {
                out.push_str("<N.N> s");
                i = j + 4;
                continue;
            }
            out.push_str(&text[i..j]);
            i = j;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Series whose value depends on when the test runs.
const TIME_SERIES: &[&str] = &["clustercheckd_start_time_seconds", "_age_seconds"];

fn normalise_metrics(text: &str) -> String {
    text.lines()
        .map(|line| {
            let timed = !line.starts_with('#')
                && line
                    .split([' ', '{'])
                    .next()
                    .is_some_and(|name| TIME_SERIES.iter().any(|t| name.contains(t)));
            match (timed, line.rsplit_once(' ')) {
                (true, Some((series, _))) => format!("{series} <time>\n"),
                _ => format!("{line}\n"),
            }
        })
        .collect()
}

async fn render(scenario: Scenario) -> String {
    let watches = Watches {
        galera: scenario.galera.map(|s| watch::channel(Arc::new(s)).1),
        pacemaker: scenario.pacemaker.map(|s| watch::channel(Arc::new(s)).1),
        rabbitmq: scenario.rabbitmq.map(|s| watch::channel(Arc::new(s)).1),
        writer: None,
        peers: None,
    };
    let state = AppState::new(scenario.config, watches);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        http::check_router(state, http::Pages::Here),
        Limits {
            header_read_timeout: Duration::from_secs(2),
            max_connections: 16,
            max_connections_per_source: 16,
        },
        shutdown.clone(),
    ));
    let mut out = String::new();
    for raw in REQUESTS {
        let (status, body) = request(address, raw).await;
        let line = raw.lines().next().unwrap_or_default();
        out.push_str(&format!("### {line}\n{status}\n{body}"));
        if !body.ends_with('\n') {
            out.push('\n');
        }
    }
    let (status, body) = request(address, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut json: serde_json::Value = serde_json::from_str(&body).expect("status is JSON");
    normalise_json(&mut json);
    out.push_str(&format!(
        "### GET /status\n{status}\n{}\n",
        serde_json::to_string_pretty(&json).expect("json")
    ));
    // Scraped after the checks, so the check counters show them.
    let (status, body) = request(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    out.push_str(&format!(
        "### GET /metrics\n{status}\n{}",
        normalise_metrics(&body)
    ));
    shutdown.cancel();
    let _ = server.await;
    out
}

#[test]
fn durations_are_normalised_and_nothing_else() {
    assert_eq!(
        normalise_durations("unreachable for 4.2 s (x 10.0 s). 3.25 s, v1.2 s, 0.5 sec, 12 s"),
        "unreachable for <N.N> s (x <N.N> s). 3.25 s, v1.2 s, 0.5 sec, 12 s"
    );
}

#[tokio::test]
async fn what_users_see_is_unchanged() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut changed = Vec::new();
    let count = scenarios(Instant::now()).len();
    for index in 0..count {
        // Built right before it is served, so ages and outage lengths read as recorded.
        let scenario = scenarios(Instant::now()).swap_remove(index);
        let name = scenario.name;
        let text = normalise_durations(&render(scenario).await);
        let path = dir.join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(&dir).expect("create tests/golden");
            std::fs::write(&path, &text).expect("write golden file");
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_default();
        if golden != text {
            let actual = dir.join(format!("{name}.actual"));
            let _ = std::fs::write(&actual, &text);
            changed.push(format!("{} (see {})", path.display(), actual.display()));
        }
    }
    assert!(
        changed.is_empty(),
        "what users see changed; review the diff and rerun with UPDATE_GOLDEN=1 if intended:\n{}",
        changed.join("\n")
    );
}
