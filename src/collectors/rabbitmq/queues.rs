//! The queue scan: one `GET /api/queues?disable_stats=true&columns=...` read as a stream and
//! folded into a few counts, never held whole.
//!
//! Why one unpaginated call: with pagination the broker lists and sorts every queue again for
//! each page (measured 6x slower here); `disable_stats` and `columns` cut each entry to ~200
//! bytes. Why a hand-rolled splitter instead of serde over the whole body: the listing of
//! 10,000 queues is megabytes, and a `Vec<Queue>` of it would be several times that in memory.
//! We cut the top-level JSON array into its elements as bytes arrive (tracking only string and
//! nesting state), deserialize each element into a small struct, count it, and drop it. Memory
//! is bounded by one element plus one network chunk, in the async task, with no blocking
//! thread; the byte and queue caps bound the time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::api::ApiError;

/// The columns we ask for; everything else costs the broker and us for nothing.
/// `state` is there with disable_stats too: `live` for a running queue, `down` when its home
/// node is down (what OpenStack services see as "home node ... is down"), `crashed`, ...
pub const COLUMNS: &str =
    "name,vhost,node,type,state,policy,exclusive,slave_nodes,synchronised_slave_nodes,members,online";

/// One queue, as much of it as the summary needs.
#[derive(Debug, Deserialize)]
pub struct Queue {
    pub name: String,
    #[serde(default)]
    pub vhost: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `live` (with disable_stats; `running`, `idle` or `flow` with statistics), `down`,
    /// `crashed`, `stopped`, `terminated`, `minority` (quorum). Absent on very old servers.
    #[serde(default)]
    pub state: Option<String>,
    /// Absent or null when no policy applies (and absent for a `down` queue whatever applies).
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub exclusive: bool,
    /// Classic mirrored queues (3.x): the mirrors, and those holding every message.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub slave_nodes: Vec<String>,
    #[serde(default, deserialize_with = "list_or_empty")]
    pub synchronised_slave_nodes: Vec<String>,
    /// Quorum queues: the members, and those currently running.
    #[serde(default, deserialize_with = "list_or_empty")]
    pub members: Vec<String>,
    #[serde(default, deserialize_with = "list_or_empty")]
    pub online: Vec<String>,
}

/// The API writes `""` instead of `[]` for some empty lists on some versions; both mean none.
fn list_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(list) => list,
        Either::Other(_) => Vec::new(),
    })
}

/// What the scan found. Counts only: the names of a few offenders are kept for /status.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueSummary {
    pub total: u64,
    pub classic: u64,
    pub quorum: u64,
    pub stream: u64,
    /// Classic queues with at least one mirror that does not hold every message. With the
    /// default manual sync mode they stay so until `rabbitmqctl sync_queue` or until drained.
    pub unsynchronised_mirrors: u64,
    /// Queues whose messages live on one node only: classic queues matched by no HA policy
    /// (on 4.x, every classic queue: mirroring is gone). Exclusive queues are left out: they
    /// die with their connection and are never mirrored.
    pub unprotected: u64,
    /// Quorum queues with fewer members online than a majority: they accept no writes.
    pub quorum_below_quorum: u64,
    /// Queues by state label (see [`state_label`]), every label of [`STATES`] present.
    pub by_state: BTreeMap<&'static str, u64>,
    /// Up to [`EXAMPLES`] names per problem, for /status.
    pub examples: Examples,
    /// Bytes of listing read.
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Examples {
    pub unsynchronised_mirrors: Vec<String>,
    pub unprotected: Vec<String>,
    pub quorum_below_quorum: Vec<String>,
    /// Queues in state `down` or `crashed`.
    pub unavailable: Vec<String>,
}

/// The state labels of `clustercheckd_rabbitmq_queues_by_state`: a fixed set, so the series are
/// stable.
pub const STATES: [&str; 7] = [
    "live",
    "down",
    "crashed",
    "stopped",
    "terminated",
    "minority",
    "other",
];

/// A queue's state as our label: the running states (`live` without statistics, `running`,
/// `idle`, `flow` with them) are `live`; a missing state counts as live (servers that do not
/// report it list only queues they can reach); unknown names are `other`.
pub fn state_label(state: Option<&str>) -> &'static str {
    match state.unwrap_or("live") {
        "live" | "running" | "idle" | "flow" => "live",
        "down" => "down",
        "crashed" => "crashed",
        "stopped" => "stopped",
        "terminated" => "terminated",
        "minority" => "minority",
        _ => "other",
    }
}

