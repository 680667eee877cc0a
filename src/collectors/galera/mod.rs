//! Galera: watches the local MariaDB/Percona node's wsrep status over one persistent connection.
//!
//! Every `interval` the poller runs `SHOW GLOBAL STATUS LIKE 'wsrep%'` and one `SHOW GLOBAL
//! VARIABLES` for the few variables the verdict needs, in a single round trip, on a session with
//! `wsrep_sync_wait = 0`, under a hard `timeout` that covers connecting too, so a dead server is
//! seen within one interval and a hung one (SIGSTOP, a stuck disk) within interval + timeout. A failed poll drops the connection; reconnects back off up to a few seconds so a
//! down server is not hammered. The check user needs only the PROCESS privilege:
//! `GRANT PROCESS ON *.* TO 'clustercheck'@'localhost'`. If it may also `SELECT` on
//! `mysql.wsrep_cluster_members`, the member list is read too, and marked stale when the node is
//! outside the Primary component (the table is not updated there).
//!
//! Besides the interval, two events make it poll at once (at most one such early poll per
//! [`MIN_EARLY_SPACING`]): Galera's own notifications, when `notify_socket` is set ([`notify`]),
//! and the server closing the idle connection, e.g. when mysqld is killed ([`watch`]). Either way
//! only the poll decides what is published.
//!
//! With `data_dir` set it also reads Galera's state files there at every poll ([`grastate`]:
//! grastate.dat and gvwstate.dat, a few hundred bytes each, bounded at 64 KiB), so the saved
//! seqno and safe_to_bootstrap are known while mysqld is down.
//!
//! It also keeps the post-outage history ([`recovery`]): whether the node is inside a hold-down
//! after an outage longer than evs.suspect_timeout. "Healthy" is decided in
//! [`crate::health::galera`]; this module only observes and publishes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};
use serde::Serialize;
use tokio::sync::{watch as channel, Notify};
use tokio_util::sync::CancellationToken;

use crate::collectors::{publisher, CollectorStats, Feed, Publisher, Ticker};
use crate::config::{DbAddress, DbEndpoint, GaleraConfig};

pub mod grastate;
pub mod notify;
pub mod recovery;
pub mod status;
pub mod watch;

use grastate::{StateFileError, StateFiles};
use recovery::{GateEvent, Hold, HoldsEnded, RecoveryGate};

use status::{ClusterStatus, GaleraStatus, StatusError, StatusRows};

/// One round trip (two statements): all wsrep status counters, then the variables the verdict
/// and the metrics need. SHOW works on every server we meet (MariaDB 10.3 to 11, Percona XtraDB
/// Cluster 5.7 and 8.0, where information_schema.GLOBAL_STATUS is disabled or gone), with the
/// same PROCESS grant as before.
const STATUS_QUERY: &str = "\
SHOW GLOBAL STATUS LIKE 'wsrep%'; \
SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only', 'wsrep_on', 'wsrep_desync', \
 'wsrep_reject_queries', 'wsrep_sst_donor_rejects_queries', 'pxc_maint_mode', \
 'wsrep_cluster_name', 'wsrep_provider_options', 'wsrep_node_name')";

/// Run once per connection: a global wsrep_sync_wait would turn our reads into causal reads that
/// wait behind the apply queue (and fail outside a Primary component), which is exactly when the
/// check must answer. Servers without the variable reject it; that is ignored.
const SESSION_SETUP: &str = "SET SESSION wsrep_sync_wait = 0";

/// At most this many result sets are read from STATUS_QUERY (it has two).
const MAX_RESULT_SETS: usize = 4;

const MEMBERS_QUERY: &str = "SELECT node_name, node_incoming_address, node_uuid \
     FROM mysql.wsrep_cluster_members ORDER BY node_name";

/// MySQL error codes meaning "these credentials are not accepted".
const AUTH_ERROR_CODES: [u16; 3] = [1044, 1045, 1698];
/// "Too many connections" (max_connections, or the user's own limits): refused while
/// connecting, so the server is not reachable for us; no query failed.
const CONNECTION_LIMIT_CODES: [u16; 3] = [1040, 1203, 1226];
/// "command denied" / "table doesn't exist": the member table is optional.
const MEMBERS_UNAVAILABLE_CODES: [u16; 2] = [1142, 1146];

