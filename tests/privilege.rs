//! Least privilege, proven on the real sandbox: the daemon runs as an unprivileged OS user with
//! exactly what the README's "Least privilege" section grants, and every subsystem is healthy.
//!
//! - OS user `clustercheckd` (a system user, no shell, no home), member of `haclient` for
//!   crm_mon, crm_node and cibadmin; no capabilities.
//! - MariaDB: the sandbox's check user, which has only `PROCESS` (scripts/sandbox/galera.sh).
//! - RabbitMQ: RABBITMQ_MONITOR_USER, tag `monitoring` only, and on `/` only the probe's
//!   permissions (scripts/sandbox/rabbitmq.sh `monitor_user`).
//! - Its config and credentials files belong to it, mode 0600; one made 0644 is a warning that
//!   names it.
//!
//! Nothing here disturbs a cluster (adding a RabbitMQ user or an OS user does not), so no lock.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    env, env_num, galera_defaults_file, galera_toml, give, os_user_ids, path_str, sandbox, Daemon,
};

/// The OS user the daemon runs as.
const USER: &str = "clustercheckd";
const SETTLE: Duration = Duration::from_secs(30);

/// Create the system user (idempotent) and make sure it is in `haclient`, the group Pacemaker
/// lets query the cluster (the group exists once pacemaker is installed).
fn ensure_os_user() {
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .is_ok_and(|o| o.status.success());
    if !exists {
        common::stdout_of(
            Command::new("useradd").args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                "haclient",
                USER,
            ]),
            "useradd clustercheckd",
        );
    }
    common::stdout_of(
        Command::new("usermod").args(["--append", "--groups", "haclient", USER]),
        "usermod -aG haclient clustercheckd",
    );
}

/// A private directory of the user's, holding its credentials files.
struct Files {
    dir: tempfile::TempDir,
    uid: u32,
    gid: u32,
}

impl Files {
    fn new() -> Files {
        let (uid, gid) = os_user_ids(USER);
        let dir = tempfile::tempdir().expect("temp dir");
        give(dir.path(), uid, gid, 0o700);
        Files { dir, uid, gid }
    }

    /// Write `text` to `name`, owned by the user with `mode`.
    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a credentials file");
        give(&path, self.uid, self.gid, mode);
        path
    }
}

/// The whole configuration: Galera node 1 through the check user's defaults file, RabbitMQ
/// node 1 as the monitoring user through a credentials file, Pacemaker and the VIP live.
fn config(cnf: &Path, rabbit: &Path) -> String {
    let node = sandbox(&["pacemaker", "node_name"]).trim().to_owned();
    format!(
        "node_name = \"{node}\"\n[listen]\n[log]\nlevel = \"debug\"\n{}\
         [rabbitmq]\nenabled = true\ninterval = \"1s\"\nqueue_interval = \"2s\"\n\
         timeout = \"2s\"\nprobe_timeout = \"2s\"\n\
         management_url = \"http://127.0.0.1:{}\"\namqp_port = {}\ncredentials_file = \"{}\"\n\
         [pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\n\
         [vip]\nenabled = true\n[[vip.vips]]\nname = \"vip\"\nresource = \"vip\"\naddress = \"{}\"\n",
        galera_toml(&path_str(cnf), "1s", ""),
        env_num("RABBITMQ_MGMT_PORT_BASE") + 1,
        env_num("RABBITMQ_AMQP_PORT_BASE") + 1,
        rabbit.display(),
        env()["PACEMAKER_VIP"],
    )
}

/// The sandbox check user's [client] options for Galera node 1, in a file of the user's.
fn galera_cnf(files: &Files, mode: u32) -> PathBuf {
    let text = std::fs::read_to_string(galera_defaults_file(1)).expect("the sandbox's check.cnf");
    files.write("check.cnf", &text, mode)
}

