//! End to end: a real HAProxy configured as in the deployment (`option httpchk`, `check port`,
//! `inter 500 rise 2 fall 2`, one active server and two backups) in front of the real Galera
//! sandbox, health-checking three real clustercheckd daemons.

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{galera_heal, lock, sandbox, Daemon, Restore};

struct Haproxy {
    child: Child,
    /// The Galera frontend's address: a listener the test bound on 127.0.0.1:0 and handed to
    /// HAProxy as its standard input (`bind fd@0`), so no port is guessed.
    listen: std::net::SocketAddr,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(check_ports: [u16; 3]) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("haproxy.cfg");
        let socket = dir.path().join("admin.sock");
        let frontend = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let listen = frontend.local_addr().expect("frontend address");
        let ports = check_ports.map(|p| p.to_string());
        sandbox(&[
            "haproxy",
            "render_config",
            &common::path_str(&config),
            "fd@0",
            &ports[0],
            &ports[1],
            &ports[2],
            &common::path_str(&socket),
        ]);
        let text = std::fs::read_to_string(&config).expect("rendered config");
        assert!(text.contains("option httpchk"), "{text}");
        assert!(text.contains("backup"), "{text}");
        assert!(text.contains("bind fd@0"), "{text}");
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&config)
            .arg("-db")
            .stdin(std::os::fd::OwnedFd::from(frontend))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy is installed (scripts/install-deps.sh)");
        let haproxy = Haproxy {
            child,
            listen,
            socket,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !haproxy.socket.exists() {
            assert!(Instant::now() < deadline, "haproxy did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        haproxy
    }

    /// `show stat` rows of the galera servers, as column name -> value.
    fn servers(&self) -> HashMap<String, HashMap<String, String>> {
        let output = Command::new("socat")
            .args(["-t", "2", "-"])
            .arg(format!("UNIX-CONNECT:{}", self.socket.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(stdin) = child.stdin.as_mut() {
                    stdin.write_all(b"show stat\n")?;
                }
                child.wait_with_output()
            })
            .expect("socat to the stats socket");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .map(str::to_owned)
            .collect();
        lines
            .map(|line| {
                header
                    .iter()
                    .cloned()
                    .zip(line.split(',').map(str::to_owned))
                    .collect::<HashMap<_, _>>()
            })
            .filter(|row| row.get("pxname").map(String::as_str) == Some("galera"))
            .filter_map(|row| Some((row.get("svname")?.clone(), row)))
            .filter(|(name, _)| name.starts_with("node"))
            .collect()
    }

    fn wait_status(&self, server: &str, status: &str, within: Duration) {
        let start = Instant::now();
        loop {
            let servers = self.servers();
            let current = servers
                .get(server)
                .and_then(|row| row.get("status"))
                .cloned()
                .unwrap_or_default();
            if current == status {
                return;
            }
            assert!(
                start.elapsed() < within,
                "{server} not {status} within {within:?} (is {current}): {servers:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Which Galera node a new client connection through HAProxy lands on.
    fn landing_node(&self) -> String {
        let mut client = Command::new("mariadb");
        client
            .args(["-h", &self.listen.ip().to_string()])
            .args(["-P", &self.listen.port().to_string()])
            .args(["-u", &common::env()["GALERA_CHECK_USER"]])
            .arg(format!("-p{}", common::env()["GALERA_CHECK_PASSWORD"]))
            .args(["-N", "-B", "-e", "SELECT @@wsrep_node_name"]);
        common::stdout_of(&mut client, "a query through haproxy")
            .trim()
            .to_owned()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn haproxy_marks_the_desynced_writer_down_and_clients_land_on_a_healthy_backup() {
    let _lock = lock("galera");
    galera_heal();
    let daemons = [1, 2, 3].map(|n| Daemon::galera(n, ""));
    let haproxy = Haproxy::start(daemons.each_ref().map(|d| d.addr().port()));
    for server in ["node1", "node2", "node3"] {
        haproxy.wait_status(server, "UP", Duration::from_secs(10));
    }
    assert_eq!(
        haproxy.landing_node(),
        "node1",
        "the active server takes the clients"
    );

    let _undo = Restore::new(|| {
        sandbox(&["galera", "desync", "1", "off"]);
    });
    sandbox(&["galera", "desync", "1", "on"]);
    // One poll interval, then `fall 2` checks 500 ms apart, with slack.
    haproxy.wait_status("node1", "DOWN", Duration::from_secs(5));
    let landed = haproxy.landing_node();
    assert!(
        landed == "node2" || landed == "node3",
        "client landed on {landed}, not a healthy backup"
    );

    sandbox(&["galera", "desync", "1", "off"]);
    haproxy.wait_status("node1", "UP", Duration::from_secs(5));
    assert_eq!(haproxy.landing_node(), "node1");

    // Every check HAProxy made got a proper HTTP answer: no socket, timeout or protocol errors.
    for (server, row) in haproxy.servers() {
        let check = row.get("check_status").cloned().unwrap_or_default();
        assert!(
            check == "L7OK" || check == "L7STS",
            "{server}: check_status {check}: {row:?}"
        );
    }
    let stderr_free = daemons.iter().all(|d| !d.log_text().contains("ERROR"));
    assert!(stderr_free, "a daemon logged an error");
}