/// Reconnect attempts back off up to this long, so a server that is down for hours is not
/// hammered every interval, yet a restarted one is back within a few seconds.
const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(5);

/// Polls triggered by an event (a notification, the connection closing) come at most this often:
/// a burst of notifications (a view change sends several) costs one or two polls, and whoever can
/// write the notify socket cannot make the server answer more than 10 extra polls a second.
pub const MIN_EARLY_SPACING: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollError {
    #[error("{0}")]
    AuthenticationFailed(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("no answer within {:.1} s: server hung or overloaded", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("query failed: {0}")]
    Query(String),
    #[error("unexpected status: {0}")]
    Status(#[from] StatusError),
    #[error("waiting {:.1} s before reconnecting after: {}", .0.as_secs_f64(), .1)]
    BackingOff(Duration, Box<PollError>),
}

impl PollError {
    /// The error behind a back-off, which is what the operator needs to see.
    pub fn root(&self) -> &PollError {
        match self {
            PollError::BackingOff(_, inner) => inner.root(),
            other => other,
        }
    }

    /// What this failure says about mysqld itself. Any answer from the server (a refused
    /// password, a failed query, "too many connections") means it runs; only a connection that
    /// cannot be made at all (refused, no socket file) means it is down; a timeout means it may
    /// run but hang. `clustercheckd recover` refuses to advise unless every node is `Down`.
    pub fn mysqld(&self) -> Mysqld {
        match self.root() {
            PollError::AuthenticationFailed(_) | PollError::Query(_) | PollError::Status(_) => {
                Mysqld::Running
            }
            PollError::Unreachable(text) if text.starts_with(SERVER_REFUSED) => Mysqld::Running,
            PollError::Unreachable(_) => Mysqld::Down,
            PollError::Timeout(_) => Mysqld::NotAnswering,
            // root() never returns a back-off.
            PollError::BackingOff(..) => Mysqld::NotAnswering,
        }
    }
}

/// Whether mysqld is there, as the last poll saw it (see [`PollError::mysqld`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mysqld {
    /// The server answered the last poll (even with an error).
    Running,
    /// No connection could be made: nothing listens on the port or socket.
    Down,
    /// The connection or the query timed out: hung, overloaded, or still starting.
    NotAnswering,
}

/// The start of an `Unreachable` text for a server that answered with a connection-limit error:
/// it runs, it just took no more connections.
const SERVER_REFUSED: &str = "server refused the connection";

fn classify(error: mysql_async::Error) -> PollError {
    match error {
        mysql_async::Error::Server(e) if AUTH_ERROR_CODES.contains(&e.code) => {
            PollError::AuthenticationFailed(e.message)
        }
        mysql_async::Error::Server(e) if CONNECTION_LIMIT_CODES.contains(&e.code) => {
            PollError::Unreachable(format!("{SERVER_REFUSED}: {} ({})", e.message, e.code))
        }
        mysql_async::Error::Server(e) => PollError::Query(format!("{} ({})", e.message, e.code)),
        other => PollError::Unreachable(other.to_string()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub name: String,
    pub address: String,
    /// The member's group identity (its wsrep_gcomm_uuid): what the stale-view rule of its
    /// peers looks for.
    pub uuid: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Members {
    pub nodes: Vec<Member>,
    /// The table is only maintained inside the Primary component.
    pub stale: bool,
}

/// What one successful poll saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Polled {
    pub status: GaleraStatus,
    pub members: Option<Members>,
}

/// The latest observation, published after every poll. Immutable once published.
#[derive(Debug, Clone)]
pub struct GaleraSnapshot {
    /// When the poll that produced this finished; `None` before the first poll.
    pub taken_at: Option<Instant>,
    pub outcome: Result<Arc<Polled>, PollError>,
    pub maintenance_file: bool,
    /// Since when the server has not answered (the last success, or the daemon's start).
    pub unreachable_since: Instant,
    pub hold: Option<Hold>,
    /// Galera's state files as read at this poll; `None` when `data_dir` is not configured.
    pub state_files: Option<Arc<StateFiles>>,
    /// How many post-outage holds ended, by how, since the daemon started.
    pub holds_ended: HoldsEnded,
    pub stats: CollectorStats,
}

impl GaleraSnapshot {
    pub fn initial(now: Instant) -> Self {
        Self {
            taken_at: None,
            outcome: Err(PollError::Unreachable("no poll has completed yet".into())),
            maintenance_file: false,
            unreachable_since: now,
            hold: None,
            state_files: None,
            holds_ended: HoldsEnded::default(),
            stats: CollectorStats::new(),
        }
    }

    pub fn status(&self) -> Option<&GaleraStatus> {
        self.outcome.as_ref().ok().map(|p| &p.status)
    }
}

pub type GaleraWatch = channel::Receiver<Arc<GaleraSnapshot>>;

/// Start the poll loop; it stops when `shutdown` is cancelled.
pub fn spawn(
    config: GaleraConfig,
    endpoint: DbEndpoint,
    shutdown: CancellationToken,
) -> (Feed<GaleraSnapshot>, tokio::task::JoinHandle<()>) {
    let now = Instant::now();
    let (tx, feed) = publisher(GaleraSnapshot::initial(now));
    // Bound before the first poll, so no event after start-up is missed. A socket that cannot be
    // created costs the early polls, not the check: say so loudly and poll on the interval.
    let trigger = Arc::new(Notify::new());
    let listener = config.notify_socket.as_ref().and_then(|path| {
        notify::listen(path, trigger.clone(), shutdown.clone())
            .map_err(|error| {
                tracing::error!(%error, "galera: notifications are off; polling on the interval only")
            })
            .ok()
    });
    let poller = Poller::new(config, endpoint, now);
    let handle = tokio::spawn(async move {
        poller
            .run(tx, shutdown, listener.is_some().then_some(trigger))
            .await;
        if let Some(listener) = listener {
            let _ = listener.await;
        }
    });
    (feed, handle)
}

/// Why a poll runs.
#[derive(Debug)]
enum Cause {
    Tick,
    Notified,
    Closed(watch::Closed),
}

struct Poller {
    config: GaleraConfig,
    /// One set of options per address to try: one, or one per socket candidate.
    targets: Vec<(PathBuf, mysql_async::Opts)>,
    /// Whether `targets` are candidates, of which only a wsrep_on=ON server is accepted.
    candidates: bool,
    /// The candidate that answered last, so a change of socket is logged.
    answered: Option<PathBuf>,
    endpoint_text: String,
    conn: Option<Conn>,
    /// Fires when the server closes `conn` between polls; dropped with it.
    watch: Option<watch::ConnWatch>,
    members_readable: bool,
    gate: RecoveryGate,
    stats: CollectorStats,
    unreachable_since: Instant,
    next_connect: Option<(Instant, Duration, PollError)>,
    /// Whether the last poll failed on credentials (logged once per change, with a hint).
    auth_failed: bool,
    /// The node's name as Galera knows it (wsrep_node_name), as last logged.
    node_name: Option<String>,
    /// Metric-only fields already logged as unreadable: each is logged once, not every poll.
    dropped_logged: std::collections::HashSet<&'static str>,
    /// The state files' errors as last logged (grastate, gvwstate): logged when they change.
    state_files_logged: (Option<StateFileError>, Option<StateFileError>),
}

impl Poller {
    fn new(config: GaleraConfig, endpoint: DbEndpoint, now: Instant) -> Self {
        let base = OptsBuilder::default()
            .user(Some(endpoint.user.clone()))
            .pass(Some(endpoint.password.expose().to_owned()))
            .prefer_socket(false)
            .stmt_cache_size(0);
        let socket = |path: &PathBuf| {
            let opts = base
                .clone()
                .socket(Some(path.to_string_lossy().into_owned()));
            (path.clone(), opts.into())
        };
        let (targets, candidates) = match &endpoint.address {
            DbAddress::Socket(path) => (vec![socket(path)], false),
            DbAddress::Tcp { host, port } => {
                let opts = base.clone().ip_or_hostname(host.clone()).tcp_port(*port);
                (vec![(PathBuf::new(), opts.into())], false)
            }
            DbAddress::SocketCandidates(paths) => (paths.iter().map(socket).collect(), true),
        };
        Self {
            endpoint_text: format!("{}@{}", endpoint.user, endpoint.address),
            config,
            targets,
            candidates,
            answered: None,
            conn: None,
            watch: None,
            members_readable: true,
            gate: RecoveryGate::default(),
            stats: CollectorStats::new(),
            unreachable_since: now,
            next_connect: None,
            auth_failed: false,
            node_name: None,
            dropped_logged: std::collections::HashSet::new(),
            state_files_logged: (None, None),
        }
    }

    async fn run(
        mut self,
        tx: Publisher<GaleraSnapshot>,
        shutdown: CancellationToken,
        trigger: Option<Arc<Notify>>,
    ) {
        tracing::info!(endpoint = %self.endpoint_text, interval = ?self.config.interval,
            timeout = ?self.config.timeout, notify = trigger.is_some(), "galera poller started");
        let mut ticker = Ticker::new(self.config.interval);
        let mut last_early: Option<Instant> = None;
        loop {
            let cause = tokio::select! {
                running = ticker.tick(&shutdown) => match running {
                    true => Cause::Tick,
                    false => break,
                },
                () = notified(trigger.as_deref()) => Cause::Notified,
                closed = closed(self.watch.as_ref()) => Cause::Closed(closed),
            };
            if !matches!(cause, Cause::Tick) {
                if let Some(at) = last_early {
                    tokio::select! {
                        () = tokio::time::sleep_until((at + MIN_EARLY_SPACING).into()) => {}
                        () = shutdown.cancelled() => break,
                    }
                }
                let now = Instant::now();
                last_early = Some(now);
                match cause {
                    // A notification says the server is there: try it now, back-off or not
                    // (the spacing above still bounds the attempts).
                    Cause::Notified => {
                        if let Some((at, _, _)) = &mut self.next_connect {
                            *at = now;
                        }
                    }
                    Cause::Closed(how) => {
                        tracing::info!(
                            ?how,
                            "galera: the server closed the connection; polling now"
                        );
                        // Its socket stays readable until the poll: do not wake on it again.
                        self.watch = None;
                    }
                    Cause::Tick => {}
                }
            }
            let snapshot = self.poll().await;
            tx.publish(snapshot);
        }
        self.watch = None;
        if let Some(conn) = self.conn.take() {
            // Say goodbye politely, but never let a hung server hold up shutdown.
            let _ = tokio::time::timeout(self.config.timeout, conn.disconnect()).await;
        }
        tracing::info!("galera poller stopped");
    }

    async fn poll(&mut self) -> GaleraSnapshot {
        let started = Instant::now();
        let maintenance_file = tokio::time::timeout(
            self.config.timeout,
            tokio::fs::try_exists(&self.config.maintenance_file),
        )
        .await
        .map(|r| r.unwrap_or(false))
        .unwrap_or(false);
        let state_files = self.read_state_files().await;

        let outcome = match self.backing_off(started) {
            Some(error) => Err(error),
            None => match tokio::time::timeout(self.config.timeout, self.query()).await {
                Ok(result) => result,
                Err(_) => Err(PollError::Timeout(self.config.timeout)),
            },
        };
        let finished = Instant::now();
        self.stats
            .record(outcome.is_ok(), finished - started, finished);

        let outcome = match outcome {
            Ok(polled) => {
                self.next_connect = None;
                if let Some(event) =
                    self.gate
                        .succeeded(finished, &polled.status, self.config.recovery_max_hold)
                {
                    log_gate_event(&event);
                }
                self.unreachable_since = finished;
                Ok(Arc::new(polled))
            }
            Err(error) => {
                self.gate.failed();
                if !matches!(error, PollError::BackingOff(..)) {
                    // Any failure may have left the connection mid-protocol: start afresh.
                    self.watch = None;
                    self.conn = None;
                    self.schedule_reconnect(finished, error.clone());
                }
                Err(error)
            }
        };
        let snapshot = GaleraSnapshot {
            taken_at: Some(finished),
            outcome,
            maintenance_file,
            unreachable_since: self.unreachable_since,
            hold: self.gate.hold().cloned(),
            state_files,
            holds_ended: self.gate.holds_ended(),
            stats: self.stats.clone(),
        };
        self.log_credentials_and_name(&snapshot);
        snapshot
    }

    /// Read grastate.dat and gvwstate.dat from `data_dir` (when configured), off the async
    /// threads and under the poll timeout: a hung disk must not hold up the poll. A change in
    /// what cannot be read is logged once (e.g. the ACL is missing), not at every poll.
    async fn read_state_files(&mut self) -> Option<Arc<StateFiles>> {
        let dir = self.config.data_dir.clone()?;
        let read = tokio::task::spawn_blocking(move || grastate::read_dir(&dir));
        let files = match tokio::time::timeout(self.config.timeout, read).await {
            Ok(Ok(files)) => files,
            Ok(Err(join)) => {
                let error = StateFileError::Unreadable(format!("reader failed: {join}"));
                StateFiles {
                    grastate: Err(error.clone()),
                    gvwstate: Err(error),
                }
            }
            Err(_) => {
                let error = StateFileError::Unreadable(format!(
                    "no answer within {:.1} s",
                    self.config.timeout.as_secs_f64()
                ));
                StateFiles {
                    grastate: Err(error.clone()),
                    gvwstate: Err(error),
                }
            }
        };
        let errors = (
            files.grastate.as_ref().err().cloned(),
            // gvwstate.dat is absent after a clean stop: that is not worth a line.
            files.gvwstate.as_ref().err().cloned(),
        );
        if errors != self.state_files_logged {
            let dir = self
                .config
                .data_dir
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            for (name, error) in [
                (grastate::GRASTATE_FILE, &errors.0),
                (grastate::GVWSTATE_FILE, &errors.1),
            ] {
                if let Some(error) = error {
                    tracing::warn!(file = %dir.join(name).display(), %error,
                        "galera: state file not readable (logged when this changes)");
                }
            }
            self.state_files_logged = errors;
        }
        Some(Arc::new(files))
    }

    /// While backing off, report the error that caused it instead of connecting.
    fn backing_off(&self, now: Instant) -> Option<PollError> {
        match &self.next_connect {
            Some((at, _, error)) if *at > now => Some(PollError::BackingOff(
                *at - now,
                Box::new(error.root().clone()),
            )),
            _ => None,
        }
    }

    fn schedule_reconnect(&mut self, now: Instant, error: PollError) {
        let backoff = match &self.next_connect {
            None => Duration::ZERO, // the first retry is at the next tick
            // A timed-out attempt already waited `timeout` and cost the server nothing (dropped
            // packets, a frozen process): retrying at once means the first poll after the cause
            // clears comes within an interval, and the hold-down's clock starts that early.
            Some(_) if matches!(error, PollError::Timeout(_)) => Duration::ZERO,
            Some((_, previous, _)) => (*previous * 2)
                .max(self.config.interval)
                .min(MAX_RECONNECT_BACKOFF.max(self.config.interval)),
        };
        self.next_connect = Some((now + backoff, backoff, error));
    }

    async fn query(&mut self) -> Result<Polled, PollError> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let mut conn = self.connect().await?;
                match conn.query_drop(SESSION_SETUP).await {
                    Ok(()) => {}
                    // Unknown variable (no Galera, an old server): nothing to turn off.
                    Err(mysql_async::Error::Server(e)) => {
                        tracing::debug!(error = %e.message, "wsrep_sync_wait not set for the session")
                    }
                    Err(e) => return Err(classify(e)),
                }
                self.members_readable = self.config.read_members;
                self.conn.insert(conn)
            }
        };
        let mut result = conn.query_iter(STATUS_QUERY).await.map_err(classify)?;
        let mut rows: Vec<Row> = Vec::new();
        for _ in 0..MAX_RESULT_SETS {
            if result.is_empty() {
                break;
            }
            rows.extend(result.collect::<Row>().await.map_err(classify)?);
        }
        drop(result);
        let rows: StatusRows = rows.into_iter().filter_map(name_value).collect();
        let status = rows.parse()?;
        for field in &status.dropped {
            if self.dropped_logged.insert(field.name) {
                tracing::warn!(field = field.name, value = %field.value,
                    "galera: unreadable value; its metric is left out (logged once per field)");
            }
        }

        let members = if self.members_readable {
            match conn.query::<Row, _>(MEMBERS_QUERY).await {
                Ok(rows) => Some(Members {
                    nodes: rows.into_iter().filter_map(member).collect(),
                    stale: status.cluster_status != ClusterStatus::Primary,
                }),
                Err(mysql_async::Error::Server(e))
                    if MEMBERS_UNAVAILABLE_CODES.contains(&e.code) =>
                {
                    tracing::info!(error = %e.message,
                        "mysql.wsrep_cluster_members is not readable; member list disabled");
                    self.members_readable = false;
                    None
                }
                Err(e) => return Err(classify(e)),
            }
        } else {
            None
        };
        Ok(Polled { status, members })
    }

    /// Open a connection: to the one configured address, or to the first socket candidate whose
    /// server reports wsrep_on=ON (a plain MariaDB on the other path must not be judged).
    async fn connect(&mut self) -> Result<Conn, PollError> {
        let before = watch::sockets();
        let (conn, peer) = self.open().await?;
        self.watch = before.and_then(|before| watch::ConnWatch::find(&before, &peer));
        Ok(conn)
    }

    /// The connection, and the address it goes to (for [`watch`]).
    async fn open(&mut self) -> Result<(Conn, watch::Peer), PollError> {
        if !self.candidates {
            let (_, opts) = self
                .targets
                .first()
                .ok_or_else(|| PollError::Unreachable("no address to connect to".into()))?;
            let peer = match opts.socket() {
                Some(path) => watch::Peer::Unix(PathBuf::from(path)),
                None => watch::Peer::Tcp {
                    host: opts.ip_or_hostname().to_owned(),
                    port: opts.tcp_port(),
                },
            };
            return Ok((Conn::new(opts.clone()).await.map_err(classify)?, peer));
        }
        let mut tried = Vec::new();
        let mut auth = None;
        for (path, opts) in &self.targets {
            let outcome = match Conn::new(opts.clone()).await {
                Err(e) => Err(classify(e)),
                Ok(mut conn) => match wsrep_on(&mut conn).await {
                    Ok(true) => Ok(conn),
                    Ok(false) => {
                        let _ = conn.disconnect().await;
                        Err(PollError::Unreachable("wsrep_on is not ON".into()))
                    }
                    Err(e) => Err(classify(e)),
                },
            };
            match outcome {
                Ok(conn) => {
                    if self.answered.as_ref() != Some(path) {
                        tracing::info!(socket = %path.display(),
                            "galera: socket candidate answered with wsrep_on=ON; using it");
                        self.answered = Some(path.clone());
                    }
                    return Ok((conn, watch::Peer::Unix(path.clone())));
                }
                Err(error) => {
                    tracing::debug!(socket = %path.display(), %error, "galera: socket candidate refused");
                    if matches!(error, PollError::AuthenticationFailed(_)) && auth.is_none() {
                        auth = Some(format!("unix:{}: {error}", path.display()));
                    }
                    tried.push(format!("unix:{}: {error}", path.display()));
                }
            }
        }
        self.answered = None;
        Err(match auth {
            Some(message) => PollError::AuthenticationFailed(message),
            None => PollError::Unreachable(format!(
                "no socket candidate is a Galera node ({})",
                tried.join("; ")
            )),
        })
    }

    /// Wrong credentials need an operator, not a retry: say so once, with where to look. The
    /// node's Galera name (wsrep_node_name) is logged at the first answer and when it changes. (The
    /// verdict's transitions are logged by [`crate::transitions`] like every subsystem's.)
    fn log_credentials_and_name(&mut self, snapshot: &GaleraSnapshot) {
        let failed = matches!(snapshot.outcome, Err(PollError::AuthenticationFailed(_)));
        if failed && !self.auth_failed {
            if let Err(error) = &snapshot.outcome {
                tracing::error!(endpoint = %self.endpoint_text, %error,
                    "galera: authentication failed; check the credentials in the config or defaults file");
            }
        }
        self.auth_failed = failed;
        if let Ok(polled) = &snapshot.outcome {
            let name = &polled.status.node_name;
            if self.node_name.as_ref() != Some(name) {
                tracing::info!(wsrep_node_name = %name, previous = ?self.node_name,
                    "galera: this node's name in the cluster");
                self.node_name = Some(name.clone());
            }
        }
    }
}

