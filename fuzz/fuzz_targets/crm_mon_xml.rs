//! crm_mon's XML report (both `--output-as=xml` and the legacy `--as-xml` shape): any text gives
//! a cluster state or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = clustercheckd::collectors::pacemaker::crm_mon::parse(text);
});
