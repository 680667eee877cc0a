//! The writer lease: takes part in electing the one node `/writer` answers 200 on, using the
//! Galera cluster itself as the consensus engine (docs/writer.md has the rule and its proof).
//!
//! The lease is one row of `clustercheckd.writer_lease` (id `writer.lease_row`, 1 by default:
//! `holder`, `generation`, `renewals`), read and written over this collector's own connection
//! as its own user (SELECT and UPDATE on that table only), never on a check's path. Every
//! `renew_interval`:
//!
//! 1. The holder renews with `UPDATE ... SET renewals = renewals + 1 WHERE holder = me AND
//!    generation = g`, noting when it *sent* it. Only a confirmed one-row update counts. Zero
//!    rows means the lease moved: it is no holder any more. An error or a timeout counts
//!    nothing (its deadline keeps running). A holder whose Galera node turns unhealthy first
//!    stops being the holder here, then releases the row (`holder = ''`) if it still can.
//! 2. Every node reads the row and notes, by its own monotonic clock, since when it has seen
//!    this exact value (taken *after* the read returned: the write it shows was sent before).
//! 3. A healthy non-holder acquires when the row is released, names this node (a former
//!    incarnation of this daemon), or has not changed for `lease + margin`: `UPDATE ... SET
//!    holder = me, generation = generation + 1, renewals = 0 WHERE` the row is still exactly
//!    what it saw. Galera's certification orders it against any concurrent renewal or takeover,
//!    and only a node in the Primary component can commit it; a conflict fails (error 1213).
//!
//! This module only observes and acts on the row; whether the node may answer 200 *now* is
//! decided from the published snapshot by [`crate::health::writer`]. "Healthy" comes in as a
//! function from the caller (the Galera verdict), so this layer does not judge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::collectors::{publisher, CollectorStats, Feed, Publisher, Ticker};
use crate::config::{DbAddress, DbEndpoint, WriterConfig};

/// The lease row as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The holder's wsrep_node_name; empty when released (or never taken).
    pub holder: String,
    /// Bumped by every acquisition: a renewal names the generation it holds.
    pub generation: u64,
    /// Bumped by every renewal (and by a release), so a live holder's row keeps changing.
    pub renewals: u64,
}

impl Lease {
    pub fn released(&self) -> bool {
        self.holder.is_empty()
    }
}

/// What one lease statement (renewal, release or acquisition) came to, for
/// `clustercheckd_writer_lease_renewals_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// One row updated: confirmed.
    Ok,
    /// Zero rows: the row no longer says what the statement expected (the lease moved).
    Lost,
    /// Galera certification (or a local lock) refused it: a concurrent update won (1213).
    Conflict,
    /// The node cannot commit (not in the Primary component, not ready: 1047).
    NotPrimary,
    /// No answer within `writer.timeout`.
    Timeout,
    /// Anything else (connection refused, privileges, ...).
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Lost,
        Outcome::Conflict,
        Outcome::NotPrimary,
        Outcome::Timeout,
        Outcome::Error,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Lost => "lost",
            Outcome::Conflict => "conflict",
            Outcome::NotPrimary => "not_primary",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }

    fn index(self) -> usize {
        Outcome::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// Which lease statement was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Statement {
    Renewal,
    Release,
    Acquisition,
}

/// The last lease statement this daemon sent and what it came to (for /status and /ui).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastStatement {
    pub statement: Statement,
    pub outcome: Outcome,
    /// When it was sent, by this daemon's monotonic clock.
    pub sent: Instant,
}

/// Statement counts by [`Outcome`] (indexed like [`Outcome::ALL`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; 6]);

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        self.0[outcome.index()] += 1;
    }

    pub fn get(&self, outcome: Outcome) -> u64 {
        self.0[outcome.index()]
    }
}

