//! `clustercheckd recover`: after a full Galera outage, which node to bootstrap, and why.
//!
//! Run by an operator (as root when `--wsrep-recover` needs it), never by the daemon. It reads
//! every node's state from the daemons' `/status` pages (`--peer URL`, `--self URL`, or from
//! `-c CONFIG` this node's own listener and its `[peers] urls`): whether mysqld is down, and what
//! Galera's state files say (`galera.data_dir`: grastate.dat's cluster UUID, seqno and
//! safe_to_bootstrap; gvwstate.dat's saved Primary view). The pages are read as the daemon reads
//! its peers, with the same client ([`crate::collectors::peers::client`]): `[peers] ca_file` is
//! the only CA trusted for https://, and `[peers] username`/`password_file` are the basic auth
//! (sent to the `[peers]` URLs, to https:// ones and to this node's web-config listener, never in
//! clear text to a plain http:// URL named only on the command line). Then [`advise`], a pure
//! function, decides:
//!
//! - It **refuses** (one line per problem, exit 1) when the evidence is not complete and
//!   consistent: a node whose daemon does not answer, a node whose mysqld still runs (or hangs,
//!   or whose daemon cannot tell), a node without readable state files, different cluster UUIDs.
//!   Bootstrapping while one of those holds is how clusters split or lose transactions.
//! - When a node's seqno is -1 (mysqld crashed or was killed: Galera writes the position only on
//!   a clean shutdown) and no recovered position was given for it, it names those nodes and asks
//!   for `--wsrep-recover` on each (exit 3): without their positions, any choice could lose the
//!   last transactions.
//! - Otherwise it names the node with the highest seqno (safe_to_bootstrap 1 breaks a tie: the
//!   last to leave) and prints the exact commands: the `safe_to_bootstrap` edit only when that
//!   node needs it, `galera_new_cluster` or `mysqld --wsrep-new-cluster`, then the others (exit 0).
//! - When every node saved the same Primary view in gvwstate.dat (a crash of the whole cluster
//!   at once), it also says that starting them all together lets pc.recovery re-form the Primary
//!   Component by itself, with no bootstrap at all.
//!
//! `--wsrep-recover` runs `mysqld --wsrep-recover` on this node only (as the mysql user, with the
//! node's defaults file), after its daemon reported mysqld down, and reads
//! `WSREP: Recovered position: UUID:SEQNO` from the log it wrote. Positions recovered on the
//! other nodes come in with `--position NODE=UUID:SEQNO`. Nothing here ever edits a file: the
//! commands are printed for the operator to run on the chosen node.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Exit codes (besides 2, a usage or configuration error, as for the daemon).
pub const EXIT_ADVICE: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NEED_POSITIONS: u8 = 3;

/// Galera's UUID of "no cluster yet" (a node that never joined one).
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// A position in a cluster's history: `UUID:SEQNO`, as Galera prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub uuid: String,
    pub seqno: i64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uuid, self.seqno)
    }
}

impl std::str::FromStr for Position {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (uuid, seqno) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("`{text}` is not UUID:SEQNO"))?;
        let seqno: i64 = seqno
            .parse()
            .map_err(|_| format!("`{text}`: the seqno is not a number"))?;
        if !is_uuid(uuid) {
            return Err(format!("`{text}`: `{uuid}` is not a UUID"));
        }
        if seqno < -1 {
            return Err(format!("`{text}`: a seqno is -1 or more"));
        }
        Ok(Position {
            uuid: uuid.to_ascii_lowercase(),
            seqno,
        })
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether mysqld runs on a node, as its daemon's last poll saw it (`/status` `galera.mysqld`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mysqld {
    Running,
    Down,
    NotAnswering,
    /// Never polled, stale, or a daemon too old to say.
    Unknown,
}

impl Mysqld {
    fn from_status(text: Option<&str>) -> Self {
        match text {
            Some("running") => Mysqld::Running,
            Some("down") => Mysqld::Down,
            Some("not_answering") => Mysqld::NotAnswering,
            _ => Mysqld::Unknown,
        }
    }
}

/// grastate.dat as the node's daemon read it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Saved {
    pub uuid: String,
    pub seqno: i64,
    #[serde(default)]
    pub safe_to_bootstrap: Option<bool>,
}

/// gvwstate.dat as the node's daemon read it: this node's group UUID and the last Primary view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub my_uuid: String,
    pub view_id: Option<String>,
    pub members: Vec<String>,
}

/// One node's evidence, from its daemon's /status (plus a recovered position, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub mysqld: Mysqld,
    /// The daemon's own reason when mysqld is not down (its last poll error).
    pub detail: Option<String>,
    pub data_dir: Option<String>,
    /// `None` when the daemon reads no state files (no `galera.data_dir`).
    pub grastate: Option<Result<Saved, String>>,
    pub gvwstate: Option<Result<Option<View>, String>>,
    /// From `--wsrep-recover` on this node, or `--position` for another.
    pub recovered: Option<Position>,
}

/// One node as the operator named it: its display name, its /status URL, and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub url: String,
    /// `Err` when the daemon did not answer or the page was not usable.
    pub state: Result<NodeState, String>,
}

impl Node {
    fn label(&self) -> String {
        if self.url.contains(&self.name) {
            self.url.clone()
        } else {
            format!("{} ({})", self.name, self.url)
        }
    }
}

/// Why no advice is given. Each is one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoNodes,
    NotReporting {
        node: String,
        error: String,
    },
    NoGalera {
        node: String,
    },
    NoStateFiles {
        node: String,
    },
    StateUnreadable {
        node: String,
        error: String,
    },
    Running {
        node: String,
        detail: String,
    },
    NotAnswering {
        node: String,
        detail: String,
    },
    MysqldUnknown {
        node: String,
    },
    DifferentClusters {
        uuids: Vec<(String, String)>,
    },
    RecoveredFromOtherCluster {
        node: String,
        saved: String,
        recovered: String,
    },
    SameNode {
        first: String,
        second: String,
    },
    NeverJoined,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NoNodes => write!(
                f,
                "no node to ask: give --peer URL for every node (and --self URL or -c CONFIG)"
            ),
            Problem::NotReporting { node, error } => write!(
                f,
                "{node}: its clustercheckd did not report ({error}): its data may be the most \
                 recent; start the daemon (not mysqld) there, or check the URL"
            ),
            Problem::NoGalera { node } => {
                write!(f, "{node}: its clustercheckd does not watch Galera")
            }
            Problem::NoStateFiles { node } => write!(
                f,
                "{node}: its clustercheckd does not read Galera's state files: set \
                 galera.data_dir in its config"
            ),
            Problem::StateUnreadable { node, error } => write!(
                f,
                "{node}: grastate.dat: {error} (fix the read ACL, or read the file by hand)"
            ),
            Problem::Running { node, detail } => write!(
                f,
                "{node}: mysqld is running ({detail}): stop it, or if the cluster is still up \
                 there, join the other nodes to it instead of bootstrapping"
            ),
            Problem::NotAnswering { node, detail } => write!(
                f,
                "{node}: mysqld does not answer but may be running ({detail}): make sure it is \
                 stopped (no mysqld/mariadbd process) before bootstrapping anything"
            ),
            Problem::MysqldUnknown { node } => write!(
                f,
                "{node}: its clustercheckd cannot tell whether mysqld runs (never polled, stale, \
                 or too old a version)"
            ),
            Problem::DifferentClusters { uuids } => {
                let list: Vec<String> = uuids.iter().map(|(n, u)| format!("{n} {u}")).collect();
                write!(
                    f,
                    "the nodes belong to different cluster histories ({}): do not bootstrap; \
                     treat it as a split brain (docs/runbook.md#galerasplitbrain)",
                    list.join(", ")
                )
            }
            Problem::RecoveredFromOtherCluster {
                node,
                saved,
                recovered,
            } => write!(
                f,
                "{node}: the recovered position belongs to cluster {recovered}, but grastate.dat \
                 says {saved}"
            ),
            Problem::SameNode { first, second } => write!(
                f,
                "{first} and {second} are the same node (same URL or same Galera node UUID): \
                 list each node once"
            ),
            Problem::NeverJoined => write!(
                f,
                "no node has any cluster state (every grastate.dat has the nil UUID): there is \
                 nothing to recover; bootstrap a new cluster as for a first install"
            ),
        }
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Bootstrap `node` (an index into the nodes), then start the others.
    Bootstrap {
        node: usize,
        seqno: i64,
        /// Its grastate.dat says safe_to_bootstrap 0: the edit is needed on it (and only on it).
        set_safe_to_bootstrap: bool,
        /// The other nodes with the same seqno (any of them would do).
        tied: Vec<usize>,
        /// Why this node, in one sentence.
        why: String,
    },
    /// These nodes crashed (seqno -1) and no recovered position was given for them.
    NeedPositions { crashed: Vec<usize> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub cluster_uuid: String,
    pub outcome: Outcome,
    /// Every node saved the same Primary view: starting them all together re-forms it
    /// (pc.recovery), no bootstrap needed. The view id.
    pub pc_recovery: Option<String>,
    /// Odd but not blocking, e.g. safe_to_bootstrap 1 on a node that is not the most advanced.
    pub warnings: Vec<String>,
}

