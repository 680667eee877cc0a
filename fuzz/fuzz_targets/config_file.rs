//! The TOML configuration: any file gives a config or a one-line error, never a panic.
#![no_main]
use clustercheckd::config::{Config, Overrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("clustercheckd.toml");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(error) = Config::load(Some(&path), &Overrides::default()) {
        let _ = error.to_string();
    }
});