pub const EXAMPLES: usize = 5;

/// How queues are judged protected: on 3.x, by a policy that has `ha-mode`.
pub struct Rules {
    /// `(vhost, name)` of the policies that mirror (their definition has `ha-mode`).
    pub ha_policies: Vec<(String, String)>,
    /// 4.x ignores `ha-mode`: no classic queue is mirrored whatever the policy says.
    pub mirroring_supported: bool,
}

impl QueueSummary {
    pub fn add(&mut self, queue: &Queue, rules: &Rules) {
        self.total += 1;
        let state = state_label(queue.state.as_deref());
        *self.by_state.entry(state).or_default() += 1;
        if matches!(state, "down" | "crashed") {
            push_example(&mut self.examples.unavailable, queue);
        }
        let kind = queue.kind.as_deref().unwrap_or("classic");
        match kind {
            "quorum" => {
                self.quorum += 1;
                let majority = queue.members.len() / 2 + 1;
                if !queue.members.is_empty() && queue.online.len() < majority {
                    self.quorum_below_quorum += 1;
                    push_example(&mut self.examples.quorum_below_quorum, queue);
                }
            }
            "stream" => self.stream += 1,
            _ => {
                self.classic += 1;
                // A queue that is not live is listed without its policy and mirrors: judging its
                // protection from that would call every down queue unprotected. Its state is
                // what is wrong, and it is counted as such.
                if queue.exclusive || state != "live" {
                    return;
                }
                let mirrored = rules.mirroring_supported
                    && queue.policy.as_deref().is_some_and(|policy| {
                        rules
                            .ha_policies
                            .iter()
                            .any(|(vhost, name)| vhost == &queue.vhost && name == policy)
                    });
                if !mirrored {
                    self.unprotected += 1;
                    push_example(&mut self.examples.unprotected, queue);
                } else if queue
                    .slave_nodes
                    .iter()
                    .any(|node| !queue.synchronised_slave_nodes.contains(node))
                {
                    self.unsynchronised_mirrors += 1;
                    push_example(&mut self.examples.unsynchronised_mirrors, queue);
                }
            }
        }
    }
}

fn push_example(list: &mut Vec<String>, queue: &Queue) {
    if list.len() < EXAMPLES {
        // The default vhost is the common case: keep its names bare.
        if queue.vhost == "/" || queue.vhost.is_empty() {
            list.push(queue.name.clone());
        } else {
            list.push(format!("{}/{}", queue.vhost, queue.name));
        }
    }
}

/// Cuts a JSON array, fed in arbitrary chunks, into its elements.
pub struct ArraySplitter {
    state: SplitState,
    depth: u32,
    in_string: bool,
    escaped: bool,
    element: Vec<u8>,
    max_element: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SplitState {
    /// Before the opening `[`.
    Start,
    /// Inside the array, between elements.
    Between,
    /// Inside an element.
    Element,
    /// After the closing `]`.
    Done,
}

/// A single queue entry of more than this is not a queue entry.
const MAX_ELEMENT_BYTES: usize = 64 * 1024;

impl Default for ArraySplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl ArraySplitter {
    pub fn new() -> Self {
        Self {
            state: SplitState::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            element: Vec::new(),
            max_element: MAX_ELEMENT_BYTES,
        }
    }