/// This daemon holds the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub generation: u64,
    /// When the last confirmed renewal (or the acquisition) was *sent*, by this daemon's
    /// monotonic clock: the holder's deadline runs from here.
    pub renewal_issued: Instant,
    /// When the acquisition was confirmed.
    pub acquired_at: Instant,
    /// No 200 before this: the acquisition's confirmation plus the handover gap.
    pub answer_from: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Not the holder (every daemon starts so, also after a restart).
    Follower,
    Holder(Holding),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    Unreachable(String),
    #[error("no answer within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("node cannot commit (not Primary or not ready): {0}")]
    NotPrimary(String),
    #[error("query failed: {0}")]
    Query(String),
    #[error("the lease row (id {0} in {table}) does not exist", table = crate::config::LEASE_TABLE)]
    NoRow(u8),
    #[error("wsrep_node_name is empty: the lease needs a node name")]
    NoIdentity,
}

/// The latest observation, published after every round.
#[derive(Debug, Clone)]
pub struct WriterSnapshot {
    /// When the last round finished; `None` before the first.
    pub taken_at: Option<Instant>,
    /// This node's name in the lease (its wsrep_node_name), once known.
    pub identity: Option<String>,
    /// The row as last read, or why it could not be read.
    pub lease: Result<Lease, LeaseError>,
    /// Since when (this daemon's clock, after the read that first showed it) the row has held
    /// the value last read.
    pub seen_since: Option<Instant>,
    /// Since when (as `seen_since`) the row has named its current generation: the time of the
    /// last handover as this daemon saw it. `None` when it has named it since this daemon's
    /// first read (a handover before this daemon started is long over for `/writer/backup`).
    pub generation_seen_since: Option<Instant>,
    pub role: Role,
    /// Lease statements by outcome (renewals, releases and acquisitions).
    pub statements: Counts,
    /// The last of them; `None` before the first.
    pub last_statement: Option<LastStatement>,
    /// Acquisitions by this daemon (each one is a handover to this node).
    pub acquisitions: u64,
    /// Releases by this daemon that were confirmed.
    pub releases: u64,
    pub stats: CollectorStats,
}

impl WriterSnapshot {
    pub fn initial() -> Self {
        Self {
            taken_at: None,
            identity: None,
            lease: Err(LeaseError::Unreachable(
                "no lease read has completed yet".into(),
            )),
            seen_since: None,
            generation_seen_since: None,
            role: Role::Follower,
            statements: Counts::default(),
            last_statement: None,
            acquisitions: 0,
            releases: 0,
            stats: CollectorStats::new(),
        }
    }

    pub fn holding(&self) -> Option<&Holding> {
        match &self.role {
            Role::Holder(holding) => Some(holding),
            Role::Follower => None,
        }
    }
}

pub type WriterWatch = tokio::sync::watch::Receiver<Arc<WriterSnapshot>>;

/// Is the local Galera node healthy right now (the Galera verdict)? Passed in by the caller so
/// this collector does not judge.
pub type Healthy = Arc<dyn Fn() -> bool + Send + Sync>;

// Every statement names the row first (`writer.lease_row`).
const READ: &str =
    "SELECT holder, generation, renewals FROM clustercheckd.writer_lease WHERE id = ?";
const RENEW: &str = "UPDATE clustercheckd.writer_lease SET renewals = renewals + 1 \
                     WHERE id = ? AND holder = ? AND generation = ?";
const RELEASE: &str = "UPDATE clustercheckd.writer_lease SET holder = '', renewals = renewals + 1 \
                       WHERE id = ? AND holder = ? AND generation = ?";
const ACQUIRE: &str = "UPDATE clustercheckd.writer_lease \
                       SET holder = ?, generation = generation + 1, renewals = 0 \
                       WHERE id = ? AND holder = ? AND generation = ? AND renewals = ?";
/// Causal reads would wait behind the apply queue (and fail outside a Primary component); the
/// conditional updates are safe without them (certification). Row-lock waits end within a
/// second instead of InnoDB's 50.
const SESSION_SETUP: &str =
    "SET SESSION wsrep_sync_wait = 0, innodb_lock_wait_timeout = 1, lock_wait_timeout = 1";

