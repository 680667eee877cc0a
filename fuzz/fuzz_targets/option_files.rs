//! my.cnf-style credential files (the Galera defaults file, the RabbitMQ credentials file):
//! any content gives entries or an error naming file and line, never a panic. Includes are
//! followed inside the temporary directory only.
#![no_main]
use clustercheckd::config::{mycnf, optfile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("client.cnf");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = optfile::read(&path);
    let _ = mycnf::read_client_section(&path);
});
