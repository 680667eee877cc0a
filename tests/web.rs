//! `--web.config.file`: TLS and basic auth on the metrics listener, seen from outside with real
//! curl over real TLS to 127.0.0.1. Certificates are made at run time with openssl (a CA, a
//! server certificate for IP 127.0.0.1, client certificates), bcrypt hashes with the bcrypt
//! crate. Needs no cluster: Galera is disabled, the pages are served all the same.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{wait_for, Daemon};

const NO_CLUSTER: &str = "[listen]\nmetrics = \"127.0.0.1:0\"\n[galera]\nenabled = false\n";

fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt")
}

/// A web config with TLS from `pki` (`tls_extra` appended inside tls_server_config) and one
/// user `prometheus` with `password`.
fn web_config(pki: &Pki, tls_extra: &str, password: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{tls_extra}\
         basic_auth_users:\n  prometheus: '{}'\n",
        pki.path("server.crt").display(),
        pki.path("server.key").display(),
        hash(password)
    )
}

fn start(web_config_file: &Path) -> Daemon {
    Daemon::start_with_args(
        NO_CLUSTER,
        &[OsStr::new("--web.config.file"), web_config_file.as_os_str()],
    )
}

/// What curl got: the HTTP status (0 when there was no HTTP answer: refused, TLS failure), the
/// response head, and curl's own exit code and error.
#[derive(Debug)]
struct Curl {
    status: u16,
    head: String,
    body: String,
    exit: Option<i32>,
    stderr: String,
}

