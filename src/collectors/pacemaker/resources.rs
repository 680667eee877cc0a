//! The resources section of the CIB (`cibadmin --query --scope resources`), read for one thing:
//! the parameters of each IPaddr2 primitive (`ip`, `cidr_netmask`, `nic`). crm_mon says where
//! Pacemaker runs a VIP but not which address it is, so a VIP entry that names only its resource
//! (the default entry) learns its address and interface here, in the same poll.

use std::net::IpAddr;

use serde::Serialize;

use super::xml::{self, Element, XmlError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResourcesError {
    #[error("cibadmin printed no usable XML: {0}")]
    Xml(#[from] XmlError),
    #[error("cibadmin printed <{0}>, expected <resources>")]
    UnexpectedRoot(String),
}

/// One IPaddr2 primitive's address parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpAddr2 {
    /// The primitive's id.
    pub id: String,
    /// The top-level resource holding it (a group or clone), or the primitive itself.
    pub top: String,
    /// `ip`; `None` when missing or not an address.
    pub ip: Option<IpAddr>,
    pub cidr_netmask: Option<u8>,
    /// `nic`: the interface the agent puts the address on (unset: the agent picks it by route).
    pub nic: Option<String>,
}

/// Every IPaddr2 primitive (`class="ocf" provider="heartbeat" type="IPaddr2"`), anywhere in the
/// resource tree.
pub fn parse(text: &str) -> Result<Vec<IpAddr2>, ResourcesError> {
    let root = xml::parse(text)?;
    let resources = match root.name.as_str() {
        "resources" => &root,
        "cib" => match root
            .child("configuration")
            .and_then(|c| c.child("resources"))
        {
            Some(r) => r,
            None => return Ok(Vec::new()),
        },
        other => {
            return Err(ResourcesError::UnexpectedRoot(
                other.chars().take(40).collect(),
            ))
        }
    };
    let mut out = Vec::new();
    for el in &resources.children {
        let top = el.attr("id").unwrap_or_default();
        walk(el, top, &mut out);
    }
    Ok(out)
}

fn walk(el: &Element, top: &str, out: &mut Vec<IpAddr2>) {
    if el.name != "primitive" {
        for child in &el.children {
            walk(child, top, out);
        }
        return;
    }
    if el.attr("type") != Some("IPaddr2") || el.attr("class") != Some("ocf") {
        return;
    }
    let param = |name: &str| -> Option<&str> {
        el.children_named("instance_attributes")
            .flat_map(|a| a.children_named("nvpair"))
            .find(|p| p.attr("name") == Some(name))
            .and_then(|p| p.attr("value"))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(id) = el.attr("id") else { return };
    out.push(IpAddr2 {
        id: id.to_owned(),
        top: top.to_owned(),
        ip: param("ip").and_then(|v| v.parse().ok()),
        cidr_netmask: param("cidr_netmask").and_then(|v| v.parse().ok()),
        nic: param("nic").map(str::to_owned),
    });
}

/// The IPaddr2 primitive a VIP entry's resource names: the primitive itself, or the only IPaddr2
/// inside the named group or clone.
pub fn find<'a>(list: &'a [IpAddr2], resource: &str) -> Option<&'a IpAddr2> {
    list.iter().find(|p| p.id == resource).or_else(|| {
        let mut inside = list.iter().filter(|p| p.top == resource);
        match (inside.next(), inside.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::pacemaker::crm_mon::tests::fixture;

    #[test]
    fn live_sandbox_vip() {
        let list = parse(&fixture("live-healthy.resources.xml")).unwrap();
        assert_eq!(
            list,
            [IpAddr2 {
                id: "vip".into(),
                top: "vip".into(),
                ip: Some([192, 0, 2, 10].into()),
                cidr_netmask: Some(32),
                nic: Some("ccdvip0".into()),
            }]
        );
        assert_eq!(find(&list, "vip").unwrap().id, "vip");
        assert!(find(&list, "dummy").is_none());
    }

    #[test]
    fn grouped_primitive_and_garbage() {
        let list = parse(
            "<resources><group id=\"g\"><primitive id=\"ip1\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\">\
             <instance_attributes id=\"a\"><nvpair id=\"n\" name=\"ip\" value=\"not-an-ip\"/></instance_attributes>\
             </primitive><primitive id=\"d\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\"/></group></resources>",
        )
        .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(find(&list, "g").unwrap().id, "ip1");
        assert_eq!(list[0].ip, None);
        assert!(parse("<html/>").is_err());
        assert!(parse("Call cib_query failed").is_err());
    }
}