    /// Feed a chunk; `each` gets every complete element's bytes.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        for &byte in chunk {
            match self.state {
                SplitState::Start => match byte {
                    b'[' => self.state = SplitState::Between,
                    b if b.is_ascii_whitespace() => {}
                    _ => return Err(invalid("the queue listing is not a JSON array")),
                },
                SplitState::Between => match byte {
                    b']' => self.state = SplitState::Done,
                    b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    b'{' => {
                        self.state = SplitState::Element;
                        self.depth = 1;
                        self.element.clear();
                        self.element.push(byte);
                    }
                    _ => return Err(invalid("a queue entry is not a JSON object")),
                },
                SplitState::Element => {
                    self.element.push(byte);
                    if self.element.len() > self.max_element {
                        return Err(invalid("a queue entry is larger than 64 kB"));
                    }
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if byte == b'\\' {
                            self.escaped = true;
                        } else if byte == b'"' {
                            self.in_string = false;
                        }
                        continue;
                    }
                    match byte {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => {
                            self.depth -= 1;
                            if self.depth == 0 {
                                self.state = SplitState::Between;
                                each(&self.element)?;
                            }
                        }
                        _ => {}
                    }
                }
                SplitState::Done => {
                    if !byte.is_ascii_whitespace() {
                        return Err(invalid("data after the end of the queue listing"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The body ended: it must have been a whole array.
    pub fn finish(&self) -> Result<(), ApiError> {
        if self.state == SplitState::Done {
            Ok(())
        } else {
            Err(invalid("the queue listing ended before its closing `]`"))
        }
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::Invalid {
        call: "queues",
        message: message.to_owned(),
    }
}

/// Fold a listing, chunk by chunk, into a summary under the caps.
pub struct Scan<'a> {
    splitter: ArraySplitter,
    pub summary: QueueSummary,
    rules: &'a Rules,
    max_queues: u64,
    max_bytes: u64,
}

impl<'a> Scan<'a> {
    pub fn new(rules: &'a Rules, max_queues: u64, max_bytes: u64) -> Self {
        let mut summary = QueueSummary::default();
        for state in STATES {
            summary.by_state.insert(state, 0);
        }
        Self {
            splitter: ArraySplitter::new(),
            summary,
            rules,
            max_queues,
            max_bytes,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.summary.bytes += chunk.len() as u64;
        if self.summary.bytes > self.max_bytes {
            return Err(ApiError::TooLarge {
                call: "queues",
                limit: self.max_bytes,
            });
        }
        let summary = &mut self.summary;
        let rules = self.rules;
        let max_queues = self.max_queues;
        self.splitter.feed(chunk, |element| {
            if summary.total >= max_queues {
                return Err(ApiError::TooManyQueues(max_queues));
            }
            let queue: Queue = serde_json::from_slice(element).map_err(|e| ApiError::Invalid {
                call: "queues",
                message: format!("queue entry {}: {e}", summary.total + 1),
            })?;
            summary.add(&queue, rules);
            Ok(())
        })
    }

    pub fn finish(self) -> Result<QueueSummary, ApiError> {
        self.splitter.finish()?;
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            ha_policies: vec![("/".into(), "ha-all".into())],
            mirroring_supported: true,
        }
    }

    /// Entries in the shape RabbitMQ 3.10 writes them (columns above, disable_stats), with names
    /// and `online` lists edited to reach every branch; the real quorum queue with members down
    /// is tests/rabbitmq.rs `quorum_queue_with_two_members_down_is_below_quorum`.
    const LISTING: &str = r#"[{"exclusive":false,"name":"synced","node":"rabbit1@vm","policy":"ha-all","slave_nodes":["rabbit2@vm","rabbit3@vm"],"synchronised_slave_nodes":["rabbit2@vm","rabbit3@vm"],"type":"classic","vhost":"/"},
{"exclusive":false,"name":"behind \"]}","node":"rabbit1@vm","policy":"ha-all","slave_nodes":["rabbit2@vm","rabbit3@vm"],"synchronised_slave_nodes":["rabbit3@vm"],"type":"classic","vhost":"/"},
{"exclusive":false,"name":"bare","node":"rabbit1@vm","policy":null,"slave_nodes":"","synchronised_slave_nodes":"","type":"classic","vhost":"/"},
{"exclusive":true,"name":"amq.gen-x","node":"rabbit1@vm","policy":null,"type":"classic","vhost":"/"},
{"exclusive":false,"members":["rabbit1@vm","rabbit3@vm","rabbit2@vm"],"name":"qq","online":["rabbit1@vm"],"type":"quorum","vhost":"/"},
{"exclusive":false,"members":["rabbit1@vm","rabbit3@vm","rabbit2@vm"],"name":"qq-ok","online":["rabbit1@vm","rabbit2@vm"],"type":"quorum","vhost":"/"}]"#;

    fn scan_in_chunks(text: &str, chunk: usize, rules: &Rules) -> Result<QueueSummary, ApiError> {
        let mut scan = Scan::new(rules, 1000, 1 << 20);
        for piece in text.as_bytes().chunks(chunk) {
            scan.feed(piece)?;
        }
        scan.finish()
    }

    #[test]
    fn counts_do_not_depend_on_how_the_body_is_cut() {
        let whole = scan_in_chunks(LISTING, LISTING.len(), &rules()).unwrap();
        for chunk in [1, 3, 7, 64] {
            let mut cut = scan_in_chunks(LISTING, chunk, &rules()).unwrap();
            cut.bytes = whole.bytes;
            assert_eq!(cut, whole, "chunk size {chunk}");
        }
        assert_eq!(whole.total, 6);
        assert_eq!(whole.classic, 4);
        assert_eq!(whole.quorum, 2);
        assert_eq!(whole.unsynchronised_mirrors, 1);
        assert_eq!(whole.examples.unsynchronised_mirrors, vec!["behind \"]}"]);
        assert_eq!(whole.unprotected, 1, "the exclusive queue does not count");
        assert_eq!(whole.quorum_below_quorum, 1);
    }

    /// RabbitMQ 4.x (documented API; 4.x cannot run in this sandbox): classic queues have no
    /// slave_nodes, `ha-mode` policies still show as the queue's policy but do nothing.
    #[test]
    fn on_4x_every_classic_queue_is_unprotected() {
        let listing = r#"[{"exclusive":false,"name":"c","node":"rabbit@a","policy":"ha-all","type":"classic","vhost":"/"},
        {"exclusive":false,"members":["rabbit@a","rabbit@b","rabbit@c"],"name":"q","online":["rabbit@a","rabbit@b","rabbit@c"],"type":"quorum","vhost":"/","leader":"rabbit@a"}]"#;
        let rules = Rules {
            ha_policies: vec![("/".into(), "ha-all".into())],
            mirroring_supported: false,
        };
        let s = scan_in_chunks(listing, 5, &rules).unwrap();
        assert_eq!(s.unprotected, 1);
        assert_eq!(s.unsynchronised_mirrors, 0);
        assert_eq!(s.quorum_below_quorum, 0);
    }

    /// With its home node stopped (stop_app), RabbitMQ 3.10 listed a durable classic queue so
    /// (disable_stats, the columns above): state `down`, no policy, no mirrors.
    #[test]
    fn down_queues_are_counted_by_state_and_never_unprotected() {
        let listing = r#"[{"exclusive":false,"name":"home-down","node":"rabbit3@vm","state":"down","type":"classic","vhost":"/"},
        {"exclusive":false,"name":"broken","node":"rabbit1@vm","state":"crashed","type":"classic","vhost":"/","policy":null},
        {"exclusive":false,"name":"ok","node":"rabbit1@vm","policy":"ha-all","slave_nodes":["rabbit2@vm"],"synchronised_slave_nodes":["rabbit2@vm"],"state":"live","type":"classic","vhost":"/"},
        {"exclusive":false,"name":"bare","node":"rabbit1@vm","policy":null,"state":"live","type":"classic","vhost":"/"},
        {"exclusive":false,"name":"odd","node":"rabbit1@vm","state":"something-new","type":"classic","vhost":"/"}]"#;
        let s = scan_in_chunks(listing, 9, &rules()).unwrap();
        assert_eq!(s.unprotected, 1, "only the live queue without a policy");
        assert_eq!(s.examples.unprotected, vec!["bare"]);
        assert_eq!(s.by_state["down"], 1);
        assert_eq!(s.by_state["crashed"], 1);
        assert_eq!(s.by_state["live"], 2);
        assert_eq!(s.by_state["other"], 1);
        assert_eq!(s.by_state["stopped"], 0, "every label present");
        assert_eq!(s.by_state.len(), STATES.len());
        assert_eq!(s.examples.unavailable, vec!["home-down", "broken"]);
    }

    #[test]
    fn empty_listing_is_fine() {
        assert_eq!(scan_in_chunks(" [ ] ", 2, &rules()).unwrap().total, 0);
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        for bad in [
            "{}",
            "[1,2]",
            "[{\"name\":\"a\"}",
            "not json",
            "[{\"name\":5}]",
            "[] x",
        ] {
            assert!(
                scan_in_chunks(bad, 2, &rules()).is_err(),
                "{bad} should be an error"
            );
        }
    }

    #[test]
    fn caps_stop_the_scan() {
        let rules = rules();
        let mut scan = Scan::new(&rules, 2, 1 << 20);
        let err = scan.feed(LISTING.as_bytes()).unwrap_err();
        assert_eq!(err, ApiError::TooManyQueues(2));
        let mut scan = Scan::new(&rules, 100, 100);
        assert!(matches!(
            scan.feed(LISTING.as_bytes()),
            Err(ApiError::TooLarge { .. })
        ));
    }
}
