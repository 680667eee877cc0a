//! The VIP series: which node Pacemaker runs each VIP on, whether this host really has the
//! address, and whether the two views agree. Rendered from the VIP states that
//! [`crate::health::vip`] derives from the Pacemaker snapshot.

use super::Exposition;
use crate::health::vip::VipState;

/// The VIP series. `held_locally` is always exported (0 when unknown), so that summed over the
/// controllers 0 means "nobody holds it" and 2 "two hosts hold it".
pub fn render(e: &mut Exposition, states: &[VipState]) {
    for s in states {
        let vip = [("vip", s.name.as_str())];
        let address = s.address.map(|a| a.to_string()).unwrap_or_default();
        e.gauge(
            "vip_info",
            "Each configured VIP: its resource and address; always 1.",
            &[
                ("vip", &s.name),
                ("resource", s.resource.as_deref().unwrap_or("")),
                ("address", &address),
            ],
            1.0,
        );
        e.flag(
            "vip_held_locally",
            "1 when this host has the VIP's address on an interface that is up and running (on the \
             IPaddr2 nic when set; 0 also when unknown). \
             Sum over the controllers: 0 = nobody holds it, >1 = split brain.",
            &vip,
            s.held_locally == Some(true),
        );
        e.flag(
            "vip_address_left_behind",
            "1 when the VIP's address has been on this host for two consecutive polls while \
             Pacemaker runs the VIP elsewhere or nowhere (a failed stop: two hosts answer ARP).",
            &vip,
            s.left_behind,
        );
        e.flag(
            "vip_healthy",
            "The /vip/NAME verdict: 1 when this host holds the VIP and Pacemaker agrees.",
            &vip,
            s.healthy,
        );
        if let Some(local) = s.pacemaker_local {
            e.flag(
                "vip_pacemaker_local",
                "1 when Pacemaker runs the VIP's resource on this node.",
                &vip,
                local,
            );
        }
        if let Some(nodes) = &s.pacemaker_nodes {
            e.gauge(
                "vip_pacemaker_nodes",
                "Nodes on which Pacemaker runs the VIP's resource (1 expected).",
                &vip,
                nodes.len() as f64,
            );
            for node in nodes {
                e.gauge(
                    "vip_holder",
                    "The node Pacemaker runs the VIP on; always 1, absent while it runs nowhere.",
                    &[("vip", &s.name), ("node", node)],
                    1.0,
                );
            }
        }
        if let Some(agree) = s.agree {
            e.flag(
                "vip_agreement",
                "1 when Pacemaker's view (runs here or not) matches this host's addresses.",
                &vip,
                agree,
            );
        }
        for c in s.colocated.iter().flatten() {
            e.flag(
                "vip_colocation_satisfied",
                "1 when a resource colocated with the VIP (e.g. lb-haproxy-clone) runs on the VIP's node.",
                &[("vip", &s.name), ("resource", &c.resource)],
                c.satisfied,
            );
        }
    }
}
