//! Galera's grastate.dat and gvwstate.dat as any bytes: each file parses to a value or a typed
//! error, never a panic; read from a directory too, so the bounded read and the UTF-8 check run.
#![no_main]
use clustercheckd::collectors::galera::grastate::{
    parse_grastate, parse_gvwstate, read_dir, GRASTATE_FILE, GVWSTATE_FILE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_grastate(text);
        let _ = parse_gvwstate(text);
    }
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    if std::fs::write(dir.path().join(GRASTATE_FILE), data).is_err()
        || std::fs::write(dir.path().join(GVWSTATE_FILE), data).is_err()
    {
        return;
    }
    let _ = read_dir(dir.path());
});