/// The decision, from the nodes' evidence alone.
pub fn advise(nodes: &[Node]) -> Result<Advice, Vec<Problem>> {
    if nodes.is_empty() {
        return Err(vec![Problem::NoNodes]);
    }
    let mut problems = Vec::new();
    // Every node must report, with mysqld down and a readable grastate.dat.
    let mut saved: Vec<(usize, &NodeState, &Saved)> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let label = node.label();
        let state = match &node.state {
            Ok(state) => state,
            Err(error) => {
                problems.push(Problem::NotReporting {
                    node: label,
                    error: error.clone(),
                });
                continue;
            }
        };
        let detail = || state.detail.clone().unwrap_or_else(|| "no detail".into());
        match state.mysqld {
            Mysqld::Down => {}
            Mysqld::Running => problems.push(Problem::Running {
                node: label.clone(),
                detail: detail(),
            }),
            Mysqld::NotAnswering => problems.push(Problem::NotAnswering {
                node: label.clone(),
                detail: detail(),
            }),
            Mysqld::Unknown => problems.push(Problem::MysqldUnknown {
                node: label.clone(),
            }),
        }
        match &state.grastate {
            None => problems.push(Problem::NoStateFiles { node: label }),
            Some(Err(error)) => problems.push(Problem::StateUnreadable {
                node: label,
                error: error.clone(),
            }),
            Some(Ok(s)) => saved.push((i, state, s)),
        }
    }
    // Each node once: the same URL twice, or two pages with one Galera identity.
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            let same_view = match (my_uuid(a), my_uuid(b)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            };
            if a.url == b.url || same_view {
                problems.push(Problem::SameNode {
                    first: a.label(),
                    second: b.label(),
                });
            }
        }
    }
    // One history: the grastate UUIDs (nil ones aside: nodes that never joined get an SST),
    // and a recovered position must belong to it too.
    let mut uuids: Vec<(String, String)> = Vec::new();
    for (i, state, s) in &saved {
        if s.uuid != NIL_UUID {
            uuids.push((nodes[*i].label(), s.uuid.to_ascii_lowercase()));
        }
        if let Some(r) = &state.recovered {
            if s.uuid != NIL_UUID && !s.uuid.eq_ignore_ascii_case(&r.uuid) {
                problems.push(Problem::RecoveredFromOtherCluster {
                    node: nodes[*i].label(),
                    saved: s.uuid.clone(),
                    recovered: r.uuid.clone(),
                });
            }
        }
    }
    if uuids.iter().any(|(_, u)| *u != uuids[0].1) {
        problems.push(Problem::DifferentClusters { uuids });
        return Err(problems);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let Some((_, cluster_uuid)) = uuids.first().cloned() else {
        return Err(vec![Problem::NeverJoined]);
    };

    let pc_recovery = pc_recovery(nodes);
    let mut warnings = Vec::new();
    // Each node's position: the saved seqno after a clean stop, else the recovered one.
    let mut known: Vec<(usize, i64, &Saved)> = Vec::new();
    let mut crashed = Vec::new();
    for (i, state, s) in &saved {
        if s.uuid == NIL_UUID {
            warnings.push(format!(
                "{} never joined the cluster (nil UUID): it will get a full SST when it joins",
                nodes[*i].label()
            ));
            continue;
        }
        match (s.seqno, &state.recovered) {
            (seqno, _) if seqno >= 0 => known.push((*i, seqno, s)),
            (_, Some(r)) if r.seqno >= 0 => known.push((*i, r.seqno, s)),
            _ => crashed.push(*i),
        }
    }
    if !crashed.is_empty() {
        return Ok(Advice {
            cluster_uuid,
            outcome: Outcome::NeedPositions { crashed },
            pc_recovery,
            warnings,
        });
    }
    // Highest seqno; among equals a node marked safe_to_bootstrap (it left last), then the first
    // listed. `known` is not empty: at least one UUID was not nil, and none crashed.
    let best = known
        .iter()
        .max_by(|a, b| {
            (a.1, flag(a.2) && a.2.seqno >= 0)
                .cmp(&(b.1, flag(b.2) && b.2.seqno >= 0))
                .then(b.0.cmp(&a.0))
        })
        .copied();
    let Some((chosen, seqno, chosen_saved)) = best else {
        return Err(vec![Problem::NeverJoined]);
    };
    let tied: Vec<usize> = known
        .iter()
        .filter(|(i, s, _)| *i != chosen && *s == seqno)
        .map(|(i, _, _)| *i)
        .collect();
    // A safe_to_bootstrap 1 elsewhere with a lower seqno contradicts "the last to leave": say
    // so, but the highest seqno is what keeps every transaction.
    for (i, s, saved) in &known {
        if *i != chosen && flag(saved) && saved.seqno >= 0 && *s < seqno {
            warnings.push(format!(
                "{} says safe_to_bootstrap 1 but its seqno {s} is below {seqno}: do not \
                 bootstrap it; leave its grastate.dat as it is",
                nodes[*i].label()
            ));
        }
    }
    let others: Vec<String> = known
        .iter()
        .filter(|(i, _, _)| *i != chosen)
        .map(|(i, s, _)| format!("{} {s}", nodes[*i].name))
        .collect();
    let recovered = chosen_saved.seqno < 0;
    let mut why = format!(
        "it has the highest {}seqno, {seqno}",
        if recovered { "recovered " } else { "" }
    );
    if !others.is_empty() {
        why.push_str(&format!(" (others: {})", others.join(", ")));
    }
    if flag(chosen_saved) && !recovered {
        why.push_str(", and safe_to_bootstrap 1: it was the last to leave the cluster");
    }
    Ok(Advice {
        cluster_uuid,
        outcome: Outcome::Bootstrap {
            node: chosen,
            seqno,
            // Galera refuses --wsrep-new-cluster with safe_to_bootstrap 0; files older than 2.1
            // have no such line, and nothing to change. A crashed node's 1 is stale (Galera
            // clears it only at the next clean start), but it lets the bootstrap through anyway.
            set_safe_to_bootstrap: chosen_saved.safe_to_bootstrap == Some(false),
            tied,
            why,
        },
        pc_recovery,
        warnings,
    })
}

