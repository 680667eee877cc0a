//! The VIP verdict: does this host hold the virtual IP, and does Pacemaker agree?
//!
//! Two independent views are compared. Pacemaker says which node runs the VIP's resource (the
//! IPaddr2 primitive); the kernel says whether the address is on one of this host's interfaces.
//! They disagree after a failed stop (the address left behind on a node Pacemaker moved away
//! from: two hosts answer ARP for it), or when someone adds or deletes the address by hand. The
//! check (`/vip`) is 200 iff this host has the address on an interface that is up and running
//! (IFF_RUNNING: the link has carrier), on the primitive's `nic` when it names one, and
//! Pacemaker says this node (`node_name`, else `crm_node -n`) runs the resource. The address
//! and `nic` come from the IPaddr2 primitive in the CIB (read in the same poll) unless the entry
//! names an address itself, so the default entry (only a resource) checks the real interface too.
//! A VIP whose resource is no IPaddr2 and that has no configured address can only repeat what
//! Pacemaker says; one without a resource only looks at the interfaces.
//!
//! The opposite case, the address on this host while Pacemaker runs the VIP elsewhere or nowhere,
//! counts as left behind only when the previous poll saw it too: a normal move passes through it
//! for a moment.
//!
//! Colocation: the resources that must run with the VIP (constraints `colocation add X with vip`,
//! e.g. lb-haproxy-clone) are checked to run on every node that runs the VIP, so "HAProxy runs
//! beside the VIP" is one value.

use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;

use super::{freshness, Rule};
use crate::collectors::pacemaker::local::LocalAddress;
use crate::collectors::pacemaker::resources;
use crate::collectors::pacemaker::{LocalNode, PacemakerSnapshot};
use crate::config::{PacemakerConfig, VipEntry};

pub type Verdict = super::Verdict<Reason>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VipState {
    pub name: String,
    pub resource: Option<String>,
    pub address: Option<IpAddr>,
    /// Where the address came from: `config` (the entry) or `cib` (the IPaddr2 primitive's `ip`).
    pub address_from: Option<&'static str>,
    /// The IPaddr2 primitive's `cidr_netmask` and `nic` (when its `ip` is the address).
    pub cidr_netmask: Option<u8>,
    pub nic: Option<String>,
    /// The address is on some interface of this host, whatever its state (`None`: unknown).
    pub present_locally: Option<bool>,
    /// Nodes where Pacemaker runs the resource; `None` when Pacemaker's state is unknown or no
    /// resource is configured.
    pub pacemaker_nodes: Option<Vec<String>>,
    /// The resource exists in the cluster (`None`: unknown).
    pub resource_found: Option<bool>,
    /// Pacemaker runs the resource on this node.
    pub pacemaker_local: Option<bool>,
    /// The address is on an interface of this host that is up and running, and on `nic` when
    /// set (without an address: what Pacemaker says). `None` when unknown.
    pub held_locally: Option<bool>,
    /// The interface carrying the address.
    pub interface: Option<String>,
    /// Pacemaker and the kernel agree (both known, both an address and a resource configured).
    pub agree: Option<bool>,
    /// Resources colocated with the VIP and whether they run on its node(s); `None` when the
    /// constraints could not be read.
    pub colocated: Option<Vec<Colocated>>,
    /// The address has been on this host for two consecutive polls while Pacemaker runs the VIP
    /// elsewhere or nowhere.
    pub left_behind: bool,
    pub healthy: bool,
    /// The rule that decided this VIP.
    #[serde(skip)]
    pub rule: VipRule,
    pub reason: String,
}

