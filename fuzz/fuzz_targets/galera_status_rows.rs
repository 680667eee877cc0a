//! SHOW STATUS / SHOW VARIABLES rows as the server returns them (name, value): any names and
//! values give a status or a typed error, never a panic.
#![no_main]
use clustercheckd::collectors::galera::status::StatusRows;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let rows: StatusRows = text
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let _ = rows.parse();
});