fn flag(saved: &Saved) -> bool {
    saved.safe_to_bootstrap == Some(true)
}

fn my_uuid(node: &Node) -> Option<&str> {
    match &node.state {
        Ok(NodeState {
            gvwstate: Some(Ok(Some(view))),
            ..
        }) => Some(&view.my_uuid),
        _ => None,
    }
}

/// pc.recovery re-forms the last Primary Component by itself when every member of that view comes
/// back: true when every node saved a gvwstate.dat, all with the same view and members, and the
/// members are exactly these nodes.
fn pc_recovery(nodes: &[Node]) -> Option<String> {
    let mut views = Vec::new();
    for node in nodes {
        match &node.state {
            Ok(NodeState {
                gvwstate: Some(Ok(Some(view))),
                ..
            }) => views.push(view),
            _ => return None,
        }
    }
    let first = views.first()?;
    let view_id = first.view_id.clone()?;
    let mut members = first.members.clone();
    members.sort();
    let mut mine: Vec<String> = views.iter().map(|v| v.my_uuid.clone()).collect();
    mine.sort();
    let same = views.iter().all(|v| {
        let mut m = v.members.clone();
        m.sort();
        v.view_id.as_deref() == Some(view_id.as_str()) && m == members
    });
    (same && members == mine).then_some(view_id)
}

/// What to print and the exit code.
pub struct Rendered {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

/// The node table, then the advice or the refusal.
pub fn render(nodes: &[Node], advice: &Result<Advice, Vec<Problem>>) -> Rendered {
    let mut out = String::from("Galera nodes, as their clustercheckd daemons report them:\n");
    for node in nodes {
        out.push_str(&format!("  {}: {}\n", node.label(), describe(node)));
    }
    out.push('\n');
    let advice = match advice {
        Ok(advice) => advice,
        Err(problems) => {
            let mut err = String::new();
            for problem in problems {
                err.push_str(&format!("clustercheckd recover: refused: {problem}\n"));
            }
            out.push_str("No advice: the evidence is incomplete or inconsistent (see above).\n");
            return Rendered {
                stdout: out,
                stderr: err,
                code: EXIT_REFUSED,
            };
        }
    };
    for warning in &advice.warnings {
        out.push_str(&format!("Warning: {warning}.\n"));
    }
    let pc = advice.pc_recovery.as_ref().map(|view| {
        format!(
            "Every node saved the same Primary view ({view}) in gvwstate.dat: starting mysqld on \
             all {} nodes at about the same time, normally (no --wsrep-new-cluster, no \
             safe_to_bootstrap edit), lets them re-form the Primary Component by themselves \
             (pc.recovery). Try that first; if they have not formed it within a few minutes, stop \
             them all again and follow the advice below.\n",
            nodes.len()
        )
    });
    match &advice.outcome {
        Outcome::NeedPositions { crashed } => {
            let names: Vec<&str> = crashed.iter().map(|&i| nodes[i].name.as_str()).collect();
            out.push_str(&format!(
                "Crash: seqno -1 on {} (mysqld did not shut down cleanly, so Galera saved no \
                 position). Their last committed position is only in InnoDB.\n",
                names.join(", ")
            ));
            if let Some(pc) = pc {
                out.push_str(&pc);
            }
            out.push_str(
                "To choose a node to bootstrap, recover the positions with --wsrep-recover: on \
                 each of those nodes, as root:\n",
            );
            out.push_str(
                "    clustercheckd recover -c /etc/clustercheckd/clustercheckd.toml --wsrep-recover \
                 [--defaults-file MY.CNF]\n",
            );
            out.push_str(
                "  (it runs `mysqld --wsrep-recover` as the mysql user and prints the node's \
                 position), then run `clustercheckd recover` again on one node with \
                 `--position NODE=UUID:SEQNO` for each of the others.\n",
            );
            Rendered {
                stdout: out,
                stderr: String::new(),
                code: EXIT_NEED_POSITIONS,
            }
        }
        Outcome::Bootstrap {
            node,
            seqno,
            set_safe_to_bootstrap,
            tied,
            why,
        } => {
            if let Some(pc) = pc {
                out.push_str(&pc);
            }
            let chosen = &nodes[*node];
            out.push_str(&format!(
                "Bootstrap {}: {why}. Cluster {}, seqno {seqno}.\n",
                chosen.name, advice.cluster_uuid
            ));
            if !tied.is_empty() {
                let names: Vec<&str> = tied.iter().map(|&i| nodes[i].name.as_str()).collect();
                out.push_str(&format!(
                    "({} {} the same seqno: any one of them would do, but bootstrap only ONE \
                     node.)\n",
                    names.join(", "),
                    if names.len() == 1 { "has" } else { "have" }
                ));
            }
            out.push_str(&format!("On {} only, as root:\n", chosen.name));
            if *set_safe_to_bootstrap {
                let dir = chosen
                    .state
                    .as_ref()
                    .ok()
                    .and_then(|s| s.data_dir.clone())
                    .unwrap_or_else(|| "/var/lib/mysql".into());
                out.push_str(&format!(
                    "    {}\n",
                    safe_to_bootstrap_command(Path::new(&dir))
                ));
            }
            out.push_str(
                "    galera_new_cluster\n  (without systemd: start mysqld as you always do, adding \
                 --wsrep-new-cluster, e.g. `mysqld --defaults-file=MY.CNF --wsrep-new-cluster`)\n",
            );
            let rest: Vec<&str> = nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| i != node)
                .map(|(_, n)| n.name.as_str())
                .collect();
            out.push_str(&format!(
                "Wait until {} is Synced and Primary (`curl -s {}` shows galera \"healthy\": \
                 true), then start mysqld normally on {} (`systemctl start mariadb`), one at a \
                 time, each after the previous one is Synced. Do not edit safe_to_bootstrap on \
                 them.\n",
                chosen.name,
                chosen.url,
                if rest.is_empty() {
                    "no other node".to_owned()
                } else {
                    rest.join(", ")
                }
            ));
            Rendered {
                stdout: out,
                stderr: String::new(),
                code: EXIT_ADVICE,
            }
        }
    }
}

/// The one edit on the chosen node, exactly: only `0` becomes `1`, nothing else in the file.
pub fn safe_to_bootstrap_command(data_dir: &Path) -> String {
    format!(
        "sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' {}",
        shell_quote(&data_dir.join("grastate.dat").to_string_lossy())
    )
}

