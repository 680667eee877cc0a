//! The management API answers the collector deserialises: /api/overview, /api/nodes,
//! /api/policies and the alarm health check. Garbage is an error, never a panic.
#![no_main]
use clustercheckd::collectors::rabbitmq::api::{Alarm, Node, Overview, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Overview>(data);
    let _ = serde_json::from_slice::<Vec<Node>>(data);
    let _ = serde_json::from_slice::<Vec<Policy>>(data);
    let _ = serde_json::from_slice::<Vec<Alarm>>(data);
    if let Ok(overview) = serde_json::from_slice::<Overview>(data) {
        let _ = overview.major_version();
    }
});