fn curl(url: &str, args: &[&OsStr]) -> Curl {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl (scripts/install-deps.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let (text, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    Curl {
        status: code.trim().parse().unwrap_or(0),
        head: head.to_owned(),
        body: body.to_owned(),
        exit: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn https(daemon: &Daemon) -> String {
    let metrics = daemon.metrics.expect("a metrics listener");
    format!("https://127.0.0.1:{}/metrics", metrics.port())
}

fn with_ca<'a>(pki: &'a Pki, rest: &[&'a OsStr]) -> Vec<&'a OsStr> {
    let mut args = vec![OsStr::new("--cacert"), pki.ca_crt.as_os_str()];
    args.extend_from_slice(rest);
    args
}

/// curl with the CA and the client certificate `name`.crt/.key from `pki`.
fn curl_with_cert(url: &str, pki: &Pki, name: &str) -> Curl {
    let (crt, key) = (
        pki.path(&format!("{name}.crt")),
        pki.path(&format!("{name}.key")),
    );
    let cert = [
        OsStr::new("--cert"),
        crt.as_os_str(),
        OsStr::new("--key"),
        key.as_os_str(),
    ];
    curl(url, &with_ca(pki, &cert))
}

fn user(credentials: &str) -> [&OsStr; 2] {
    [OsStr::new("-u"), OsStr::new(credentials)]
}

#[test]
fn tls_with_the_right_password_is_served_and_a_wrong_one_gets_401() {
    let pki = Pki::new();
    let file = pki.path("web.yml");
    std::fs::write(&file, web_config(&pki, "", "correct horse")).expect("write web config");
    let daemon = start(&file);
    let url = https(&daemon);

    let ok = curl(&url, &with_ca(&pki, &user("prometheus:correct horse")));
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("# TYPE clustercheckd_"), "{ok:?}");

    for (credentials, what) in [
        (Some("prometheus:battery staple"), "a wrong password"),
        (Some("nobody:correct horse"), "an unknown user"),
        (None, "no credentials"),
    ] {
        let mut args = with_ca(&pki, &[]);
        if let Some(c) = credentials {
            args.extend(user(c));
        }
        let denied = curl(&url, &args);
        assert_eq!(denied.status, 401, "{what}: {denied:?}");
        assert!(
            denied
                .head
                .to_ascii_lowercase()
                .contains("www-authenticate: basic"),
            "{what}: {denied:?}"
        );
        assert!(
            !denied.body.contains("clustercheckd_"),
            "{what}: {denied:?}"
        );
    }
    // Every page of the listener is behind the password, not only /metrics.
    let status = curl(
        &url.replace("/metrics", "/status"),
        &with_ca(&pki, &user("prometheus:nope")),
    );
    assert_eq!(status.status, 401, "{status:?}");

    // The metrics port speaks only TLS; the check port stays plain HTTP without a password.
    let plain = curl(
        &url.replace("https://", "http://"),
        &user("prometheus:correct horse"),
    );
    assert_ne!(plain.status, 200, "{plain:?}");
    let check = common::request(daemon.check, "OPTIONS / HTTP/1.0\r\n\r\n");
    assert!(check.status > 0 && check.status != 401, "{check:?}");

    let log = daemon.log_text();
    for secret in ["correct horse", "battery staple", "Authorization", "Basic "] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
}

#[test]
fn a_required_client_certificate_is_enforced() {
    let pki = Pki::new();
    // Relative paths resolve against the web config's own directory.
    let file = pki.path("web.yml");
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .expect("write web config");
    let daemon = start(&file);
    let url = https(&daemon);

    let none = curl(&url, &with_ca(&pki, &[]));
    assert_eq!(
        none.status, 0,
        "no client certificate must be refused: {none:?}"
    );
    assert_ne!(none.exit, Some(0), "curl must fail: {}", none.stderr);

    let ok = curl_with_cert(&url, &pki, "client");
    assert_eq!(ok.status, 200, "{ok:?}");

    // A certificate from a CA the server does not trust is refused too.
    pki.ca("other");
    pki.signed("stranger", "other", "clientAuth", "");
    let refused = curl_with_cert(&url, &pki, "stranger");
    assert_eq!(
        refused.status, 0,
        "an untrusted client certificate: {refused:?}"
    );
}

#[test]
fn require_any_client_cert_wants_one_but_not_from_a_known_ca() {
    let pki = Pki::new();
    pki.ca("other");
    pki.signed("stranger", "other", "clientAuth", "");
    let file = pki.path("web.yml");
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAnyClientCert\n",
    )
    .expect("write web config");
    let daemon = start(&file);
    let url = https(&daemon);
    assert_eq!(curl(&url, &with_ca(&pki, &[])).status, 0);
    let ok = curl_with_cert(&url, &pki, "stranger");
    assert_eq!(ok.status, 200, "{ok:?}");
}

/// Rewrite `file` in place with `text` (same length, same inode) and put its mtime back, so
/// only SIGHUP can make the daemon notice.
fn rewrite_unnoticed(file: &Path, text: &str) {
    let before = std::fs::metadata(file).expect("stat");
    assert_eq!(
        before.len(),
        text.len() as u64,
        "same length, or polling sees it"
    );
    std::fs::write(file, text).expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(file)
        .and_then(|f| f.set_modified(before.modified().expect("mtime")))
        .expect("restore mtime");
}

fn sighup(daemon: &Daemon) {
    let status = Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

/// A daemon with TLS from `ca`/`server` and user `prometheus` with `password`, and a probe
/// giving the status of a request trusting CA `ca` with `password`.
fn reloading(pki: &Pki, password: &str) -> (Daemon, PathBuf) {
    let file = pki.path("web.yml");
    std::fs::write(&file, web_config(pki, "", password)).expect("write web config");
    (start(&file), file)
}

fn status_with(pki: &Pki, daemon: &Daemon, ca: &str, password: &str) -> u16 {
    let ca = pki.path(ca);
    let credentials = format!("prometheus:{password}");
    curl(
        &https(daemon),
        &[
            OsStr::new("--cacert"),
            ca.as_os_str(),
            OsStr::new("-u"),
            OsStr::new(&credentials),
        ],
    )
    .status
}

/// The secrets of a reload test never reach the log; the refused file is named by its key.
fn assert_log_clean(daemon: &Daemon) {
    let log = daemon.log_text();
    assert!(log.contains("basic_auth_users.prometheus"), "{log}");
    for secret in ["alpha-pw", "bravo-pw", "charlie-pw", "not-a-hash"] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
}

const BROKEN: &str = "basic_auth_users:\n  prometheus: not-a-hash\n";

#[test]
fn reload_by_sighup_and_a_bad_file_keeps_the_old() {
    let pki = Pki::new();
    let (daemon, file) = reloading(&pki, "alpha-pw");
    assert_eq!(status_with(&pki, &daemon, "ca.crt", "alpha-pw"), 200);

    // The file changes in a way polling cannot see: only SIGHUP makes the daemon read it.
    rewrite_unnoticed(&file, &web_config(&pki, "", "bravo-pw"));
    sighup(&daemon);
    wait_for(
        Duration::from_secs(10),
        "the new password after SIGHUP",
        || status_with(&pki, &daemon, "ca.crt", "bravo-pw"),
        |s| *s == 200,
    );
    assert_eq!(status_with(&pki, &daemon, "ca.crt", "alpha-pw"), 401);
    assert!(
        daemon.log_text().contains("SIGHUP"),
        "{}",
        daemon.log_text()
    );

    // A broken file read on SIGHUP is logged; the running config stays.
    let padded = format!(
        "{BROKEN}{}",
        " ".repeat(std::fs::metadata(&file).expect("stat").len() as usize - BROKEN.len(),)
    );
    rewrite_unnoticed(&file, &padded);
    sighup(&daemon);
    wait_for(
        Duration::from_secs(10),
        "the refused reload in the log",
        || daemon.log_text(),
        |log| log.contains("web config not reloaded"),
    );
    assert_eq!(status_with(&pki, &daemon, "ca.crt", "bravo-pw"), 200);
    assert_eq!(status_with(&pki, &daemon, "ca.crt", "wrong"), 401);
    assert_log_clean(&daemon);
}

#[test]
fn reload_on_change_applies_new_certificates_and_a_bad_file_keeps_the_old() {
    let pki = Pki::new();
    let (daemon, file) = reloading(&pki, "alpha-pw");
    assert_eq!(status_with(&pki, &daemon, "ca.crt", "alpha-pw"), 200);

    // A change, seen by polling: a new password and a server certificate from another CA.
    pki.ca("ca2");
    pki.signed(
        "server2",
        "ca2",
        "serverAuth",
        "subjectAltName=IP:127.0.0.1\n",
    );
    let changed = web_config(&pki, "", "charlie-pw").replace("server.", "server2.");
    std::fs::write(&file, changed).expect("write web config");
    wait_for(
        Duration::from_secs(10),
        "the new certificate and password after the file changed",
        || status_with(&pki, &daemon, "ca2.crt", "charlie-pw"),
        |s| *s == 200,
    );
    assert_eq!(status_with(&pki, &daemon, "ca2.crt", "alpha-pw"), 401);
    assert_eq!(
        status_with(&pki, &daemon, "ca.crt", "charlie-pw"),
        0,
        "the old certificate is no longer served"
    );

    // A broken new file is logged; the running config stays.
    std::fs::write(&file, BROKEN).expect("write");
    wait_for(
        Duration::from_secs(10),
        "the refused reload in the log",
        || daemon.log_text(),
        |log| log.contains("web config not reloaded"),
    );
    assert_eq!(status_with(&pki, &daemon, "ca2.crt", "charlie-pw"), 200);
    assert_eq!(status_with(&pki, &daemon, "ca2.crt", "wrong"), 401);
    assert_log_clean(&daemon);
}

/// Run the binary with `args` and a config with a metrics listener unless `toml` says
/// otherwise; return the exit code and stderr.
fn refused(toml: &str, web: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("node_name = \"test\"\n[listen]\ncheck = \"127.0.0.1:0\"\n{toml}[galera]\nenabled = false\n"),
    )
    .expect("write config");
    let web_file = dir.path().join("web.yml");
    std::fs::write(&web_file, web).expect("write web config");
    let stderr_path = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("--config")
        .arg(&config)
        .arg("--web.config.file")
        .arg(&web_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run clustercheckd");
    // A daemon that accepted the config would run forever: bounded, then killed (code None).
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    (code, stderr)
}

#[test]
fn bad_web_configs_exit_2_naming_the_key() {
    let metrics = "metrics = \"127.0.0.1:0\"\n";
    for (toml, web, needle) in [
        (
            metrics,
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: []\n",
            "cipher_suites",
        ),
        (
            metrics,
            "http_server_config:\n  http2: false\n",
            "http_server_config",
        ),
        (
            metrics,
            "basic_auth_users:\n  prometheus: plain\n",
            "basic_auth_users.prometheus",
        ),
        (
            metrics,
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "cert_file",
        ),
        (
            metrics,
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
            "TLS10",
        ),
        // The check port must stay plain HTTP for HAProxy: no metrics listener, no web config.
        ("", "", "listen.metrics"),
    ] {
        let (code, stderr) = refused(toml, web);
        assert_eq!(code, Some(2), "{needle}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(needle), "must name {needle}: {stderr}");
    }
}