/// Why one VIP is (not) healthy here: one variant per rule.
#[derive(Debug, Clone, PartialEq)]
pub enum VipRule {
    /// This host has the address (on `interface`) and Pacemaker runs the resource here.
    Held {
        interface: Option<String>,
    },
    /// Pacemaker's view is unknown (`why`); whether the address is here anyway.
    PacemakerUnknown {
        why: String,
        address_here: bool,
    },
    NoSuchResource,
    AddressesUnknown,
    /// The IPaddr2 parameters could not be read from the CIB (and no address is configured).
    CibUnreadable(String),
    /// The address is on this host while Pacemaker runs the VIP elsewhere or nowhere, seen in
    /// this poll only (a move passes through this).
    AddressHereNotPlaced {
        elsewhere: String,
    },
    /// The same, in two consecutive polls: left behind.
    LeftBehind {
        elsewhere: String,
    },
    NotHere {
        elsewhere: String,
    },
    /// Pacemaker says here, the kernel says no.
    NotOnInterface,
    /// Pacemaker says here; the address is on `interface`, which cannot carry it (`why`).
    InterfaceUnfit {
        interface: String,
        why: String,
    },
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Colocated {
    pub resource: String,
    pub nodes: Vec<String>,
    /// The VIP runs somewhere and this resource runs on every node that runs it.
    pub satisfied: bool,
}

/// The rule of `/vip` (and `/vip/NAME`): healthy iff every VIP asked about is; the reason
/// repeats the reasons of the VIPs that decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    NoneConfigured,
    AllHeld(Vec<String>),
    NotHeld(Vec<String>),
}

impl Rule for Reason {
    fn healthy(&self) -> bool {
        matches!(self, Reason::AllHeld(_))
    }

    fn text(&self) -> String {
        match self {
            Reason::NoneConfigured => "No VIP configured.".to_owned(),
            Reason::AllHeld(reasons) | Reason::NotHeld(reasons) => reasons.join(" "),
        }
    }
}

pub fn verdict(states: &[VipState]) -> Verdict {
    let healthy = !states.is_empty() && states.iter().all(|s| s.healthy);
    let shown: Vec<String> = states
        .iter()
        .filter(|s| s.healthy == healthy)
        .map(|s| s.reason.clone())
        .collect();
    Verdict::of(match (shown.is_empty(), healthy) {
        (true, _) => Reason::NoneConfigured,
        (false, true) => Reason::AllHeld(shown),
        (false, false) => Reason::NotHeld(shown),
    })
}

pub fn evaluate(
    snapshot: &PacemakerSnapshot,
    entries: &[VipEntry],
    config: &PacemakerConfig,
    now: Instant,
) -> Vec<VipState> {
    let mut states = observe(snapshot, entries, config, now);
    // The previous poll, judged as of its own time: was the address already there unplaced?
    let before = snapshot
        .previous
        .as_ref()
        .and_then(|p| p.taken_at.map(|at| observe(p, entries, config, at)));
    let node = snapshot.node.name().unwrap_or("?");
    for (i, state) in states.iter_mut().enumerate() {
        if let VipRule::AddressHereNotPlaced { elsewhere } = &state.rule {
            let seen_before = before.as_ref().and_then(|b| b.get(i)).is_some_and(|b| {
                b.name == state.name && matches!(b.rule, VipRule::AddressHereNotPlaced { .. })
            });
            if seen_before {
                state.rule = VipRule::LeftBehind {
                    elsewhere: elsewhere.clone(),
                };
                state.left_behind = true;
            }
        }
        state.reason = text(state, node);
    }
    states
}