/// Start the lease loop; it stops (releasing a held lease) when `shutdown` is cancelled.
pub fn spawn(
    config: WriterConfig,
    endpoint: DbEndpoint,
    healthy: Healthy,
    shutdown: CancellationToken,
) -> (Feed<WriterSnapshot>, tokio::task::JoinHandle<()>) {
    let (tx, feed) = publisher(WriterSnapshot::initial());
    let lease = Leaser::new(config, endpoint, healthy);
    let handle = tokio::spawn(lease.run(tx, shutdown));
    (feed, handle)
}

struct Leaser {
    config: WriterConfig,
    opts: mysql_async::Opts,
    endpoint_text: String,
    healthy: Healthy,
    conn: Option<Conn>,
    snapshot: WriterSnapshot,
    /// The generation of the last successful read (kept across failed reads, so a handover
    /// during an outage of the lease connection is still seen as one).
    last_generation: Option<u64>,
}

impl Leaser {
    fn new(config: WriterConfig, endpoint: DbEndpoint, healthy: Healthy) -> Self {
        let base = OptsBuilder::default()
            .user(Some(endpoint.user.clone()))
            .pass(Some(endpoint.password.expose().to_owned()))
            .prefer_socket(false);
        let opts = match &endpoint.address {
            DbAddress::Socket(path) => base.socket(Some(path.to_string_lossy().into_owned())),
            DbAddress::Tcp { host, port } => base.ip_or_hostname(host.clone()).tcp_port(*port),
            // The first candidate: with candidates, the Galera poller finds the live one; the
            // lease needs a fixed address (docs/writer.md says to set one).
            DbAddress::SocketCandidates(paths) => base.socket(
                paths
                    .first()
                    .map(|p| p.to_string_lossy().into_owned())
                    .or_else(|| Some("/run/mysqld/mysqld.sock".to_owned())),
            ),
        };
        Self {
            endpoint_text: format!("{}@{}", endpoint.user, endpoint.address),
            config,
            opts: opts.into(),
            healthy,
            conn: None,
            snapshot: WriterSnapshot::initial(),
            last_generation: None,
        }
    }

    async fn run(mut self, tx: Publisher<WriterSnapshot>, shutdown: CancellationToken) {
        tracing::info!(endpoint = %self.endpoint_text, lease = ?self.config.lease,
            margin = ?self.config.margin, renew_interval = ?self.config.renew_interval,
            handover_gap = ?self.config.handover_gap(), "writer lease started");
        let mut ticker = Ticker::new(self.config.renew_interval);
        while ticker.tick(&shutdown).await {
            self.round(&tx).await;
            tx.publish(self.snapshot.clone());
        }
        if let Role::Holder(holding) = self.snapshot.role.clone() {
            // A stopping daemon answers nothing: hand the role on at once instead of making the
            // others wait for the lease to expire.
            self.snapshot.role = Role::Follower;
            tx.publish(self.snapshot.clone());
            self.release(&holding, "the daemon is stopping").await;
            tx.publish(self.snapshot.clone());
        }
        if let Some(conn) = self.conn.take() {
            let _ = tokio::time::timeout(self.config.timeout, conn.disconnect()).await;
        }
        tracing::info!("writer lease stopped");
    }

    /// One round: renew or release, read, maybe acquire.
    async fn round(&mut self, tx: &Publisher<WriterSnapshot>) {
        let started = Instant::now();
        let healthy = (self.healthy)();
        if let Role::Holder(holding) = self.snapshot.role.clone() {
            if healthy {
                self.renew(&holding).await;
            } else {
                // Stop answering 200 first (published before the release is even sent), then
                // hand the row back if the node can still commit.
                self.snapshot.role = Role::Follower;
                tx.publish(self.snapshot.clone());
                self.release(&holding, "the Galera node is unhealthy").await;
            }
        }
        let read = self.read().await;
        let finished = Instant::now();
        self.snapshot
            .stats
            .record(read.is_ok(), finished - started, finished);
        match read {
            Ok(lease) => {
                if self.snapshot.lease.as_ref().ok() != Some(&lease) {
                    self.snapshot.seen_since = Some(finished);
                }
                self.note_generation(lease.generation, finished);
                self.snapshot.lease = Ok(lease);
            }
            Err(error) => self.snapshot.lease = Err(error),
        }
        if healthy && self.snapshot.role == Role::Follower {
            self.maybe_acquire().await;
        }
        self.snapshot.taken_at = Some(Instant::now());
    }

