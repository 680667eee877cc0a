//! `cibadmin --query --scope constraints` output and the generic XML reader under it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = clustercheckd::collectors::pacemaker::constraints::parse(text);
    let _ = clustercheckd::collectors::pacemaker::xml::parse(text);
});