/// One poll's view of each VIP (left-behind not yet decided, no reason text).
fn observe(
    snapshot: &PacemakerSnapshot,
    entries: &[VipEntry],
    config: &PacemakerConfig,
    now: Instant,
) -> Vec<VipState> {
    let fresh = freshness(snapshot.taken_at, config.max_staleness(), now).is_ok();
    let polled = snapshot.outcome.as_ref().ok().filter(|_| fresh);
    let addresses = snapshot
        .local_addresses
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .filter(|_| fresh);
    let node_name = snapshot.node.name();
    entries
        .iter()
        .map(|entry| {
            let name = entry.name();
            let resource = entry.resource().map(str::to_owned);
            let (resource_found, pacemaker_nodes) = match (&resource, polled, node_name) {
                (Some(r), Some(p), Some(_)) => (
                    Some(p.cluster.instances(r).next().is_some()),
                    Some(p.cluster.running_on(r)),
                ),
                _ => (None, None),
            };
            let pacemaker_local = pacemaker_nodes
                .as_ref()
                .map(|nodes| nodes.iter().any(|n| Some(n.as_str()) == node_name));
            // The IPaddr2 primitive's parameters, when the resource is one.
            let cib = match (&resource, polled) {
                (Some(r), Some(p)) => Some(
                    p.ipaddr2
                        .as_ref()
                        .map(|list| resources::find(list, r).cloned()),
                ),
                _ => None,
            };
            let params = cib
                .as_ref()
                .and_then(|c| c.as_ref().ok())
                .and_then(|p| p.as_ref());
            let (address, address_from) = match (entry.address, params.and_then(|p| p.ip)) {
                (Some(a), _) => (Some(a), Some("config")),
                (None, Some(ip)) => (Some(ip), Some("cib")),
                (None, None) => (None, None),
            };
            let (cidr_netmask, nic) = match params.filter(|p| p.ip == address) {
                Some(p) => (p.cidr_netmask, p.nic.clone()),
                None => (None, None),
            };
            let cib_error: Option<String> = match (&cib, entry.address) {
                (Some(Err(e)), None) => Some(e.to_string()),
                _ => None,
            };
            let (present_locally, held_locally, interface, unfit) =
                match (address, addresses, &cib_error) {
                    (Some(address), Some(list), _) => local_view(list, address, nic.as_deref()),
                    (Some(_), None, _) | (None, _, Some(_)) => (None, None, None, None),
                    (None, _, None) => (None, pacemaker_local, None, None),
                };
            let agree = match (address, pacemaker_local, held_locally) {
                (Some(_), Some(p), Some(h)) => Some(p == h),
                _ => None,
            };
            let colocated = match (&resource, polled, &pacemaker_nodes) {
                (Some(r), Some(p), Some(vip_nodes)) => p.constraints.as_ref().ok().map(|c| {
                    c.colocated_with(r)
                        .into_iter()
                        .map(|dependent| {
                            let nodes = p.cluster.running_on(dependent);
                            Colocated {
                                resource: dependent.to_owned(),
                                satisfied: !vip_nodes.is_empty()
                                    && vip_nodes.iter().all(|n| nodes.contains(n)),
                                nodes,
                            }
                        })
                        .collect()
                }),
                _ => None,
            };
            let healthy =
                held_locally == Some(true) && (resource.is_none() || pacemaker_local == Some(true));
            let mut state = VipState {
                name,
                resource,
                address,
                address_from,
                cidr_netmask,
                nic,
                present_locally,
                pacemaker_nodes,
                resource_found,
                pacemaker_local,
                held_locally,
                interface,
                agree,
                colocated,
                left_behind: false,
                healthy,
                rule: VipRule::Unhealthy,
                reason: String::new(),
            };
            state.rule = rule(&state, snapshot, fresh, node_name, cib_error, unfit);
            state
        })
        .collect()
}

/// Where `address` is on this host: (present anywhere, held on a fit interface, the interface,
/// why the interface it is on cannot carry it).
fn local_view(
    list: &[LocalAddress],
    address: IpAddr,
    nic: Option<&str>,
) -> (Option<bool>, Option<bool>, Option<String>, Option<String>) {
    // IPv4 labels (`eth0:vip`) name the interface before the colon.
    let on_nic =
        |a: &LocalAddress| nic.is_none_or(|nic| a.interface.split(':').next() == Some(nic));
    let found: Vec<&LocalAddress> = list.iter().filter(|a| a.address == address).collect();
    if let Some(fit) = found.iter().find(|a| a.up && a.running && on_nic(a)) {
        return (Some(true), Some(true), Some(fit.interface.clone()), None);
    }
    let Some(first) = found.first() else {
        return (Some(false), Some(false), None, None);
    };
    let why = if !on_nic(first) {
        format!("not the resource's nic {}", nic.unwrap_or_default())
    } else if !first.up {
        "down".to_owned()
    } else {
        "not running (no carrier)".to_owned()
    };
    (
        Some(true),
        Some(false),
        Some(first.interface.clone()),
        Some(why),
    )
}