    async fn renew(&mut self, holding: &Holding) {
        let Some(me) = self.snapshot.identity.clone() else {
            return;
        };
        let issued = Instant::now();
        let row = self.config.lease_row;
        let outcome = self.update(RENEW, (row, me, holding.generation)).await;
        self.note(Statement::Renewal, outcome, issued);
        match outcome {
            Outcome::Ok => {
                if let Role::Holder(h) = &mut self.snapshot.role {
                    h.renewal_issued = issued;
                }
            }
            Outcome::Lost => {
                tracing::warn!(
                    generation = holding.generation,
                    "writer: the lease moved to another node; no longer the writer"
                );
                self.snapshot.role = Role::Follower;
            }
            // The deadline keeps running; the next round tries again.
            _ => {}
        }
    }

    async fn release(&mut self, holding: &Holding, why: &str) {
        let Some(me) = self.snapshot.identity.clone() else {
            return;
        };
        let (row, sent) = (self.config.lease_row, Instant::now());
        let outcome = self.update(RELEASE, (row, me, holding.generation)).await;
        self.note(Statement::Release, outcome, sent);
        if outcome == Outcome::Ok {
            self.snapshot.releases += 1;
            tracing::info!(
                generation = holding.generation,
                why,
                "writer: released the lease"
            );
        } else {
            tracing::warn!(
                generation = holding.generation,
                why,
                outcome = outcome.label(),
                "writer: stopped answering as the writer; the lease could not be released and \
                 expires on its own"
            );
        }
    }

    /// Acquire when the row is released, names this node, or has not changed for
    /// `lease + margin` by this daemon's clock.
    async fn maybe_acquire(&mut self) {
        let (Ok(lease), Some(seen_since), Some(me)) = (
            self.snapshot.lease.clone(),
            self.snapshot.seen_since,
            self.snapshot.identity.clone(),
        ) else {
            return;
        };
        let expired = seen_since.elapsed() >= self.config.takeover_after();
        if !(lease.released() || lease.holder == me || expired) {
            return;
        }
        let issued = Instant::now();
        let outcome = self
            .update(
                ACQUIRE,
                (
                    me.clone(),
                    self.config.lease_row,
                    lease.holder.clone(),
                    lease.generation,
                    lease.renewals,
                ),
            )
            .await;
        self.note(Statement::Acquisition, outcome, issued);
        if outcome != Outcome::Ok {
            return;
        }
        let confirmed = Instant::now();
        let generation = lease.generation + 1;
        self.snapshot.role = Role::Holder(Holding {
            generation,
            renewal_issued: issued,
            acquired_at: confirmed,
            answer_from: confirmed + self.config.handover_gap(),
        });
        self.snapshot.acquisitions += 1;
        self.snapshot.lease = Ok(Lease {
            holder: me,
            generation,
            renewals: 0,
        });
        self.snapshot.seen_since = Some(confirmed);
        self.note_generation(generation, confirmed);
        let from = if lease.released() {
            "released".to_owned()
        } else if lease.holder == self.snapshot.identity.clone().unwrap_or_default() {
            "this node's previous daemon".to_owned()
        } else {
            format!(
                "{} (unchanged for {:.1} s)",
                lease.holder,
                seen_since.elapsed().as_secs_f64()
            )
        };
        tracing::info!(generation, from = %from, gap = ?self.config.handover_gap(),
            "writer: acquired the lease; answering 200 after the handover gap");
    }

