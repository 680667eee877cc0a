//! The `[vip]` section and its `[[vip.vips]]` entries: the virtual IPs this node may hold.

use std::collections::HashSet;
use std::net::IpAddr;

use serde::Deserialize;

use super::ConfigError;

/// The virtual IPs this node may hold. Read from the Pacemaker snapshot and the kernel's
/// interface addresses, so it needs `[pacemaker] enabled`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VipConfig {
    pub enabled: bool,
    /// The VIPs (`[[vip.vips]]`); empty means one VIP named `vip`, the resource `vip`.
    pub vips: Vec<VipEntry>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VipEntry {
    /// The `vip` label of its series and the path of its check (`/vip/NAME`). Default: the
    /// resource id, else the address.
    pub name: Option<String>,
    /// The Pacemaker resource managing the address (an IPaddr2 primitive). Default `vip` when no
    /// address is given.
    pub resource: Option<String>,
    /// The address itself, looked up on this host's interfaces. Without it, "held locally"
    /// can only repeat what Pacemaker says.
    pub address: Option<IpAddr>,
}

impl VipEntry {
    pub fn name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.resource.clone())
            .or_else(|| self.address.map(|a| a.to_string()))
            .unwrap_or_else(|| "vip".to_owned())
    }

    pub fn resource(&self) -> Option<&str> {
        match (&self.resource, &self.address) {
            (Some(r), _) => Some(r),
            (None, Some(_)) => None,
            (None, None) => Some("vip"),
        }
    }
}

impl VipConfig {
    /// The configured VIPs, or the default one.
    pub fn entries(&self) -> Vec<VipEntry> {
        if self.vips.is_empty() {
            vec![VipEntry {
                name: None,
                resource: Some("vip".to_owned()),
                address: None,
            }]
        } else {
            self.vips.clone()
        }
    }

    /// `pacemaker_enabled`: the VIP holder comes from the Pacemaker snapshot.
    pub(super) fn validate(&self, pacemaker_enabled: bool) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if !pacemaker_enabled {
            return Err(ConfigError::invalid(
                "vip.enabled",
                "needs pacemaker.enabled = true (the VIP holder comes from Pacemaker)",
            ));
        }
        let mut names = HashSet::new();
        for entry in self.entries() {
            let name = entry.name();
            // The name becomes a URL path segment and a label value.
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            {
                return Err(ConfigError::invalid(
                    "vip.vips.name",
                    format!("`{name}`: use letters, digits, `-`, `_`, `.` or `:`"),
                ));
            }
            if entry.resource.as_deref() == Some("") {
                return Err(ConfigError::invalid(
                    "vip.vips.resource",
                    "must not be empty",
                ));
            }
            if !names.insert(name.clone()) {
                return Err(ConfigError::invalid(
                    "vip.vips.name",
                    format!("`{name}` is used twice"),
                ));
            }
        }
        Ok(())
    }
}