/// Which rule decides one VIP.
fn rule(
    s: &VipState,
    snapshot: &PacemakerSnapshot,
    fresh: bool,
    node: Option<&str>,
    cib_error: Option<String>,
    unfit: Option<String>,
) -> VipRule {
    if s.healthy {
        return VipRule::Held {
            interface: s.interface.clone(),
        };
    }
    if s.resource.is_some() && s.pacemaker_nodes.is_none() {
        let why = if !fresh {
            match snapshot.taken_at {
                None => "no crm_mon result yet".to_owned(),
                Some(_) => "the last crm_mon result is stale".to_owned(),
            }
        } else {
            match (&snapshot.outcome, &snapshot.node) {
                (Err(e), _) => e.to_string(),
                (Ok(_), LocalNode::Unknown(why)) => {
                    format!("cannot tell this node's name: {why}")
                }
                (Ok(_), _) => "unknown".to_owned(),
            }
        };
        return VipRule::PacemakerUnknown {
            why,
            address_here: s.present_locally == Some(true),
        };
    }
    if s.resource_found == Some(false) {
        return VipRule::NoSuchResource;
    }
    let elsewhere = match s.pacemaker_nodes.as_deref() {
        Some([]) => Some("Pacemaker runs it nowhere".to_owned()),
        Some(nodes) if !nodes.iter().any(|n| Some(n.as_str()) == node) => {
            Some(format!("Pacemaker runs it on {}", nodes.join(", ")))
        }
        _ => None,
    };
    if let Some(why) = cib_error {
        if elsewhere.is_none() {
            return VipRule::CibUnreadable(why);
        }
    }
    match (s.held_locally, elsewhere) {
        (_, Some(elsewhere)) if s.present_locally == Some(true) => {
            VipRule::AddressHereNotPlaced { elsewhere }
        }
        (Some(true), Some(elsewhere)) => VipRule::AddressHereNotPlaced { elsewhere },
        (_, Some(elsewhere)) => VipRule::NotHere { elsewhere },
        (None, None) => VipRule::AddressesUnknown,
        (Some(false), None) => match (unfit, &s.interface) {
            (Some(why), Some(interface)) => VipRule::InterfaceUnfit {
                interface: interface.clone(),
                why,
            },
            _ => VipRule::NotOnInterface,
        },
        (Some(true), None) => VipRule::Unhealthy,
    }
}

