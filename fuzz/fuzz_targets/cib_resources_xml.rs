//! `cibadmin --query --scope resources`: the IPaddr2 parameters (ip, cidr_netmask, nic) the VIP
//! check reads. Any text gives parameters or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = clustercheckd::collectors::pacemaker::resources::parse(text);
});
