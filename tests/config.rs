//! Configuration refusals seen from outside: the binary, given a bad configuration, exits with
//! code 2 and one line naming the key, before it binds any port. Needs no cluster.
//!
//! "Before binding" is proven without guessing a free port: the test holds a listener on
//! 127.0.0.1:0 and names its address as `listen.check`. A daemon that tried to bind before
//! validating would fail on that port with exit code 1 ("cannot listen"), never 2.

use std::net::TcpListener;
use std::process::Command;

/// Run the binary on `toml` with `listen.check` on a port this test holds; return its exit
/// code and stderr.
fn run_with(listen_extra: &str, toml_top: &str, toml_rest: &str) -> (Option<i32>, String) {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = held.local_addr().expect("local addr");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    let text = format!("{toml_top}[listen]\ncheck = \"{addr}\"\n{listen_extra}{toml_rest}");
    std::fs::write(&path, &text).expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run clustercheckd");
    drop(held);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_refused(code: Option<i32>, stderr: &str, key: &str, what: &str) {
    assert_eq!(code, Some(2), "{what}: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{what}: one line: {stderr}"
    );
    assert!(stderr.contains(key), "{what}: must name `{key}`: {stderr}");
}

/// An unknown key in every section, including each `[[vip.vips]]` entry and the shared poll
/// settings' sections, is refused (serde's `flatten` would have let these through).
#[test]
fn unknown_key_in_every_section_exits_2_naming_it() {
    let cases: [(&str, &str, &str, &str); 12] = [
        (
            "",
            "agent = \"127.0.0.1:0\"\n",
            "[agent]\nrole = \"writer\"\nweigth = 50\n",
            "weigth",
        ),
        ("", "", "[writer]\nleas = \"5s\"\n", "leas"),
        ("nodename = \"x\"\n", "", "", "nodename"),
        ("", "chek = \"127.0.0.1:1\"\n", "", "chek"),
        ("", "", "[log]\nlevle = \"info\"\n", "levle"),
        ("", "", "[galera]\nintervall = \"1s\"\n", "intervall"),
        ("", "", "[rabbitmq]\ntimout = \"1s\"\n", "timout"),
        (
            "",
            "",
            "[pacemaker]\nmax_stalenes = \"1m\"\n",
            "max_stalenes",
        ),
        ("", "", "[vip]\nenable = true\n", "enable"),
        (
            "",
            "",
            "[[vip.vips]]\nresource = \"vip\"\nadress = \"192.0.2.1\"\n",
            "adress",
        ),
        (
            "",
            "",
            "[[vip.vips]]\nresource = \"a\"\n[[vip.vips]]\nresource = \"b\"\nnmae = \"b\"\n",
            "nmae",
        ),
        ("", "", "[haproxy]\nfalls = 2\n", "falls"),
    ];
    for (top, listen, rest, key) in cases {
        let (code, stderr) = run_with(listen, top, rest);
        assert_refused(code, &stderr, key, &format!("{top}{listen}{rest}"));
    }
}

/// Values that used to overflow or panic after start-up are refused up front.
#[test]
fn out_of_bounds_values_exit_2_naming_the_key() {
    for (listen, rest, key) in [
        (
            "max_connections = 9223372036854775807\n",
            "",
            "listen.max_connections",
        ),
        (
            "",
            "[galera]\ninterval = \"500000000y\"\n",
            "galera.interval",
        ),
        (
            "",
            "[rabbitmq]\nmax_staleness = \"30d\"\n",
            "rabbitmq.max_staleness",
        ),
        ("", "[haproxy]\ninter = \"10m\"\n", "haproxy.inter"),
        // A weight under 10% can round to 0 in HAProxy, which is DRAIN.
        (
            "agent = \"127.0.0.1:0\"\n",
            "[agent]\nmin_weight = 5\n",
            "agent.min_weight",
        ),
        (
            "agent = \"127.0.0.1:0\"\n",
            "[agent]\nrecv_queue_low = 100\nrecv_queue_high = 10\n",
            "agent.recv_queue_high",
        ),
        // The holder could not renew before its own deadline: the writer would flap.
        (
            "",
            "[writer]\nenabled = true\nlease = \"2s\"\n",
            "writer.lease",
        ),
    ] {
        let (code, stderr) = run_with(listen, "", rest);
        assert_refused(code, &stderr, key, rest);
    }
}

/// HAProxy's timing moved from `[drain]` and `[writer]` to one `[haproxy]` section: a
/// configuration that still sets an old key is refused naming the new place, never run with the
/// default timing in its stead.
#[test]
fn moved_keys_exit_2_naming_their_new_place() {
    for (rest, moved) in [
        (
            "[writer]\nhaproxy_inter = \"400ms\"\n",
            "`writer.haproxy_inter` moved to `haproxy.inter`",
        ),
        (
            "[writer]\nhaproxy_fall = 3\n",
            "`writer.haproxy_fall` moved to `haproxy.fall`",
        ),
        (
            "[drain]\nhaproxy_inter = \"1s\"\nhaproxy_fall = 2\n",
            "`drain.haproxy_inter` moved to `haproxy.inter`",
        ),
        (
            "[drain]\nhaproxy_fall = 2\n",
            "`drain.haproxy_fall` moved to `haproxy.fall`",
        ),
        ("[drain]\n", "`drain` moved to `haproxy`"),
    ] {
        let (code, stderr) = run_with("", "", rest);
        assert_refused(code, &stderr, moved, rest);
    }
}

/// A my.cnf `!include` of a missing file is a start-up error naming the my.cnf and its line,
/// not a silently skipped line.
#[test]
fn missing_mycnf_include_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cnf = dir.path().join("clustercheck.cnf");
    std::fs::write(
        &cnf,
        "[client]\nuser = cc\n!include /nonexistent/secret.cnf\n",
    )
    .expect("write my.cnf");
    let rest = format!("[galera]\ndefaults_file = \"{}\"\n", cnf.display());
    let (code, stderr) = run_with("", "", &rest);
    assert_refused(code, &stderr, "galera.defaults_file", &rest);
    assert!(
        stderr.contains("clustercheck.cnf line 3") && stderr.contains("/nonexistent/secret.cnf"),
        "{stderr}"
    );
}

/// The agent listener is bound with the others, before anything starts: a port that is taken
/// stops start-up with an error naming `listen.agent` (exit 1, after a valid configuration).
#[test]
fn agent_port_clash_is_a_start_up_error() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = held.local_addr().expect("local addr");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("clash.toml");
    std::fs::write(
        &path,
        format!("[listen]\ncheck = \"127.0.0.1:0\"\nagent = \"{addr}\"\n"),
    )
    .expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_clustercheckd"))
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run clustercheckd");
    drop(held);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("listen.agent"), "{stderr}");
}