fn rabbit_credentials(files: &Files, mode: u32) -> PathBuf {
    let user = sandbox(&["rabbitmq", "monitor_user"]).trim().to_owned();
    files.write(
        "rabbitmq.credentials",
        &format!(
            "user = {user}\npassword = \"{}\"\n",
            env()["RABBITMQ_MONITOR_PASSWORD"]
        ),
        mode,
    )
}

/// One field of /proc/PID/status (`Uid:`, `CapEff:`...), its first value.
fn proc_status(pid: u32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .to_owned()
}

/// The grants the sandbox gave: what the README says clustercheckd needs, and nothing more.
fn assert_grants_are_minimal() {
    let user = &env()["GALERA_CHECK_USER"];
    let grants = common::galera_sql(1, &format!("SHOW GRANTS FOR '{user}'@'localhost'"));
    assert!(
        grants.contains(&format!("GRANT PROCESS ON *.* TO `{user}`@`localhost`")),
        "{grants}"
    );
    assert_eq!(grants.matches("GRANT ").count(), 1, "{grants}");
    let monitor = &env()["RABBITMQ_MONITOR_USER"];
    let who = rabbit_api(&format!("users/{monitor}"));
    assert!(who.contains("\"tags\":[\"monitoring\"]"), "{who}");
    let permissions = rabbit_api(&format!("users/{monitor}/permissions"));
    assert!(
        permissions.contains(
            r#""vhost":"/","configure":"^amq\\.gen-","write":"^amq\\.default$","read":"^amq\\.gen-""#
        ),
        "{permissions}"
    );
    let groups = common::stdout_of(Command::new("id").args(["-nG", USER]), "id -nG");
    let mut groups: Vec<&str> = groups.split_whitespace().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["clustercheckd", "haclient"]);
}

/// GET the management API of RabbitMQ node 1 as the sandbox's administrator.
fn rabbit_api(path: &str) -> String {
    common::stdout_of(
        Command::new("curl").args([
            "-sS",
            "--fail",
            "--max-time",
            "10",
            "-u",
            &format!("{}:{}", env()["RABBITMQ_USER"], env()["RABBITMQ_PASSWORD"]),
            &format!(
                "http://127.0.0.1:{}/api/{path}",
                env_num("RABBITMQ_MGMT_PORT_BASE") + 1
            ),
        ]),
        &format!("GET /api/{path}"),
    )
}