/// The one-line reason of one VIP.
fn text(s: &VipState, node: &str) -> String {
    let what = match (&s.address, &s.resource) {
        (Some(a), Some(r)) if *r != s.name => format!("VIP {} ({a}, resource {r})", s.name),
        (Some(a), _) => format!("VIP {} ({a})", s.name),
        (None, Some(r)) if *r != s.name => format!("VIP {} (resource {r})", s.name),
        (None, _) => format!("VIP {}", s.name),
    };
    let address = s
        .address
        .map(|a| a.to_string())
        .unwrap_or_else(|| "the address".to_owned());
    match &s.rule {
        VipRule::Held {
            interface: Some(iface),
        } => format!("{what} is held by this node ({node}) on {iface}."),
        VipRule::Held { interface: None } => format!("{what} runs on this node ({node})."),
        VipRule::PacemakerUnknown { why, address_here } => {
            let local = if *address_here {
                format!("; {address} is on this host")
            } else {
                String::new()
            };
            format!("{what}: Pacemaker's view is unknown ({why}){local}.")
        }
        VipRule::NoSuchResource => format!("{what}: no such resource in the cluster."),
        VipRule::AddressesUnknown => format!("{what}: cannot read this host's addresses."),
        VipRule::CibUnreadable(why) => {
            format!("{what}: cannot read its address from the CIB ({why}).")
        }
        VipRule::AddressHereNotPlaced { elsewhere } => {
            format!("{what}: not here; {elsewhere}, yet {address} is on this host (moving?).")
        }
        VipRule::LeftBehind { elsewhere } => {
            format!("{what}: {address} is on this host but {elsewhere} (address left behind?).")
        }
        VipRule::NotHere { elsewhere } => format!("{what}: not here; {elsewhere}."),
        VipRule::NotOnInterface => format!(
            "{what}: Pacemaker says this node ({node}) runs it, but {address} is not on any interface."
        ),
        VipRule::InterfaceUnfit { interface, why } => format!(
            "{what}: Pacemaker says this node ({node}) runs it, but {address} is on {interface}, which is {why}."
        ),
        VipRule::Unhealthy => format!("{what}: unhealthy."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::pacemaker::local::LocalAddress;
    use crate::health::pacemaker::tests::snapshot_of;
    use std::sync::Arc;

    const ADDR: [u8; 4] = [192, 0, 2, 10];

    fn entry(resource: Option<&str>, address: Option<[u8; 4]>) -> VipEntry {
        VipEntry {
            name: None,
            resource: resource.map(str::to_owned),
            address: address.map(IpAddr::from),
        }
    }

    fn with_address(mut s: PacemakerSnapshot, held: bool) -> PacemakerSnapshot {
        let mut list = vec![LocalAddress {
            interface: "lo".into(),
            address: IpAddr::from([127, 0, 0, 1]),
            up: true,
            running: true,
        }];
        if held {
            list.push(LocalAddress {
                interface: "ccdvip0".into(),
                address: IpAddr::from(ADDR),
                up: true,
                running: true,
            });
        }
        s.local_addresses = Some(Ok(list));
        s
    }

    /// The same state seen in two consecutive polls.
    fn twice(s: PacemakerSnapshot) -> PacemakerSnapshot {
        let mut before = s.clone();
        if let Some(at) = before.taken_at.as_mut() {
            *at -= std::time::Duration::from_secs(1);
        }
        PacemakerSnapshot {
            previous: Some(Arc::new(before)),
            ..s
        }
    }

    fn eval(scenario: &str, held: bool, node: &str) -> VipState {
        let now = Instant::now();
        let s = twice(with_address(snapshot_of(scenario, node, now), held));
        let mut states = evaluate(
            &s,
            &[entry(Some("vip"), Some(ADDR))],
            &PacemakerConfig::default(),
            now,
        );
        states.remove(0)
    }

    #[test]
    fn holder_has_it_and_pacemaker_agrees() {
        let s = eval("healthy", true, "controller01");
        assert!(s.healthy, "{}", s.reason);
        assert_eq!(s.agree, Some(true));
        assert_eq!(s.interface.as_deref(), Some("ccdvip0"));
        assert_eq!(
            s.reason,
            "VIP vip (192.0.2.10) is held by this node (controller01) on ccdvip0."
        );
        let c = s.colocated.unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].resource, "lb-haproxy-clone");
        assert!(c[0].satisfied);
    }

    #[test]
    fn other_nodes_do_not_hold_it() {
        let s = eval("healthy", false, "controller02");
        assert!(!s.healthy);
        assert_eq!(s.agree, Some(true));
        assert_eq!(
            s.reason,
            "VIP vip (192.0.2.10): not here; Pacemaker runs it on controller01."
        );
    }

    #[test]
    fn address_left_behind_is_a_disagreement() {
        let s = eval("vip-moved", true, "controller01");
        assert!(!s.healthy);
        assert_eq!(s.agree, Some(false));
        assert!(s.reason.contains("left behind"), "{}", s.reason);
        let s = eval("vip-moved", false, "controller02");
        assert_eq!(s.agree, Some(false));
        assert!(s.reason.contains("not on any interface"), "{}", s.reason);
    }

    #[test]
    fn banned_everywhere_means_nowhere_and_colocation_unsatisfied() {
        let s = eval("live-vip-banned", false, "vm");
        assert!(!s.healthy);
        assert_eq!(s.pacemaker_nodes.as_deref(), Some(&[][..]));
        assert!(s.reason.contains("runs it nowhere"), "{}", s.reason);
        assert!(!s.colocated.unwrap()[0].satisfied);
    }

    #[test]
    fn without_address_pacemaker_decides_and_without_resource_the_kernel() {
        let now = Instant::now();
        let s = with_address(snapshot_of("healthy", "controller01", now), false);
        let config = PacemakerConfig::default();
        let states = evaluate(
            &s,
            &[
                entry(None, None),
                entry(None, Some(ADDR)),
                entry(Some("nosuch"), None),
            ],
            &config,
            now,
        );
        assert!(states[0].healthy && states[0].agree.is_none());
        assert_eq!(states[0].name, "vip");
        assert!(!states[1].healthy && states[1].pacemaker_nodes.is_none());
        assert_eq!(states[2].resource_found, Some(false));
        let v = verdict(&states);
        assert!(!v.healthy);
        assert!(!v.reason.contains("runs on this node"), "{}", v.reason);
    }

    #[test]
    fn collector_down_keeps_the_local_view() {
        let now = Instant::now();
        let mut s = with_address(PacemakerSnapshot::initial(), true);
        s.taken_at = Some(now);
        s.node = LocalNode::Configured("vm".into());
        let states = evaluate(
            &s,
            &[entry(Some("vip"), Some(ADDR))],
            &PacemakerConfig::default(),
            now,
        );
        assert_eq!(states[0].held_locally, Some(true));
        assert!(!states[0].healthy);
        assert!(states[0].reason.contains("unknown"), "{}", states[0].reason);
    }

    /// The live sandbox's CIB and crm_mon with the default entry (only the resource): the
    /// address and nic come from the IPaddr2 primitive.
    fn live(addresses: Vec<LocalAddress>, previous: bool) -> VipState {
        let now = Instant::now();
        let mut s = snapshot_of("live-healthy", "vm", now);
        s.local_addresses = Some(Ok(addresses));
        if previous {
            s = twice(s);
        }
        evaluate(
            &s,
            &[entry(Some("vip"), None)],
            &PacemakerConfig::default(),
            now,
        )
        .remove(0)
    }

    fn on(interface: &str, up: bool, running: bool) -> LocalAddress {
        LocalAddress {
            interface: interface.into(),
            address: IpAddr::from(ADDR),
            up,
            running,
        }
    }

    #[test]
    fn default_entry_reads_the_address_and_nic_from_the_cib() {
        let s = live(vec![on("ccdvip0", true, true)], false);
        assert!(s.healthy, "{}", s.reason);
        assert_eq!(s.address, Some(IpAddr::from(ADDR)));
        assert_eq!(s.address_from, Some("cib"));
        assert_eq!(s.nic.as_deref(), Some("ccdvip0"));
        assert_eq!(s.cidr_netmask, Some(32));
        assert_eq!(
            s.reason,
            "VIP vip (192.0.2.10) is held by this node (vm) on ccdvip0."
        );
        // Deleted by hand while Pacemaker has not noticed: 503 (it was 200 before).
        let s = live(vec![], false);
        assert!(!s.healthy);
        assert_eq!(
            s.reason,
            "VIP vip (192.0.2.10): Pacemaker says this node (vm) runs it, but 192.0.2.10 is not on any interface."
        );
    }

    #[test]
    fn the_interface_must_be_up_running_and_the_nic() {
        for (address, why) in [
            (on("ccdvip0", true, false), "not running (no carrier)"),
            (on("ccdvip0", false, false), "down"),
            (on("eth0", true, true), "not the resource's nic ccdvip0"),
        ] {
            let s = live(vec![address], false);
            assert!(!s.healthy, "{why}");
            assert_eq!(s.present_locally, Some(true));
            assert_eq!(s.held_locally, Some(false));
            assert!(
                s.reason.ends_with(&format!("which is {why}.")),
                "{}",
                s.reason
            );
        }
        // An IPv4 label on the nic is the nic.
        assert!(live(vec![on("ccdvip0:vip", true, true)], false).healthy);
    }

    #[test]
    fn left_behind_needs_two_consecutive_polls() {
        let now = Instant::now();
        let mut s = snapshot_of("live-vip-banned", "vm", now);
        s.local_addresses = Some(Ok(vec![on("ccdvip0", true, true)]));
        let ipaddr2 = resources::parse(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/pacemaker/live-healthy.resources.xml"),
            )
            .unwrap(),
        )
        .unwrap();
        if let Ok(polled) = s.outcome.as_mut() {
            Arc::make_mut(polled).ipaddr2 = Ok(ipaddr2);
        }
        let entries = [entry(Some("vip"), None)];
        let config = PacemakerConfig::default();
        let first = evaluate(&s, &entries, &config, now).remove(0);
        assert!(!first.healthy && !first.left_behind);
        assert!(first.reason.contains("(moving?)"), "{}", first.reason);
        let second = evaluate(&twice(s), &entries, &config, now).remove(0);
        assert!(!second.healthy && second.left_behind);
        assert_eq!(
            second.reason,
            "VIP vip (192.0.2.10): 192.0.2.10 is on this host but Pacemaker runs it nowhere (address left behind?)."
        );
    }
}
