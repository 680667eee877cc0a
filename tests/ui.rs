//! /ui in a real headless browser (Debian's chromium): the rendered page shows the right verdict
//! for a healthy and for a desynced node, and with `[writer]` whether the node is the writer.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{galera_heal, lock, sandbox, Daemon, Restore};

/// The DOM after the page loaded, as Chromium rendered it.
fn rendered_dom(url: &str, screenshot: Option<&std::path::Path>) -> String {
    let profile = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    if let Some(path) = screenshot {
        command
            .arg(format!("--screenshot={}", path.display()))
            .arg("--window-size=900,700");
    } else {
        command.arg("--dump-dom");
    }
    command.arg(url);
    common::stdout_of(&mut command, "chromium")
}

#[test]
fn ui_shows_healthy_then_desynced_node() {
    let _lock = lock("galera");
    galera_heal();
    // The only daemon on the tests' lease row: it becomes the writer.
    let writer = common::fast_writer_section(2);
    let daemon = Daemon::galera(2, &writer);
    daemon.wait_check(Duration::from_secs(5), "200", |a| a.status == 200);
    common::wait_for_writer(&[&daemon], Duration::from_secs(15));
    let url = format!("http://{}/ui", daemon.addr());

    let dom = rendered_dom(&url, None);
    assert!(
        dom.contains("<section class=\"ok\" id=\"galera\">"),
        "{dom}"
    );
    assert!(dom.contains("Galera cluster node is synced."), "{dom}");
    assert!(dom.contains("<td>Synced</td>"), "{dom}");
    assert!(
        dom.contains("<section class=\"ok\" id=\"writer\">"),
        "{dom}"
    );
    assert!(dom.contains("This node is the writer (lease generation"));
    assert!(dom.contains("<th>last lease statement</th><td>renewal</td>"));
    assert!(dom.contains("<th>its result</th><td>ok</td>"));

    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "2", "off"]);
    });
    sandbox(&["galera", "desync", "2", "on"]);
    daemon.wait_check(Duration::from_secs(3), "503", |a| a.status == 503);
    // The desynced writer releases the lease: nobody holds it now.
    common::wait_for(
        Duration::from_secs(5),
        "the lease released",
        || daemon.get("/status").body,
        |body| body.contains("\"holder\":null"),
    );
    let dom = rendered_dom(&url, None);
    assert!(
        dom.contains("<section class=\"bad\" id=\"galera\">"),
        "{dom}"
    );
    assert!(dom.contains("not synced: Donor/Desynced."), "{dom}");
    assert!(
        dom.contains("<section class=\"bad\" id=\"writer\">"),
        "{dom}"
    );
    assert!(dom.contains("Not the writer: Galera cluster node is not synced"));
    assert!(dom.contains("no lease holder"));
    if let Some(path) = std::env::var_os("UI_SCREENSHOT") {
        rendered_dom(&url, Some(std::path::Path::new(&path)));
    }
}
