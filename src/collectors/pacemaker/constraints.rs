//! The constraints section of the CIB (`cibadmin --query --scope constraints`): which resources
//! must run with which (colocations) and which resources are pinned to or banned from nodes
//! (locations, including the `cli-ban-*` / `cli-prefer-*` that `crm_resource --ban/--move` leave).
//!
//! Only the simple two-resource form of a colocation (`rsc` with `with-rsc`) is read; resource
//! sets are listed in [`Constraints::unsupported`] so the status page can say they were skipped.

use serde::Serialize;

use super::xml::{self, XmlError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstraintsError {
    #[error("cibadmin printed no usable XML: {0}")]
    Xml(#[from] XmlError),
    #[error("cibadmin printed <{0}>, expected <constraints>")]
    UnexpectedRoot(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Constraints {
    pub colocations: Vec<Colocation>,
    pub locations: Vec<Location>,
    /// Ids of constraints in a form not read here (resource sets).
    pub unsupported: Vec<String>,
}

/// `rsc` must (positive score) or must not (negative score) run where `with_rsc` runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Colocation {
    pub id: String,
    pub rsc: String,
    pub with_rsc: String,
    pub score: Score,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub id: String,
    pub rsc: String,
    /// Absent for rule-based locations.
    pub node: Option<String>,
    pub score: Option<Score>,
}

/// A Pacemaker score: an integer or +/-INFINITY (and `+INFINITY`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    Infinity,
    MinusInfinity,
    Value(i64),
}

impl Score {
    pub fn parse(text: &str) -> Option<Score> {
        match text.trim() {
            "INFINITY" | "+INFINITY" | "inf" => Some(Score::Infinity),
            "-INFINITY" | "-inf" => Some(Score::MinusInfinity),
            other => other.parse().ok().map(Score::Value),
        }
    }

    pub fn positive(self) -> bool {
        match self {
            Score::Infinity => true,
            Score::MinusInfinity => false,
            Score::Value(v) => v > 0,
        }
    }
}

pub fn parse(text: &str) -> Result<Constraints, ConstraintsError> {
    let root = xml::parse(text)?;
    // `--scope constraints` prints <constraints>; a whole CIB is accepted too.
    let constraints = match root.name.as_str() {
        "constraints" => &root,
        "cib" => match root
            .child("configuration")
            .and_then(|c| c.child("constraints"))
        {
            Some(c) => c,
            None => return Ok(Constraints::default()),
        },
        other => {
            return Err(ConstraintsError::UnexpectedRoot(
                other.chars().take(40).collect(),
            ))
        }
    };
    let mut out = Constraints::default();
    for c in &constraints.children {
        let id = c.attr("id").unwrap_or_default().to_owned();
        match c.name.as_str() {
            "rsc_colocation" => match (c.attr("rsc"), c.attr("with-rsc"), c.attr("score")) {
                (Some(rsc), Some(with_rsc), Some(score)) => {
                    if let Some(score) = Score::parse(score) {
                        out.colocations.push(Colocation {
                            id,
                            rsc: rsc.to_owned(),
                            with_rsc: with_rsc.to_owned(),
                            score,
                        });
                    } else {
                        out.unsupported.push(id);
                    }
                }
                _ => out.unsupported.push(id),
            },
            "rsc_location" => {
                if let Some(rsc) = c.attr("rsc") {
                    out.locations.push(Location {
                        id,
                        rsc: rsc.to_owned(),
                        node: c.attr("node").map(str::to_owned),
                        score: c.attr("score").and_then(Score::parse),
                    });
                } else {
                    out.unsupported.push(id);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Constraints {
    /// Resources that must run where `resource` runs (positive-score colocations with it).
    pub fn colocated_with(&self, resource: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .colocations
            .iter()
            .filter(|c| c.with_rsc == resource && c.score.positive())
            .map(|c| c.rsc.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::pacemaker::crm_mon::tests::fixture;

    #[test]
    fn deployment_colocation() {
        for scenario in [
            "healthy",
            "live-healthy",
            "vip-banned",
            "bundle-group-clone",
        ] {
            let c = parse(&fixture(&format!("{scenario}.constraints.xml"))).unwrap();
            assert_eq!(c.colocated_with("vip"), ["lb-haproxy-clone"], "{scenario}");
        }
    }

    #[test]
    fn cli_constraints_are_locations() {
        let c = parse(&fixture("vip-moved.constraints.xml")).unwrap();
        let prefer = c
            .locations
            .iter()
            .find(|l| l.id == "cli-prefer-vip")
            .unwrap();
        assert_eq!(prefer.node.as_deref(), Some("controller02"));
        assert_eq!(prefer.score, Some(Score::Infinity));
        let c = parse(&fixture("vip-banned.constraints.xml")).unwrap();
        let ban = c
            .locations
            .iter()
            .find(|l| l.id == "cli-ban-vip-on-controller01")
            .unwrap();
        assert_eq!(ban.score, Some(Score::MinusInfinity));
        // A rule-based location has no node.
        let c = parse(&fixture("bundle-group-clone.constraints.xml")).unwrap();
        assert!(c
            .locations
            .iter()
            .any(|l| l.rsc == "galera-grp-clone" && l.node.is_none()));
    }

    #[test]
    fn negative_colocations_and_garbage() {
        let c = parse(
            "<constraints><rsc_colocation id=\"a\" rsc=\"x\" with-rsc=\"vip\" score=\"-INFINITY\"/>\
             <rsc_colocation id=\"s\" score=\"INFINITY\"><resource_set id=\"r\"/></rsc_colocation>\
             </constraints>",
        )
        .unwrap();
        assert!(c.colocated_with("vip").is_empty());
        assert_eq!(c.unsupported, ["s"]);
        assert!(parse("<html/>").is_err());
        assert!(parse("Call cib_query failed").is_err());
    }
}