fn shell_quote(text: &str) -> String {
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@".contains(&b))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// One line per node for the table.
fn describe(node: &Node) -> String {
    let state = match &node.state {
        Ok(state) => state,
        Err(error) => return format!("NOT REPORTING ({error})"),
    };
    let mysqld = match state.mysqld {
        Mysqld::Running => "mysqld RUNNING",
        Mysqld::Down => "mysqld down",
        Mysqld::NotAnswering => "mysqld NOT ANSWERING",
        Mysqld::Unknown => "mysqld UNKNOWN",
    };
    let files = match &state.grastate {
        None => "no state files (galera.data_dir unset)".to_owned(),
        Some(Err(error)) => format!("grastate.dat: {error}"),
        Some(Ok(s)) => format!(
            "uuid {} seqno {}{} safe_to_bootstrap {}",
            s.uuid,
            s.seqno,
            if s.seqno < 0 { " (crash)" } else { "" },
            match s.safe_to_bootstrap {
                Some(true) => "1",
                Some(false) => "0",
                None => "-",
            }
        ),
    };
    let view = match &state.gvwstate {
        Some(Ok(Some(v))) => format!(
            ", gvwstate.dat view {} with {} members",
            v.view_id.as_deref().unwrap_or("?"),
            v.members.len()
        ),
        Some(Ok(None)) => ", no gvwstate.dat".to_owned(),
        Some(Err(e)) => format!(", gvwstate.dat: {e}"),
        None => String::new(),
    };
    let recovered = state
        .recovered
        .as_ref()
        .map(|p| format!(", recovered position {p}"))
        .unwrap_or_default();
    format!("{mysqld}, {files}{view}{recovered}")
}

// ---- The command ----

/// `clustercheckd recover`'s options (the flags are defined in main.rs).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Other nodes' daemons (`http://host:port` or their /status URL), besides `config`'s
    /// `[peers] urls`.
    pub peers: Vec<String>,
    /// This node's daemon; defaults to the listener of `config`.
    pub self_url: Option<String>,
    /// This node's daemon config: its listener, and its `[peers]` (URLs, CA, credentials).
    pub config: Option<PathBuf>,
    /// Per page.
    pub timeout: Duration,
    /// `NODE=UUID:SEQNO`, recovered on other nodes.
    pub positions: Vec<String>,
    /// Run `mysqld --wsrep-recover` here; `None` without `--wsrep-recover`.
    pub wsrep_recover: Option<WsrepRecoverFlags>,
}

#[derive(Debug, Clone)]
pub struct WsrepRecoverFlags {
    pub mysqld: PathBuf,
    pub defaults_file: Option<PathBuf>,
    pub user: String,
    pub timeout: Duration,
}

/// Run the command; returns the exit code.
pub fn main(options: &Options) -> u8 {
    match run(options) {
        Ok(rendered) => {
            print!("{}", rendered.stdout);
            eprint!("{}", rendered.stderr);
            rendered.code
        }
        Err((code, message)) => {
            eprintln!("clustercheckd recover: {message}");
            code
        }
    }
}

