//! clustercheck's shell-variable file (/etc/sysconfig/clustercheck: MYSQL_USERNAME="..."): any
//! content gives the variables or an error naming file and line, never a panic.
#![no_main]
use clustercheckd::config::clustercheck_env;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("clustercheck");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = clustercheck_env::read(&path);
});
