//! The web config file (`--web.config.file`, exporter-toolkit's format): any text gives a config
//! or a one-line error naming what is wrong, never a panic.
#![no_main]
use clustercheckd::config::web;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = web::parse(text, std::path::Path::new("/etc/clustercheckd")) {
        let _ = error.to_string();
    }
});