/// Wait until every line of `want` is on /metrics.
fn wait_metrics(d: &Daemon, want: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let page = d.get("/metrics").body;
        if want.iter().all(|w| page.lines().any(|l| l == *w)) {
            return page;
        }
        assert!(
            start.elapsed() < SETTLE,
            "not all of {want:?} within {SETTLE:?}:\n{page}\nlog:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn unprivileged_daemon_sees_every_subsystem_healthy() {
    ensure_os_user();
    sandbox(&["up", "pacemaker"]);
    assert_grants_are_minimal();
    let files = Files::new();
    let cnf = galera_cnf(&files, 0o600);
    let rabbit = rabbit_credentials(&files, 0o600);
    let d = Daemon::start_as(&config(&cnf, &rabbit), USER);

    // It really is the unprivileged user, without any capability.
    let (uid, _) = os_user_ids(USER);
    assert_eq!(proc_status(d.pid(), "Uid:"), uid.to_string());
    assert_eq!(proc_status(d.pid(), "CapEff:"), "0000000000000000");
    assert_eq!(proc_status(d.pid(), "CapPrm:"), "0000000000000000");

    let page = wait_metrics(
        &d,
        &[
            "clustercheckd_collector_up{collector=\"galera\"} 1",
            "clustercheckd_collector_up{collector=\"rabbitmq\"} 1",
            "clustercheckd_collector_up{collector=\"rabbitmq_queues\"} 1",
            "clustercheckd_collector_up{collector=\"pacemaker\"} 1",
            "clustercheckd_rabbitmq_probe_success 1",
            "clustercheckd_vip_held_locally{vip=\"vip\"} 1",
        ],
    );
    assert!(
        page.contains("clustercheckd_rabbitmq_probes_total{outcome=\"failed\"} 0"),
        "{page}"
    );
    for path in ["/", "/rabbitmq", "/pacemaker", "/vip", "/status", "/ui"] {
        let answer = d.get(path);
        assert_eq!(
            answer.status,
            200,
            "{path}: {}\nlog:\n{}",
            answer.body,
            d.log_text()
        );
    }
    let log = d.log_text();
    assert!(!log.contains("readable by every user"), "{log}");
    assert!(!log.contains(" WARN ") && !log.contains(" ERROR "), "{log}");
}

/// A credentials file any local user can read is a warning in the log, naming the file.
#[test]
fn credentials_file_readable_by_others_is_a_warning_naming_it() {
    ensure_os_user();
    sandbox(&["up", "pacemaker"]);
    let files = Files::new();
    let cnf = galera_cnf(&files, 0o600);
    let rabbit = rabbit_credentials(&files, 0o644);
    let d = Daemon::start_as(&config(&cnf, &rabbit), USER);
    let log = d.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains(" WARN ") && l.contains("readable by every user"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(
        warning.contains(&format!(
            "credentials file {} (rabbitmq.credentials_file)",
            rabbit.display()
        )),
        "{warning}"
    );
    assert!(warning.contains("mode 0644"), "{warning}");
    // Only that one: the 0600 defaults file is not named.
    assert_eq!(log.matches("readable by every user").count(), 1, "{log}");
}

// --- no secret in any output ---------------------------------------------------------------------

/// Passwords that look like nothing else the daemon prints, with characters that change under
/// URL encoding (`:`, `/`, `@`, blank, `+`), so their encoded forms differ from the plain ones.
const GALERA_USER: &str = "ccd_leak";
const GALERA_PW: &str = "s3cr:t/p@ss w0rd+Gal";
const GALERA_WRONG_PW: &str = "wr0ng:g/p@ss w0rd+Gal";
const RABBIT_USER: &str = "ccd-leak";
const RABBIT_PW: &str = "s3cr:t/p@ss w0rd+Rmq";
const RABBIT_WRONG_PW: &str = "wr0ng:r/p@ss w0rd+Rmq";
/// A password a careless operator leaves unquoted in TOML, where it parses as a number.
const NUMERIC_PW: &str = "73519046288";

fn all_secrets() -> Vec<(&'static str, &'static str)> {
    vec![
        (GALERA_USER, GALERA_PW),
        (GALERA_USER, GALERA_WRONG_PW),
        (RABBIT_USER, RABBIT_PW),
        (RABBIT_USER, RABBIT_WRONG_PW),
        (GALERA_USER, NUMERIC_PW),
    ]
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Percent-encoding of every byte outside RFC 3986's unreserved set; `plus` writes a blank as
/// `+` (form encoding) instead of `%20`.
fn percent(text: &str, plus: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' if plus => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Every form in which a password could leak: itself, base64 of `user:password` (HTTP basic
/// auth) and of the password, its URL encodings (upper and lower case hex, `%20` and `+`), and
/// those of `user:password` (as a URL's userinfo writes it, and wholly encoded).
fn forbidden(user: &str, password: &str) -> Vec<String> {
    let pair = format!("{user}:{password}");
    let mut forms = vec![
        password.to_owned(),
        base64(&pair),
        base64(password),
        percent(password, false),
        percent(password, true),
        percent(password, false).to_lowercase(),
        percent(&pair, false),
        percent(&pair, true),
        format!("{}:{}", percent(user, false), percent(password, false)),
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// Fail naming the form and where it was found (without printing the whole output twice).
fn assert_no_secret(what: &str, text: &str) {
    for (user, password) in all_secrets() {
        for form in forbidden(user, password) {
            if let Some(at) = text.find(&form) {
                let start = text[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                let end = (at + form.len() + 200).min(text.len());
                let end = (end..=text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                panic!(
                    "{what} contains {form:?} (a form of {password:?}):\n...{}...",
                    &text[start..end]
                );
            }
        }
    }
}

/// Everything a daemon shows: each check, /status, /metrics, /ui, an unknown path, its log; each
/// named "`label` WHAT".
fn everything(d: &Daemon, label: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in [
        "/",
        "/rabbitmq",
        "/pacemaker",
        "/vip",
        "/status",
        "/metrics",
        "/ui",
        "/nonexistent",
    ] {
        let answer = d.get(path);
        out.push((
            format!("{label} {path}"),
            format!("{}\r\n\r\n{}", answer.head, answer.body),
        ));
    }
    out.push((format!("{label} OPTIONS /"), d.check().body));
    out.push((format!("{label} log"), d.log_text()));
    out
}

/// The test's own MariaDB user (PROCESS only) and RabbitMQ user (monitoring, probe
/// permissions), with the distinctive passwords; dropped again by the returned guard. Creating
/// users disturbs neither cluster.
fn leak_test_users() -> common::Restore {
    let sql = |pw: &str| {
        format!(
            "CREATE USER IF NOT EXISTS '{GALERA_USER}'@'localhost' IDENTIFIED BY '{pw}';\
             ALTER USER '{GALERA_USER}'@'localhost' IDENTIFIED BY '{pw}';\
             GRANT PROCESS ON *.* TO '{GALERA_USER}'@'localhost';"
        )
    };
    common::galera_sql(1, &sql(GALERA_PW));
    let admin = format!("{}:{}", env()["RABBITMQ_USER"], env()["RABBITMQ_PASSWORD"]);
    let api = format!(
        "http://127.0.0.1:{}/api",
        env_num("RABBITMQ_MGMT_PORT_BASE") + 1
    );
    let put = |path: &str, body: String| {
        common::stdout_of(
            Command::new("curl").args([
                "-sS",
                "--fail",
                "--max-time",
                "10",
                "-u",
                &admin,
                "-X",
                "PUT",
                "-H",
                "content-type: application/json",
                "-d",
                &body,
                &format!("{api}/{path}"),
            ]),
            &format!("PUT /api/{path}"),
        );
    };
    put(
        &format!("users/{RABBIT_USER}"),
        serde_json::json!({"password": RABBIT_PW, "tags": "monitoring"}).to_string(),
    );
    put(
        &format!("permissions/%2F/{RABBIT_USER}"),
        serde_json::json!({"configure": "^amq\\.gen-", "write": "^amq\\.default$", "read": "^amq\\.gen-"})
            .to_string(),
    );
    common::Restore::new(move || {
        let _ = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-u", &admin, "-X", "DELETE"])
            .arg(format!("{api}/users/{RABBIT_USER}"))
            .output();
        let _ = Command::new("bash")
            .arg(common::repo().join("scripts/sandbox.sh"))
            .args([
                "galera",
                "sql",
                "1",
                &format!("DROP USER IF EXISTS '{GALERA_USER}'@'localhost'"),
            ])
            .output();
    })
}

/// Galera node 1's socket, from the sandbox's check.cnf.
fn galera_socket() -> String {
    let text = std::fs::read_to_string(galera_defaults_file(1)).expect("check.cnf");
    text.lines()
        .find_map(|l| l.strip_prefix("socket="))
        .expect("socket= in check.cnf")
        .trim()
        .to_owned()
}

/// Wait until /metrics has every one of `want`.
fn wait_all(d: &Daemon, want: &[&str]) {
    wait_metrics(d, want);
}

/// Run a command that should exit by itself; killed after `within` (a config wrongly accepted
/// would otherwise run forever). Returns its exit code (`None` when killed) and stdout + stderr.
fn run_bounded(command: &mut Command, within: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let file = std::fs::File::create(&out).expect("output file");
    let mut child = command
        .stdout(file.try_clone().expect("dup"))
        .stderr(file)
        .spawn()
        .expect("run clustercheckd");
    let start = Instant::now();
    let code = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status.code();
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, std::fs::read_to_string(&out).unwrap_or_default())
}

#[test]
fn no_password_in_any_output_at_debug_level() {
    let _users = leak_test_users();
    sandbox(&["up", "pacemaker"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let node = sandbox(&["pacemaker", "node_name"]).trim().to_owned();
    let mgmt = env_num("RABBITMQ_MGMT_PORT_BASE") + 1;
    let amqp = env_num("RABBITMQ_AMQP_PORT_BASE") + 1;
    let socket = galera_socket();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        give(&path, 0, 0, 0o600);
        path
    };
    let cnf = write(
        "leak.cnf",
        format!("[client]\nuser = {GALERA_USER}\npassword = \"{GALERA_PW}\"\nsocket = {socket}\n"),
    );
    let creds = write(
        "rabbit.creds",
        format!("user = {RABBIT_USER}\npassword = \"{RABBIT_PW}\"\n"),
    );
    let pacemaker = format!(
        "[pacemaker]\nenabled = true\ninterval = \"1s\"\ntimeout = \"5s\"\n\
         [vip]\nenabled = true\n[[vip.vips]]\nname = \"vip\"\nresource = \"vip\"\naddress = \"{}\"\n",
        env()["PACEMAKER_VIP"]
    );
    let rabbit = |url_port: u16, amqp_port: u16, auth: &str| {
        format!(
            "[rabbitmq]\nenabled = true\ninterval = \"1s\"\nqueue_interval = \"1s\"\n\
             timeout = \"1s\"\nprobe_timeout = \"1s\"\n\
             management_url = \"http://127.0.0.1:{url_port}\"\namqp_port = {amqp_port}\n{auth}\n"
        )
    };
    let head = format!("node_name = \"{node}\"\n[listen]\n[log]\nlevel = \"debug\"\n");
    let closed = common::closed_port();
    let mut outputs: Vec<(String, String)> = Vec::new();

    // 1. Everything right: the secrets are used, successfully, on every connection.
    let good = Daemon::start(&format!(
        "{head}{}{}{pacemaker}",
        galera_toml(&path_str(&cnf), "1s", ""),
        rabbit(
            mgmt,
            amqp,
            &format!("credentials_file = \"{}\"", creds.display())
        ),
    ));
    wait_all(
        &good,
        &[
            "clustercheckd_collector_up{collector=\"galera\"} 1",
            "clustercheckd_collector_up{collector=\"rabbitmq\"} 1",
            "clustercheckd_collector_up{collector=\"pacemaker\"} 1",
            "clustercheckd_rabbitmq_probe_success 1",
        ],
    );
    outputs.extend(everything(&good, "good"));
    drop(good);

    // 2. Wrong passwords, given in the main file: both collectors fail on authentication.
    let wrong = Daemon::start(&format!(
        "{head}[galera]\nuser = \"{GALERA_USER}\"\npassword = \"{GALERA_WRONG_PW}\"\n\
         socket = \"{socket}\"\ninterval = \"1s\"\n{}",
        rabbit(
            mgmt,
            amqp,
            &format!("user = \"{RABBIT_USER}\"\npassword = \"{RABBIT_WRONG_PW}\"")
        ),
    ));
    wait_all(
        &wrong,
        &[
            "clustercheckd_collector_up{collector=\"galera\"} 0",
            "clustercheckd_collector_up{collector=\"rabbitmq\"} 0",
            "clustercheckd_rabbitmq_probe_success 0",
        ],
    );
    let log = wrong.log_text();
    assert!(log.contains("authentication failed"), "{log}");
    assert!(log.contains("Access denied"), "{log}");
    outputs.extend(everything(&wrong, "wrong"));
    drop(wrong);

    // 3. Nothing listening: the broker's ports and the database's are closed.
    let unreachable = Daemon::start(&format!(
        "{head}[galera]\nuser = \"{GALERA_USER}\"\npassword = \"{GALERA_PW}\"\n\
         host = \"127.0.0.1\"\nport = {}\ninterval = \"1s\"\n{}",
        closed.port,
        rabbit(
            closed.port,
            closed.port,
            &format!("credentials_file = \"{}\"", creds.display())
        ),
    ));
    wait_all(
        &unreachable,
        &[
            "clustercheckd_collector_up{collector=\"galera\"} 0",
            "clustercheckd_collector_up{collector=\"rabbitmq\"} 0",
            "clustercheckd_rabbitmq_probe_success 0",
        ],
    );
    outputs.extend(everything(&unreachable, "unreachable"));
    drop(unreachable);

    // 4. Bad configurations next to a password: exit 2 with a message, the secret not in it.
    let bad_cnf = write(
        "bad.cnf",
        format!("[client]\npassword = \"{GALERA_PW}\"\nport = 3306x\n"),
    );
    let unterminated = write(
        "unterminated.creds",
        format!("user = {RABBIT_USER}\npassword = \"{RABBIT_PW}\n"),
    );
    let unknown = write(
        "unknown.creds",
        format!("user = {RABBIT_USER}\npassword = \"{RABBIT_PW}\"\n{RABBIT_PW}\n"),
    );
    let env_file = write(
        "clustercheck",
        format!("MYSQL_USERNAME={GALERA_USER}\nMYSQL_PASSWORD=\"{GALERA_PW}$HOME\"\n"),
    );
    let bad_configs = [
        format!("[galera]\npassword = \"{GALERA_PW}\"\nintervall = \"1s\"\n"),
        format!("[galera]\npassword = \"{GALERA_PW}\" trailing\n"),
        format!("[galera]\npassword = \"{GALERA_PW}\"\npassword = \"{GALERA_PW}\"\n"),
        format!("[galera]\npassword = \"{GALERA_PW}\"\ninterval = \"soon\"\n"),
        format!("[galera]\npassword = {NUMERIC_PW}\n"),
        format!("[galera]\npassword = [\"{GALERA_PW}\"]\n"),
        format!("[listen]\npassword = \"{GALERA_PW}\"\n"),
        format!("[galera]\ndefaults_file = \"{}\"\n", bad_cnf.display()),
        format!("[galera]\nclustercheck_env_file = \"{}\"\n", env_file.display()),
        format!(
            "[galera]\nenabled = false\n{}",
            rabbit(mgmt, amqp, &format!("credentials_file = \"{}\"", unterminated.display()))
        ),
        format!(
            "[galera]\nenabled = false\n{}",
            rabbit(mgmt, amqp, &format!("credentials_file = \"{}\"", unknown.display()))
        ),
        format!(
            "[galera]\nenabled = false\n[rabbitmq]\nenabled = true\nuser = \"{RABBIT_USER}\"\n\
             password = \"{RABBIT_PW}\"\nmanagement_url = \"http://{RABBIT_USER}:{}@127.0.0.1:{mgmt}\"\n",
            percent(RABBIT_PW, false)
        ),
    ];
    for (i, text) in bad_configs.iter().enumerate() {
        let config = write(&format!("bad{i}.toml"), format!("{head}{text}"));
        for check_config in [false, true] {
            let mut command = Command::new(env!("CARGO_BIN_EXE_clustercheckd"));
            command.arg("--config").arg(&config).env_remove("RUST_LOG");
            if check_config {
                command.arg("--check-config");
            }
            let (code, all) = run_bounded(
                command.args(["--listen", "127.0.0.1:0", "--log-level", "trace"]),
                Duration::from_secs(10),
            );
            assert_eq!(code, Some(2), "config {i}:\n{text}\n{all}");
            assert!(all.contains("configuration"), "config {i}: {all}");
            outputs.push((format!("bad config {i} ({text:?})"), all));
        }
    }

    // The search itself, over everything collected.
    assert!(outputs.len() > 30);
    for (what, text) in &outputs {
        assert_no_secret(what, text);
    }
}