    /// A generation other than the last one read is a handover, seen at `at`. The first read
    /// after start is not: that handover happened before this daemon could see it.
    fn note_generation(&mut self, generation: u64, at: Instant) {
        if self.last_generation.is_some_and(|last| last != generation) {
            self.snapshot.generation_seen_since = Some(at);
        }
        self.last_generation = Some(generation);
    }

    /// Count a statement's outcome and remember it as the last one.
    fn note(&mut self, statement: Statement, outcome: Outcome, sent: Instant) {
        self.snapshot.statements.add(outcome);
        self.snapshot.last_statement = Some(LastStatement {
            statement,
            outcome,
            sent,
        });
    }

    /// Run one conditional UPDATE under the timeout; a failure drops the connection.
    async fn update(
        &mut self,
        sql: &str,
        params: impl Into<mysql_async::Params> + Send,
    ) -> Outcome {
        let params = params.into();
        let timeout = self.config.timeout;
        let result = tokio::time::timeout(timeout, async {
            let conn = self.connection().await?;
            conn.exec_drop(sql, params).await.map_err(classify)?;
            Ok::<u64, LeaseError>(conn.affected_rows())
        })
        .await;
        let outcome = match result {
            Ok(Ok(1)) => Outcome::Ok,
            Ok(Ok(_)) => Outcome::Lost,
            Ok(Err(LeaseError::Query(message))) if message.contains("(1213)") => Outcome::Conflict,
            Ok(Err(LeaseError::NotPrimary(_))) => Outcome::NotPrimary,
            Ok(Err(_)) => Outcome::Error,
            Err(_) => Outcome::Timeout,
        };
        if !matches!(outcome, Outcome::Ok | Outcome::Lost | Outcome::Conflict) {
            // Mid-protocol, or the server is gone: start afresh next time. (A timed-out
            // statement may still commit later; it was not counted, which only errs late.)
            self.conn = None;
        }
        outcome
    }

    async fn read(&mut self) -> Result<Lease, LeaseError> {
        let (timeout, id) = (self.config.timeout, self.config.lease_row);
        let result = tokio::time::timeout(timeout, async {
            let conn = self.connection().await?;
            let row: Option<(String, u64, u64)> =
                conn.exec_first(READ, (id,)).await.map_err(classify)?;
            row.map(|(holder, generation, renewals)| Lease {
                holder,
                generation,
                renewals,
            })
            .ok_or(LeaseError::NoRow(id))
        })
        .await
        .unwrap_or(Err(LeaseError::Timeout(timeout)));
        if matches!(result, Err(ref e) if !matches!(e, LeaseError::NoRow(_))) {
            self.conn = None;
        }
        result
    }

    /// The connection, opened (and this node's name read) when there is none.
    async fn connection(&mut self) -> Result<&mut Conn, LeaseError> {
        if self.conn.is_none() {
            let mut conn = Conn::new(self.opts.clone()).await.map_err(classify)?;
            if let Err(error) = conn.query_drop(SESSION_SETUP).await {
                tracing::debug!(%error, "writer: session settings not all applied");
            }
            let name: Option<Option<String>> = conn
                .query_first("SELECT @@wsrep_node_name")
                .await
                .map_err(classify)?;
            let name = name
                .flatten()
                .filter(|n| !n.is_empty())
                .ok_or(LeaseError::NoIdentity)?;
            if self.snapshot.identity.as_ref() != Some(&name) {
                tracing::info!(identity = %name, "writer: this node's name in the lease");
                self.snapshot.identity = Some(name);
            }
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| LeaseError::Unreachable("no connection".into()))
    }
}

fn classify(error: mysql_async::Error) -> LeaseError {
    match error {
        // "WSREP has not yet prepared node for application use" (outside the Primary
        // component, or not ready).
        mysql_async::Error::Server(e) if e.code == 1047 => LeaseError::NotPrimary(e.message),
        mysql_async::Error::Server(e) => LeaseError::Query(format!("{} ({})", e.message, e.code)),
        other => LeaseError::Unreachable(other.to_string()),
    }
}
