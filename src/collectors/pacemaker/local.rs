//! The addresses configured on this host's interfaces, read from the kernel with getifaddrs(3)
//! (no `ip` subprocess): the ground truth for "does this host really hold the VIP", whatever
//! Pacemaker believes.

use std::net::IpAddr;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalAddress {
    pub interface: String,
    pub address: IpAddr,
    /// The interface is administratively up (IFF_UP).
    pub up: bool,
    /// The interface is operational (IFF_RUNNING: the link has carrier). An address on an
    /// interface that is up but not running answers nobody.
    pub running: bool,
}

pub fn addresses() -> Result<Vec<LocalAddress>, String> {
    let list = nix::ifaddrs::getifaddrs().map_err(|e| format!("getifaddrs: {e}"))?;
    let mut out = Vec::new();
    for entry in list {
        let Some(storage) = entry.address else {
            continue;
        };
        let address = if let Some(v4) = storage.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = storage.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue; // link-layer entries
        };
        out.push(LocalAddress {
            interface: entry.interface_name,
            address,
            up: entry.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP),
            running: entry
                .flags
                .contains(nix::net::if_::InterfaceFlags::IFF_RUNNING),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed() {
        let list = addresses().unwrap();
        assert!(list
            .iter()
            .any(|a| a.address == IpAddr::from([127, 0, 0, 1]) && a.up && a.running));
    }
}