fn log_gate_event(event: &GateEvent) {
    match event {
        GateEvent::Held(hold) => tracing::warn!(
            outage_seconds = hold.outage.as_secs_f64(),
            conf_id_before = hold.conf_id_before,
            steady_needed_seconds = hold.steady_needed.as_secs_f64(),
            "galera node back after an outage longer than evs.suspect_timeout; holding it \
             unhealthy until it rejoins with a new cluster configuration or stays Synced, Primary \
             and OPERATIONAL in the old one for steady_needed_seconds"
        ),
        GateEvent::Rejoined => {
            tracing::info!("galera node rejoined with a new cluster configuration; hold released")
        }
        GateEvent::Steady(steady) => tracing::info!(
            steady_seconds = steady.as_secs_f64(),
            "galera node stayed Synced, Primary and OPERATIONAL in its old cluster configuration \
             for longer than evs.suspect_timeout: it was never evicted; hold released"
        ),
        GateEvent::Expired => tracing::warn!(
            "galera hold-down reached recovery_max_hold without a new cluster configuration or a \
             steady old one; released"
        ),
    }
}

/// Resolves when the listener passes a notification on; never without a listener.
async fn notified(trigger: Option<&Notify>) {
    match trigger {
        Some(trigger) => trigger.notified().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the idle connection is closed; never without a watch.
async fn closed(watch: Option<&watch::ConnWatch>) -> watch::Closed {
    match watch {
        Some(watch) => watch.closed().await,
        None => std::future::pending().await,
    }
}

/// One row of mysql.wsrep_cluster_members; rows with NULLs are skipped rather than trusted.
fn member(mut row: Row) -> Option<Member> {
    let mut text = |i: usize| -> Option<String> { row.take_opt(i).and_then(Result::ok) };
    Some(Member {
        name: text(0)?,
        address: text(1)?,
        uuid: text(2)?,
    })
}

/// Whether the server replicates with Galera: `wsrep_on` is ON (absent on a server without wsrep).
async fn wsrep_on(conn: &mut Conn) -> Result<bool, mysql_async::Error> {
    let rows: Vec<Row> = conn.query("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'").await?;
    Ok(rows
        .into_iter()
        .filter_map(name_value)
        .any(|(_, value)| value.eq_ignore_ascii_case("ON")))
}

/// A two-column text row; rows with NULLs or non-text values are skipped rather than trusted.
fn name_value(row: Row) -> Option<(String, String)> {
    let mut row = row;
    let name: Option<String> = row.take_opt(0).and_then(Result::ok);
    let value: Option<String> = row.take_opt(1).and_then(Result::ok);
    Some((name?, value?))
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The snapshot of a poll that returned `status` at `now` (the member list not read), for
    /// the tests of what is made of a snapshot: verdicts, agent replies, metrics.
    pub fn polled(status: GaleraStatus, now: Instant) -> GaleraSnapshot {
        GaleraSnapshot {
            taken_at: Some(now),
            outcome: Ok(Arc::new(Polled {
                status,
                members: None,
            })),
            ..GaleraSnapshot::initial(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn a_full_server_is_a_refused_connection_not_a_failed_query() {
        let error = classify(server_error(1040, "Too many connections"));
        assert_eq!(
            error.to_string(),
            "server refused the connection: Too many connections (1040)"
        );
        assert!(matches!(
            classify(server_error(1045, "Access denied")),
            PollError::AuthenticationFailed(_)
        ));
        assert_eq!(
            classify(server_error(1064, "syntax")).to_string(),
            "query failed: syntax (1064)"
        );
    }

    #[test]
    fn only_a_connection_that_cannot_be_made_means_mysqld_is_down() {
        // `clustercheckd recover` trusts `Down` to bootstrap a cluster: anything the server said
        // means it runs.
        let full = classify(server_error(1040, "Too many connections"));
        assert_eq!(full.mysqld(), Mysqld::Running);
        assert_eq!(
            classify(server_error(1045, "Access denied")).mysqld(),
            Mysqld::Running
        );
        assert_eq!(
            classify(server_error(1064, "syntax")).mysqld(),
            Mysqld::Running
        );
        let refused = PollError::Unreachable("Connection refused (os error 111)".into());
        assert_eq!(refused.mysqld(), Mysqld::Down);
        // A back-off reports the error behind it.
        let backing_off = PollError::BackingOff(Duration::from_secs(2), Box::new(refused));
        assert_eq!(backing_off.mysqld(), Mysqld::Down);
        assert_eq!(
            PollError::BackingOff(Duration::from_secs(2), Box::new(full)).mysqld(),
            Mysqld::Running
        );
        assert_eq!(
            PollError::Timeout(Duration::from_secs(1)).mysqld(),
            Mysqld::NotAnswering
        );
    }
}
