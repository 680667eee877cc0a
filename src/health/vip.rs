//! The VIP verdict: does this host hold the virtual IP, and does Pacemaker agree?
//!
//! Two independent views are compared. Pacemaker says which node runs the VIP's resource (the
//! IPaddr2 primitive); the kernel says whether the address is on one of this host's interfaces.
//! They disagree after a failed stop (the address left behind on a node Pacemaker moved away
//! from: two hosts answer ARP for it), or when someone adds or deletes the address by hand. The
//! check (`/vip`) is 200 iff this host has the address, it is up, and Pacemaker says this node
//! (`node_name`) runs the resource. A VIP configured without an address can only repeat what
//! Pacemaker says; one without a resource only looks at the interfaces.
//!
//! Colocation: the resources that must run with the VIP (constraints `colocation add X with vip`,
//! e.g. lb-haproxy-clone) are checked to run on every node that runs the VIP, so "HAProxy runs
//! beside the VIP" is one value.

use std::net::IpAddr;
use std::time::Instant;

use serde::Serialize;

use super::{freshness, Rule};
use crate::collectors::pacemaker::PacemakerSnapshot;
use crate::config::{PacemakerConfig, VipEntry};

pub type Verdict = super::Verdict<Reason>;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VipState {
    pub name: String,
    pub resource: Option<String>,
    pub address: Option<IpAddr>,
    /// Nodes where Pacemaker runs the resource; `None` when Pacemaker's state is unknown or no
    /// resource is configured.
    pub pacemaker_nodes: Option<Vec<String>>,
    /// The resource exists in the cluster (`None`: unknown).
    pub resource_found: Option<bool>,
    /// Pacemaker runs the resource on this node.
    pub pacemaker_local: Option<bool>,
    /// The address is on an interface of this host that is up (without an address: what
    /// Pacemaker says). `None` when unknown.
    pub held_locally: Option<bool>,
    /// The interface carrying the address.
    pub interface: Option<String>,
    /// Pacemaker and the kernel agree (both known, both an address and a resource configured).
    pub agree: Option<bool>,
    /// Resources colocated with the VIP and whether they run on its node(s); `None` when the
    /// constraints could not be read.
    pub colocated: Option<Vec<Colocated>>,
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
    /// The address is on this host while Pacemaker runs the VIP elsewhere or nowhere.
    LeftBehind {
        elsewhere: String,
    },
    NotHere {
        elsewhere: String,
    },
    /// Pacemaker says here, the kernel says no.
    NotOnInterface,
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
    node_name: &str,
    now: Instant,
) -> Vec<VipState> {
    let fresh = freshness(snapshot.taken_at, config.max_staleness(), now).is_ok();
    let polled = snapshot.outcome.as_ref().ok().filter(|_| fresh);
    let addresses = snapshot
        .local_addresses
        .as_ref()
        .and_then(|a| a.as_ref().ok())
        .filter(|_| fresh);
    entries
        .iter()
        .map(|entry| {
            let name = entry.name();
            let resource = entry.resource().map(str::to_owned);
            let (resource_found, pacemaker_nodes) = match (&resource, polled) {
                (Some(r), Some(p)) => (
                    Some(p.cluster.instances(r).next().is_some()),
                    Some(p.cluster.running_on(r)),
                ),
                _ => (None, None),
            };
            let pacemaker_local = pacemaker_nodes
                .as_ref()
                .map(|nodes| nodes.iter().any(|n| n == node_name));
            let (held_locally, interface) = match (entry.address, addresses) {
                (Some(address), Some(list)) => {
                    match list.iter().find(|a| a.address == address && a.up) {
                        Some(found) => (Some(true), Some(found.interface.clone())),
                        None => (Some(false), None),
                    }
                }
                (Some(_), None) => (None, None),
                (None, _) => (pacemaker_local, None),
            };
            let agree = match (entry.address, pacemaker_local, held_locally) {
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
                address: entry.address,
                pacemaker_nodes,
                resource_found,
                pacemaker_local,
                held_locally,
                interface,
                agree,
                colocated,
                healthy,
                rule: VipRule::Unhealthy,
                reason: String::new(),
            };
            state.rule = rule(&state, snapshot, fresh, node_name);
            state.reason = text(&state, node_name);
            state
        })
        .collect()
}

/// Which rule decides one VIP.
fn rule(s: &VipState, snapshot: &PacemakerSnapshot, fresh: bool, node: &str) -> VipRule {
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
            match &snapshot.outcome {
                Err(e) => e.to_string(),
                Ok(_) => "unknown".to_owned(),
            }
        };
        return VipRule::PacemakerUnknown {
            why,
            address_here: s.held_locally == Some(true) && s.address.is_some(),
        };
    }
    if s.resource_found == Some(false) {
        return VipRule::NoSuchResource;
    }
    let elsewhere = match s.pacemaker_nodes.as_deref() {
        Some([]) => Some("Pacemaker runs it nowhere".to_owned()),
        Some(nodes) if !nodes.iter().any(|n| n == node) => {
            Some(format!("Pacemaker runs it on {}", nodes.join(", ")))
        }
        _ => None,
    };
    match (s.held_locally, elsewhere) {
        (None, _) => VipRule::AddressesUnknown,
        (Some(true), Some(elsewhere)) => VipRule::LeftBehind { elsewhere },
        (Some(false), Some(elsewhere)) => VipRule::NotHere { elsewhere },
        (Some(false), None) => VipRule::NotOnInterface,
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
        VipRule::LeftBehind { elsewhere } => {
            format!("{what}: {address} is on this host but {elsewhere} (address left behind?).")
        }
        VipRule::NotHere { elsewhere } => format!("{what}: not here; {elsewhere}."),
        VipRule::NotOnInterface => format!(
            "{what}: Pacemaker says this node ({node}) runs it, but {address} is not on any interface."
        ),
        VipRule::Unhealthy => format!("{what}: unhealthy."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::pacemaker::local::LocalAddress;
    use crate::health::pacemaker::tests::snapshot;

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
        }];
        if held {
            list.push(LocalAddress {
                interface: "ccdvip0".into(),
                address: IpAddr::from(ADDR),
                up: true,
            });
        }
        s.local_addresses = Some(Ok(list));
        s
    }

    fn eval(scenario: &str, held: bool, node: &str) -> VipState {
        let now = Instant::now();
        let s = with_address(snapshot(scenario, now), held);
        let mut states = evaluate(
            &s,
            &[entry(Some("vip"), Some(ADDR))],
            &PacemakerConfig::default(),
            node,
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
        let s = with_address(snapshot("healthy", now), false);
        let config = PacemakerConfig::default();
        let states = evaluate(
            &s,
            &[
                entry(None, None),
                entry(None, Some(ADDR)),
                entry(Some("nosuch"), None),
            ],
            &config,
            "controller01",
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
        let states = evaluate(
            &s,
            &[entry(Some("vip"), Some(ADDR))],
            &PacemakerConfig::default(),
            "vm",
            now,
        );
        assert_eq!(states[0].held_locally, Some(true));
        assert!(!states[0].healthy);
        assert!(states[0].reason.contains("unknown"), "{}", states[0].reason);
    }
}