fn run(options: &Options) -> Result<Rendered, (u8, String)> {
    let usage = |m: String| (EXIT_USAGE, m);
    let mut urls: Vec<String> = options.peers.iter().map(|u| status_url(u)).collect();
    let config = match &options.config {
        Some(path) => Some(
            crate::config::Config::load(Some(path), &crate::config::Overrides::default())
                .map_err(|e| usage(e.to_string()))?,
        ),
        None => None,
    };
    let (self_url, self_behind_web_config) = match (&options.self_url, &config) {
        (Some(url), _) => (Some(status_url(url)), false),
        (None, Some(config)) => {
            let (url, web) = self_url_from_config(config).map_err(usage)?;
            (Some(url), web)
        }
        (None, None) => (None, false),
    };
    // The config's `[peers] urls` are the other nodes, as the daemon polls them, read with the
    // same client: `[peers]`' CA and credentials.
    let peers = config.as_ref().map(|c| c.peers.clone()).unwrap_or_default();
    for url in &peers.urls {
        let url = status_url(url);
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if let Some(url) = &self_url {
        if !urls.contains(url) {
            urls.push(url.clone());
        }
    }
    if urls.is_empty() {
        return Err(usage(
            "no node to ask: give --peer URL for each other node and --self URL or -c CONFIG"
                .into(),
        ));
    }
    // Only `[peers] ca_file`'s CAs are trusted, as by the daemon: without it an https:// page
    // cannot be verified, whatever it is.
    if peers.ca_certificates.is_empty() {
        if let Some(url) = urls.iter().find(|u| u.starts_with("https://")) {
            return Err(usage(format!(
                "{url}: https:// pages are read with the CA of [peers] ca_file: give -c CONFIG \
                 with it"
            )));
        }
    }
    let own_web_listener = self_url.as_deref().filter(|_| self_behind_web_config);
    let targets = targets(urls, &peers, own_web_listener);
    // Parsed before any page is fetched or mysqld run: a typo costs nothing.
    let mut positions = Vec::new();
    for text in &options.positions {
        let (key, position) = text
            .rsplit_once('=')
            .ok_or_else(|| usage(format!("--position {text}: expected NODE=UUID:SEQNO")))?;
        let position: Position = position
            .parse()
            .map_err(|e| usage(format!("--position {text}: {e}")))?;
        positions.push((key.to_owned(), position));
    }
    if options.wsrep_recover.is_some() && self_url.is_none() {
        return Err(usage(
            "--wsrep-recover runs on this node: give --self URL or -c CONFIG so its daemon confirms mysqld is down"
                .into(),
        ));
    }
    let mut nodes = fetch_all(&targets, &peers, options.timeout)?;
    // By name, whatever order the flags came in: the table and the tie-break read the same on
    // every node.
    nodes.sort_by(|a, b| a.name.cmp(&b.name).then(a.url.cmp(&b.url)));
    let self_index = self_url.and_then(|url| nodes.iter().position(|n| n.url == url));
    for (key, position) in positions {
        let matching: Vec<usize> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.name == key || n.url == key || host_of(&n.url) == key)
            .map(|(i, _)| i)
            .collect();
        let [i] = matching[..] else {
            return Err(usage(format!(
                "--position {key}=...: {} nodes are named so (names: {})",
                matching.len(),
                nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if let Ok(state) = &mut nodes[i].state {
            state.recovered = Some(position);
        }
    }
    let mut preface = String::new();
    if let (Some(flags), Some(i)) = (&options.wsrep_recover, self_index) {
        let node = &nodes[i];
        let data_dir = match &node.state {
            Ok(NodeState {
                mysqld: Mysqld::Down,
                data_dir: Some(dir),
                ..
            }) => dir.clone(),
            Ok(NodeState {
                mysqld: Mysqld::Down,
                ..
            }) => {
                return Err((
                    EXIT_REFUSED,
                    format!(
                        "refused: --wsrep-recover: {} does not report its data directory (galera.data_dir)",
                        node.label()
                    ),
                ))
            }
            Ok(_) => {
                return Err((
                    EXIT_REFUSED,
                    format!(
                        "refused: --wsrep-recover: {}: {}; mysqld must be down",
                        node.label(),
                        describe(node)
                    ),
                ))
            }
            Err(error) => {
                return Err((
                    EXIT_REFUSED,
                    format!(
                        "refused: --wsrep-recover: this node's daemon did not report ({error}): it must confirm mysqld is down"
                    ),
                ))
            }
        };
        let run = WsrepRecover {
            mysqld: flags.mysqld.clone(),
            defaults_file: flags.defaults_file.clone(),
            user: flags.user.clone(),
            data_dir,
            timeout: flags.timeout,
        };
        let position =
            run_wsrep_recover(&run).map_err(|e| (EXIT_REFUSED, format!("--wsrep-recover: {e}")))?;
        preface.push_str(&format!(
            "This node ({}): recovered position {position}
  (on the node where you run the advice, pass: --position {}={position})

",
            node.name, node.name
        ));
        if let Ok(state) = &mut nodes[i].state {
            state.recovered = Some(position);
        }
    }
    let advice = advise(&nodes);
    let mut rendered = render(&nodes, &advice);
    rendered.stdout.insert_str(0, &preface);
    Ok(rendered)
}

/// Each URL with the `[peers]` credentials to send it, if any. They go where the daemon sends
/// them (its `[peers] urls`), to https:// pages, and to this node's own web-config listener;
/// never in clear text to a plain http:// URL named only on the command line (e.g. a check
/// listener, which asks for none).
fn targets(
    urls: Vec<String>,
    peers: &crate::config::PeersConfig,
    own_web_listener: Option<&str>,
) -> Vec<Target> {
    urls.into_iter()
        .map(|url| {
            let send = peers.urls.iter().any(|p| status_url(p) == url)
                || url.starts_with("https://")
                || own_web_listener == Some(url.as_str());
            Target {
                credentials: peers.credentials.clone().filter(|_| send),
                url,
            }
        })
        .collect()
}

/// This node's daemon, from its config: the metrics listener if there is one (it serves
/// /status), else the check listener; a wildcard address is reached on loopback. With a web
/// config on the metrics listener: https:// when it has TLS, read with `[peers]`' CA and
/// credentials (the second value says so), which must then be set.
fn self_url_from_config(config: &crate::config::Config) -> Result<(String, bool), String> {
    let listen = &config.listen;
    let mut addr = listen.metrics.unwrap_or(listen.check);
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let web = match (&listen.metrics, &listen.web_config_file) {
        (Some(_), Some(path)) => crate::config::web::load(path).map_err(|e| e.to_string())?,
        _ => return Ok((format!("http://{addr}/status"), false)),
    };
    let peers = &config.peers;
    let missing = if web.tls.is_some() && peers.ca_certificates.is_empty() {
        Some("its TLS needs [peers] ca_file")
    } else if !web.users.is_empty() && peers.credentials.is_none() {
        Some("its basic auth needs [peers] username and password_file")
    } else {
        None
    };
    if let Some(missing) = missing {
        return Err(format!(
            "this node's metrics listener uses a web config ({}): {missing} (recover reads every \
             page as the daemon reads its peers'), or give --self URL",
            listen
                .web_config_file
                .as_deref()
                .unwrap_or(Path::new("?"))
                .display()
        ));
    }
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    Ok((format!("{scheme}://{addr}/status"), true))
}

// ---- Reading the daemons' pages ----

#[derive(Deserialize)]
struct StatusPage {
    node_name: Option<String>,
    galera: Option<GaleraSection>,
}

#[derive(Deserialize)]
struct GaleraSection {
    mysqld: Option<String>,
    reason: Option<String>,
    error: Option<String>,
    state_files: Option<StateFilesSection>,
}

#[derive(Deserialize)]
struct StateFilesSection {
    data_dir: Option<String>,
    grastate: Option<Saved>,
    grastate_error: Option<String>,
    gvwstate: Option<ViewSection>,
    gvwstate_error: Option<String>,
}

#[derive(Deserialize)]
struct ViewSection {
    my_uuid: String,
    view_id: Option<String>,
    #[serde(default)]
    members: Vec<MemberSection>,
}

#[derive(Deserialize)]
struct MemberSection {
    uuid: String,
}

/// A /status document (JSON) as a node's evidence, and the node name it gives, if any.
pub fn parse_status(body: &str) -> Result<(Option<String>, NodeState), String> {
    let page: StatusPage =
        serde_json::from_str(body).map_err(|e| format!("not a clustercheckd /status page: {e}"))?;
    let galera = page
        .galera
        .ok_or("its clustercheckd does not watch Galera (no galera section)")?;
    let mysqld = Mysqld::from_status(galera.mysqld.as_deref());
    let (data_dir, grastate, gvwstate) = match galera.state_files {
        None => (None, None, None),
        Some(files) => {
            let grastate = match (files.grastate, files.grastate_error) {
                (Some(s), _) => Ok(s),
                (None, Some(e)) => Err(e),
                (None, None) => Err("neither read nor an error".to_owned()),
            };
            let gvwstate = match (files.gvwstate, files.gvwstate_error) {
                (Some(v), _) => Ok(Some(View {
                    my_uuid: v.my_uuid,
                    view_id: v.view_id,
                    members: v.members.into_iter().map(|m| m.uuid).collect(),
                })),
                (None, Some(e)) => Err(e),
                (None, None) => Ok(None),
            };
            (files.data_dir, Some(grastate), Some(gvwstate))
        }
    };
    let name = page.node_name.filter(|n| !n.trim().is_empty());
    Ok((
        name,
        NodeState {
            mysqld,
            detail: galera.error.or(galera.reason),
            data_dir,
            grastate,
            gvwstate,
            recovered: None,
        },
    ))
}

/// The /status URL of a daemon given as `http://host:port` or a full URL.
pub fn status_url(url: &str) -> String {
    let trimmed = url.trim();
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return trimmed.to_owned();
    };
    match rest.split_once('/') {
        None => format!("{scheme}://{rest}/status"),
        Some((host, "")) => format!("{scheme}://{host}/status"),
        Some(_) => trimmed.to_owned(),
    }
}

/// A short name for a node whose daemon has no node_name: host:port of its URL.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A daemon's /status URL, and the `[peers]` credentials to send it, if any.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub credentials: Option<crate::config::PeerCredentials>,
}

/// Fetch every page, one after the other, each under `timeout`, with the client the peers
/// collector uses ([`crate::collectors::peers::client`]: `peers`' CA, no proxy, no redirects).
/// A page that cannot be read is that node's `Err` (one line: the refusal names the node);
/// `Err` here only when no page can be asked at all (the client cannot be built: exit 2).
pub fn fetch_all(
    targets: &[Target],
    peers: &crate::config::PeersConfig,
    timeout: Duration,
) -> Result<Vec<Node>, (u8, String)> {
    use crate::collectors::peers;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (EXIT_REFUSED, format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let client = peers::client(peers, timeout).map_err(|e| (EXIT_USAGE, e.to_string()))?;
        let mut nodes = Vec::new();
        for target in targets {
            let url = &target.url;
            let fetched = peers::get_page(&client, url, target.credentials.as_ref(), timeout)
                .await
                .map_err(|e| e.to_string())
                .and_then(|body| String::from_utf8(body).map_err(|_| "not UTF-8".to_owned()));
            let (name, state) = match fetched.and_then(|body| parse_status(&body)) {
                Ok((name, state)) => (name.unwrap_or_else(|| host_of(url)), Ok(state)),
                Err(error) => (host_of(url), Err(error)),
            };
            nodes.push(Node {
                name,
                url: url.clone(),
                state,
            });
        }
        Ok(nodes)
    })
}

// ---- mysqld --wsrep-recover, on this node only ----

/// How to run `mysqld --wsrep-recover` here.
#[derive(Debug, Clone)]
pub struct WsrepRecover {
    /// mysqld or mariadbd.
    pub mysqld: PathBuf,
    /// The node's server defaults file (`--defaults-file`), if it needs one.
    pub defaults_file: Option<PathBuf>,
    /// The OS user mysqld runs as (`--user`); it switches to it when started as root.
    pub user: String,
    /// The data directory, as this node's daemon reads it.
    pub data_dir: String,
    pub timeout: Duration,
}

/// The last `WSREP: Recovered position: UUID:SEQNO` in a log. `None` when there is none, or it
/// says nothing was recovered (seqno -1, or the nil UUID).
pub fn parse_recovered_position(log: &str) -> Option<Position> {
    let position = log.lines().rev().find_map(|line| {
        let (_, rest) = line.split_once("WSREP: Recovered position:")?;
        rest.split_whitespace().next()?.parse::<Position>().ok()
    })?;
    (position.seqno >= 0 && position.uuid != NIL_UUID).then_some(position)
}

/// Run it and read the position from the log it wrote. Blocks up to `timeout` (InnoDB crash
/// recovery of a large database takes a while).
pub fn run_wsrep_recover(options: &WsrepRecover) -> Result<Position, String> {
    let dir = private_dir(&options.user)?;
    let log = dir.join("wsrep-recover.log");
    let result = run_in(options, &log);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(options: &WsrepRecover, log: &Path) -> Result<Position, String> {
    let mut command = Command::new(&options.mysqld);
    // --defaults-file must come first, or mysqld ignores it.
    if let Some(file) = &options.defaults_file {
        command.arg(format!("--defaults-file={}", file.display()));
    }
    command
        .arg("--wsrep-recover")
        .arg(format!("--user={}", options.user))
        .arg(format!("--datadir={}", options.data_dir))
        .arg(format!("--log-error={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let shown = format!(
        "{} {}--wsrep-recover --user={} --datadir={}",
        options.mysqld.display(),
        options
            .defaults_file
            .as_ref()
            .map(|f| format!("--defaults-file={} ", f.display()))
            .unwrap_or_default(),
        options.user,
        options.data_dir
    );
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let deadline = Instant::now() + options.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not finish within {} s",
                    options.timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.by_ref().take(64 * 1024).read_to_string(&mut stderr);
    }
    let text = read_log(log);
    match parse_recovered_position(&format!("{text}\n{stderr}")) {
        Some(position) => Ok(position),
        None => {
            let tail: Vec<&str> = text.lines().chain(stderr.lines()).collect();
            let tail = tail[tail.len().saturating_sub(8)..].join("\n    ");
            Err(format!(
                "{shown} ({status}) recovered no position; its log ends:\n    {tail}"
            ))
        }
    }
}

fn read_log(path: &Path) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(path) {
        let mut bytes = Vec::new();
        let _ = file.take(4 * 1024 * 1024).read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// A fresh directory only we (and, when we are root, `user`, whom mysqld switches to) can write,
/// for mysqld's log.
fn private_dir(user: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = base.join(format!(
        "clustercheckd-recover-{}-{stamp}",
        std::process::id()
    ));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // /proc/self belongs to the effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        let (uid, gid) = user_ids(user)?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("cannot give {} to {user}: {e}", dir.display()))?;
    }
    Ok(dir)
}

fn user_ids(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let output = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("cannot run `id {flag} {user}`: {e}"))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("no OS user `{user}` (for --user)"))
    };
    Ok((id("-u")?, id("-g")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "6090457d-ee1e-11f1-ac65-6e48af6895c7";
    const OTHER: &str = "11111111-2222-3333-4444-555555555555";

    fn saved(seqno: i64, safe: bool) -> Saved {
        Saved {
            uuid: UUID.into(),
            seqno,
            safe_to_bootstrap: Some(safe),
        }
    }

    fn down(n: u8, grastate: Saved) -> Node {
        Node {
            name: format!("node{n}"),
            url: format!("http://127.0.0.1:920{n}/status"),
            state: Ok(NodeState {
                mysqld: Mysqld::Down,
                detail: Some("Connection refused".into()),
                data_dir: Some(format!("/var/lib/mysql{n}")),
                grastate: Some(Ok(grastate)),
                gvwstate: Some(Ok(None)),
                recovered: None,
            }),
        }
    }

    fn with(mut node: Node, change: impl FnOnce(&mut NodeState)) -> Node {
        if let Ok(state) = &mut node.state {
            change(state);
        }
        node
    }

    fn view(node: Node, me: &str, members: &[&str], id: &str) -> Node {
        with(node, |s| {
            s.gvwstate = Some(Ok(Some(View {
                my_uuid: me.into(),
                view_id: Some(id.into()),
                members: members.iter().map(|m| (*m).to_owned()).collect(),
            })))
        })
    }

    fn chosen(nodes: &[Node]) -> (String, bool, Vec<usize>) {
        match advise(nodes).expect("advice").outcome {
            Outcome::Bootstrap {
                node,
                set_safe_to_bootstrap,
                tied,
                ..
            } => (nodes[node].name.clone(), set_safe_to_bootstrap, tied),
            other => panic!("expected a bootstrap, got {other:?}"),
        }
    }

    #[test]
    fn clean_stop_the_last_one_out_bootstraps_without_edits() {
        let nodes = [
            down(1, saved(100, false)),
            down(2, saved(102, true)),
            down(3, saved(101, false)),
        ];
        assert_eq!(chosen(&nodes), ("node2".into(), false, vec![]));
        let advice = advise(&nodes).unwrap();
        assert_eq!(
            advice.pc_recovery, None,
            "a clean stop removes gvwstate.dat"
        );
        assert!(advice.warnings.is_empty());
        let r = render(&nodes, &Ok(advice));
        assert_eq!(r.code, EXIT_ADVICE);
        assert!(r.stdout.contains("Bootstrap node2: it has the highest seqno, 102 (others: node1 100, node3 101), and safe_to_bootstrap 1"), "{}", r.stdout);
        assert!(
            !r.stdout.contains("sed -i"),
            "no edit when not needed:\n{}",
            r.stdout
        );
        assert!(r.stdout.contains("galera_new_cluster"));
        assert!(r.stdout.contains("--wsrep-new-cluster"));
        assert!(r.stdout.contains("start mysqld normally on node1, node3"));
    }

    #[test]
    fn highest_seqno_wins_over_a_stale_safe_to_bootstrap() {
        // node1 says safe_to_bootstrap 1 yet node3 is ahead: the highest seqno keeps every
        // transaction; the edit goes to node3 only, and the odd flag is reported.
        let nodes = [
            down(1, saved(90, true)),
            down(2, saved(95, false)),
            down(3, saved(99, false)),
        ];
        assert_eq!(chosen(&nodes), ("node3".into(), true, vec![]));
        let advice = advise(&nodes).unwrap();
        assert_eq!(advice.warnings.len(), 1);
        assert!(
            advice.warnings[0].starts_with("node1"),
            "{:?}",
            advice.warnings
        );
        let r = render(&nodes, &Ok(advice));
        assert!(r.stdout.contains(
            "    sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' /var/lib/mysql3/grastate.dat\n"
        ), "{}", r.stdout);
        assert_eq!(r.stdout.matches("sed -i").count(), 1);
    }

    #[test]
    fn ties_prefer_safe_to_bootstrap_then_the_first_listed() {
        let nodes = [
            down(1, saved(50, false)),
            down(2, saved(50, true)),
            down(3, saved(49, false)),
        ];
        assert_eq!(chosen(&nodes), ("node2".into(), false, vec![0]));
        let nodes = [
            down(1, saved(50, false)),
            down(2, saved(50, false)),
            down(3, saved(50, false)),
        ];
        let (name, edit, tied) = chosen(&nodes);
        assert_eq!((name.as_str(), edit, tied), ("node1", true, vec![1, 2]));
        let r = render(&nodes, &advise(&nodes));
        assert!(r
            .stdout
            .contains("(node2, node3 have the same seqno: any one of them would do, but bootstrap only ONE node.)"));
    }

    #[test]
    fn a_crash_asks_for_recovered_positions() {
        let nodes = [
            down(1, saved(-1, false)),
            down(2, saved(-1, false)),
            down(3, saved(70, false)),
        ];
        let advice = advise(&nodes).unwrap();
        assert_eq!(
            advice.outcome,
            Outcome::NeedPositions {
                crashed: vec![0, 1]
            }
        );
        let r = render(&nodes, &Ok(advice));
        assert_eq!(r.code, EXIT_NEED_POSITIONS);
        assert!(
            r.stdout.contains("Crash: seqno -1 on node1, node2"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("--wsrep-recover"));
        assert!(!r.stdout.contains("Bootstrap "), "{}", r.stdout);
        assert!(!r.stdout.contains("sed -i"));
    }

    #[test]
    fn recovered_positions_decide_after_a_crash() {
        let recovered = |n, seqno| {
            with(down(n, saved(-1, false)), |s| {
                s.recovered = Some(Position {
                    uuid: UUID.into(),
                    seqno,
                })
            })
        };
        let nodes = [recovered(1, 1201), recovered(2, 1203), recovered(3, 1202)];
        let (name, edit, _) = chosen(&nodes);
        assert_eq!((name.as_str(), edit), ("node2", true));
        let r = render(&nodes, &advise(&nodes));
        assert!(
            r.stdout.contains("highest recovered seqno, 1203"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("/var/lib/mysql2/grastate.dat"));
        // A crashed node's safe_to_bootstrap 1 is stale: no tie-break by it, but no edit needed.
        let nodes = [
            with(recovered(1, 10), |s| {
                s.grastate = Some(Ok(saved(-1, true)));
            }),
            recovered(2, 10),
        ];
        assert_eq!(chosen(&nodes), ("node1".into(), false, vec![1]));
        // Recovered -1 is no position.
        let nodes = [recovered(1, -1), down(2, saved(5, true))];
        assert!(matches!(
            advise(&nodes).unwrap().outcome,
            Outcome::NeedPositions { .. }
        ));
    }

    #[test]
    fn mixed_clean_and_recovered() {
        let nodes = [
            down(1, saved(300, false)),
            with(down(2, saved(-1, false)), |s| {
                s.recovered = Some(Position {
                    uuid: UUID.into(),
                    seqno: 305,
                })
            }),
        ];
        assert_eq!(chosen(&nodes), ("node2".into(), true, vec![]));
    }

    #[test]
    fn pc_recovery_when_every_node_saved_the_same_view() {
        let members = [
            "a0000000-0000-0000-0000-000000000001",
            "a0000000-0000-0000-0000-000000000002",
            "a0000000-0000-0000-0000-000000000003",
        ];
        let id = "3 a0000000-0000-0000-0000-000000000001 7";
        let nodes: Vec<Node> = (1..=3u8)
            .map(|n| {
                view(
                    down(n, saved(-1, false)),
                    members[n as usize - 1],
                    &members,
                    id,
                )
            })
            .collect();
        let advice = advise(&nodes).unwrap();
        assert_eq!(advice.pc_recovery.as_deref(), Some(id));
        assert!(matches!(advice.outcome, Outcome::NeedPositions { .. }));
        let r = render(&nodes, &Ok(advice));
        assert!(
            r.stdout
                .contains("re-form the Primary Component by themselves (pc.recovery)"),
            "{}",
            r.stdout
        );

        // One node saved a later, smaller view (it stayed up longer): no pc.recovery claim.
        let mut nodes2 = nodes.clone();
        nodes2[2] = view(
            down(3, saved(-1, false)),
            members[2],
            &members[1..],
            "3 x 8",
        );
        assert_eq!(advise(&nodes2).unwrap().pc_recovery, None);
        // A member not among the nodes asked: it would be waited for.
        let mut nodes3 = nodes.clone();
        nodes3.pop();
        assert_eq!(advise(&nodes3).unwrap().pc_recovery, None);
        // One node without the file (it stopped cleanly).
        let mut nodes4 = nodes.clone();
        nodes4[0] = down(1, saved(-1, false));
        assert_eq!(advise(&nodes4).unwrap().pc_recovery, None);
    }

    #[test]
    fn refuses_inconsistent_evidence_one_line_per_problem() {
        let running = with(down(3, saved(-1, false)), |s| {
            s.mysqld = Mysqld::Running;
            s.detail = None;
        });
        let nodes = [down(1, saved(10, false)), down(2, saved(11, true)), running];
        let problems = advise(&nodes).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(matches!(&problems[0], Problem::Running { node, .. } if node.contains("node3")));
        let r = render(&nodes, &Err(problems));
        assert_eq!(r.code, EXIT_REFUSED);
        assert_eq!(r.stderr.lines().count(), 1);
        assert!(
            r.stderr
                .starts_with("clustercheckd recover: refused: node3"),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.contains("Bootstrap"));

        let not_reporting = Node {
            name: "127.0.0.1:9203".into(),
            url: "http://127.0.0.1:9203/status".into(),
            state: Err("connection refused".into()),
        };
        let hung = with(down(2, saved(-1, false)), |s| {
            s.mysqld = Mysqld::NotAnswering
        });
        let unknown = with(down(1, saved(-1, false)), |s| s.mysqld = Mysqld::Unknown);
        let problems = advise(&[unknown, hung, not_reporting]).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(matches!(problems[0], Problem::MysqldUnknown { .. }));
        assert!(matches!(problems[1], Problem::NotAnswering { .. }));
        assert!(matches!(problems[2], Problem::NotReporting { .. }));
        assert!(problems[2]
            .to_string()
            .starts_with("http://127.0.0.1:9203/status: its clustercheckd did not report"));
    }

    #[test]
    fn refuses_different_cluster_histories() {
        let other = Saved {
            uuid: OTHER.into(),
            seqno: 500,
            safe_to_bootstrap: Some(true),
        };
        let nodes = [
            down(1, saved(10, true)),
            down(2, other),
            down(3, saved(9, false)),
        ];
        let problems = advise(&nodes).unwrap_err();
        assert_eq!(problems.len(), 1);
        let line = problems[0].to_string();
        assert!(line.contains("different cluster histories"), "{line}");
        assert!(line.contains(OTHER) && line.contains(UUID), "{line}");
        // A recovered position from another history.
        let nodes = [
            with(down(1, saved(-1, false)), |s| {
                s.recovered = Some(Position {
                    uuid: OTHER.into(),
                    seqno: 4,
                })
            }),
            down(2, saved(3, true)),
        ];
        assert!(matches!(
            advise(&nodes).unwrap_err()[0],
            Problem::RecoveredFromOtherCluster { .. }
        ));
    }

    #[test]
    fn refuses_missing_state_and_duplicates() {
        let no_files = with(down(1, saved(1, true)), |s| {
            s.grastate = None;
            s.gvwstate = None;
        });
        let unreadable = with(down(2, saved(1, true)), |s| {
            s.grastate = Some(Err("cannot read: Permission denied (os error 13)".into()));
        });
        let problems = advise(&[no_files, unreadable]).unwrap_err();
        assert!(matches!(problems[0], Problem::NoStateFiles { .. }));
        assert!(problems[0].to_string().contains("galera.data_dir"));
        assert!(matches!(problems[1], Problem::StateUnreadable { .. }));

        let twice = [down(1, saved(1, true)), down(1, saved(1, true))];
        assert!(matches!(
            advise(&twice).unwrap_err()[0],
            Problem::SameNode { .. }
        ));
        let members = ["a0000000-0000-0000-0000-000000000001"];
        let same_uuid = [
            view(down(1, saved(-1, false)), members[0], &members, "3 x 1"),
            view(down(2, saved(-1, false)), members[0], &members, "3 x 1"),
        ];
        assert!(matches!(
            advise(&same_uuid).unwrap_err()[0],
            Problem::SameNode { .. }
        ));
        assert_eq!(advise(&[]).unwrap_err(), vec![Problem::NoNodes]);
    }

    #[test]
    fn nil_uuid_nodes_are_left_to_sst() {
        let fresh = Saved {
            uuid: NIL_UUID.into(),
            seqno: -1,
            safe_to_bootstrap: Some(false),
        };
        let nodes = [down(1, fresh.clone()), down(2, saved(7, true))];
        let advice = advise(&nodes).unwrap();
        assert!(matches!(advice.outcome, Outcome::Bootstrap { node: 1, .. }));
        assert!(advice.warnings[0].contains("never joined"));
        assert_eq!(
            advise(&[down(1, fresh.clone()), down(2, fresh)]).unwrap_err(),
            vec![Problem::NeverJoined]
        );
    }

    #[test]
    fn old_grastate_without_the_flag_needs_no_edit() {
        let old = Saved {
            uuid: UUID.into(),
            seqno: 8,
            safe_to_bootstrap: None,
        };
        let nodes = [down(1, old), down(2, saved(7, false))];
        assert_eq!(chosen(&nodes), ("node1".into(), false, vec![]));
    }

    #[test]
    fn positions_parse_strictly() {
        assert_eq!(
            format!("{UUID}:1203").parse::<Position>(),
            Ok(Position {
                uuid: UUID.into(),
                seqno: 1203
            })
        );
        assert_eq!(
            format!("{}:-1", UUID.to_uppercase())
                .parse::<Position>()
                .unwrap()
                .uuid,
            UUID
        );
        for bad in [
            "",
            ":",
            "1203",
            &format!("{UUID}:"),
            &format!("{UUID}:x"),
            &format!("{UUID}:-2"),
            "6090457d:5",
            "zz90457d-ee1e-11f1-ac65-6e48af6895c7:1",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_recovered_position_is_read_from_the_log() {
        // The lines MariaDB 10.11 writes with --wsrep-recover (sandbox node, after SIGKILL).
        let log = format!(
            "2026-12-02 14:01:02 0 [Note] InnoDB: Starting crash recovery from checkpoint LSN=4631\n\
             2026-12-02 14:01:02 0 [Note] WSREP: Recovered position: {UUID}:1187\n\
             2026-12-02 14:01:03 0 [Note] InnoDB: Shutdown completed"
        );
        assert_eq!(
            parse_recovered_position(&log),
            Some(Position {
                uuid: UUID.into(),
                seqno: 1187
            })
        );
        // The last one wins; nothing recovered is None.
        let twice =
            format!("WSREP: Recovered position: {UUID}:5\nWSREP: Recovered position: {UUID}:6\n");
        assert_eq!(parse_recovered_position(&twice).unwrap().seqno, 6);
        assert_eq!(
            parse_recovered_position(&format!("WSREP: Recovered position: {NIL_UUID}:-1")),
            None
        );
        assert_eq!(
            parse_recovered_position(&format!("WSREP: Recovered position: {UUID}:-1")),
            None
        );
        assert_eq!(
            parse_recovered_position("WSREP: Recovered position: garbage"),
            None
        );
        assert_eq!(parse_recovered_position(""), None);
    }

    #[test]
    fn status_pages_become_evidence() {
        let page = format!(
            r#"{{"node_name":"node2","galera":{{"healthy":false,"mysqld":"down",
            "error":"Connection refused","state_files":{{"data_dir":"/var/lib/mysql",
            "grastate":{{"version":"2.1","uuid":"{UUID}","seqno":1082,"safe_to_bootstrap":true}},
            "grastate_error":null,"gvwstate":null,"gvwstate_error":null}}}}}}"#
        );
        let (name, state) = parse_status(&page).unwrap();
        assert_eq!(name.as_deref(), Some("node2"));
        assert_eq!(state.mysqld, Mysqld::Down);
        assert_eq!(state.grastate, Some(Ok(saved(1082, true))));
        assert_eq!(state.gvwstate, Some(Ok(None)));
        assert_eq!(state.data_dir.as_deref(), Some("/var/lib/mysql"));

        // A daemon too old to say `mysqld`, or without data_dir, or without Galera.
        let (_, state) = parse_status(r#"{"galera":{"error":"x"}}"#).unwrap();
        assert_eq!((state.mysqld, state.grastate), (Mysqld::Unknown, None));
        assert!(parse_status(r#"{"node_name":null}"#)
            .unwrap_err()
            .contains("does not watch Galera"));
        assert!(parse_status("<html>").is_err());
        let (_, state) = parse_status(
            r#"{"galera":{"mysqld":"running","state_files":{"grastate":null,"grastate_error":"not found","gvwstate":null,"gvwstate_error":"cannot read: denied"}}}"#,
        )
        .unwrap();
        assert_eq!(state.mysqld, Mysqld::Running);
        assert_eq!(state.grastate, Some(Err("not found".into())));
        assert_eq!(state.gvwstate, Some(Err("cannot read: denied".into())));
    }

    #[test]
    fn credentials_never_go_in_clear_text_to_a_url_named_only_on_the_command_line() {
        let credentials = crate::config::PeerCredentials {
            username: "peer".into(),
            password: crate::config::Secret::new("pw"),
        };
        let peers = crate::config::PeersConfig {
            urls: vec!["http://10.0.0.2:9200".into()],
            credentials: Some(credentials.clone()),
            ..Default::default()
        };
        let urls = [
            "http://10.0.0.2:9200/status",  // [peers]: as the daemon sends them
            "https://10.0.0.3:9201/status", // --peer https://
            "http://10.0.0.4:9200/status",  // --peer http://: no
            "http://127.0.0.1:9201/status", // this node's web-config listener without TLS
            "http://127.0.0.1:9200/status", // --self http://: no
        ];
        let sent: Vec<bool> = targets(
            urls.map(String::from).to_vec(),
            &peers,
            Some("http://127.0.0.1:9201/status"),
        )
        .iter()
        .map(|t| {
            assert!(t.credentials.is_none() || t.credentials == Some(credentials.clone()));
            t.credentials.is_some()
        })
        .collect();
        assert_eq!(sent, [true, true, false, true, false]);
        // Without [peers] credentials there is nothing to send.
        let none = targets(
            urls.map(String::from).to_vec(),
            &crate::config::PeersConfig::default(),
            None,
        );
        assert!(none.iter().all(|t| t.credentials.is_none()));
    }

    #[test]
    fn this_nodes_web_config_listener_is_read_with_the_peers_settings() {
        let dir = tempfile::tempdir().unwrap();
        let web = dir.path().join("web.yml");
        // Basic auth alone (no TLS): http://, with the credentials; bcrypt of "secret".
        std::fs::write(
            &web,
            "basic_auth_users:\n  peer: '$2b$04$tsb9mnqsM7mis5bpDtRrpek0qF68JxgesoO7LOIqiYsA0pV6dfspO'\n",
        )
        .unwrap();
        let password = dir.path().join("pw");
        std::fs::write(&password, "secret\n").unwrap();
        let load = |peers: &str| {
            let path = dir.path().join("clustercheckd.toml");
            std::fs::write(
                &path,
                format!(
                    "[listen]\ncheck = \"0.0.0.0:9200\"\nmetrics = \"0.0.0.0:9201\"\n\
                     web_config_file = \"{}\"\n[galera]\nenabled = false\n{peers}",
                    web.display()
                ),
            )
            .unwrap();
            let config =
                crate::config::Config::load(Some(&path), &crate::config::Overrides::default())
                    .unwrap();
            self_url_from_config(&config)
        };
        let err = load("").unwrap_err();
        assert!(err.contains("[peers] username and password_file"), "{err}");
        assert!(err.contains("--self URL"), "{err}");
        let with_credentials = format!(
            "[peers]\nurls = [\"http://10.0.0.12:9201/status\"]\nusername = \"peer\"\n\
             password_file = \"{}\"\n",
            password.display()
        );
        assert_eq!(
            load(&with_credentials),
            Ok(("http://127.0.0.1:9201/status".to_owned(), true))
        );
    }

    #[test]
    fn urls_and_commands() {
        assert_eq!(
            status_url("http://10.0.0.2:9200"),
            "http://10.0.0.2:9200/status"
        );
        assert_eq!(
            status_url("http://10.0.0.2:9200/"),
            "http://10.0.0.2:9200/status"
        );
        assert_eq!(status_url("https://h:9100/status"), "https://h:9100/status");
        assert_eq!(host_of("http://10.0.0.2:9200/status"), "10.0.0.2:9200");
        assert_eq!(
            safe_to_bootstrap_command(Path::new("/var/lib/my sql")),
            "sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' '/var/lib/my sql/grastate.dat'"
        );
    }
}
