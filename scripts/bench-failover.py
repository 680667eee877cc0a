#!/usr/bin/env python3
"""End-to-end failover benchmark: how long clients keep landing on a broken Galera writer.

    scripts/bench-failover.py [--repeat N] [--configs a,b,c] [--faults desync,sigstop,sigkill,stop]
                              [--give-up SECONDS] [--no-write]
    scripts/bench-failover.py --false-down-minutes 5 [--no-write]

A real HAProxy (mode tcp, `balance source`, node1 active, node2 and node3 `backup`: the three
sandbox Galera nodes on 127.0.0.1; its own config, port and runtime API socket in a temporary
directory) in front of the sandbox Galera, health-checking clustercheckd daemons this script starts
(one per node, target/release/clustercheckd, own configs). A client opens a new connection through
HAProxy every 100 ms and asks which node served it (`SELECT @@port`, as the sandbox's check user),
each probe in its own thread with its own 300 ms deadline, so a hung server cannot stall the
sampling. For each fault on the writer (node1) we measure the time from the fault to the first
new connection answered by another node:

  desync   SET GLOBAL wsrep_desync=ON on node1
  sigstop  SIGSTOP to node1's mariadbd (a hung server)
  sigkill  SIGKILL to node1's mariadbd
  stop     a planned stop: `clustercheckd drain --wait` (or, for a binary without it, the
           maintenance file and a sleep of inter x (fall + 1)), then SIGTERM to mysqld, as the
           systemd drop-in does; counts failed new connections, and failures of established
           sessions separately

for three HAProxy/daemon configurations:

  a  the deployment's today: plain TCP check on 3306 (`check inter 2000 rise 2 fall 5`)
  b  the README's snippet: `option httpchk`, `check port <daemon> inter 2s rise 2 fall 2`, daemon
     defaults
  c  the recommended fast failover: daemon fast profile (interval 250ms, timeout 750ms), Galera
     notifications (galera.notify_socket = the socket the sandbox's wsrep_notify_cmd hands events
     to), `inter 250ms fastinter 250ms downinter 1s rise 2 fall 2`, shutdown-sessions on both
     sides, `retries 3`, `option redispatch`, and agent-check when the binary has the agent
     listener (said in the output when it does not)

Each fault is repeated --repeat times (default 3); the cluster is restored after each (SIGCONT,
restart of a killed or stopped node with the sandbox's own start function) and the next fault
waits for 3 Synced nodes, HAProxy's servers UP and clients (new and long-lived) back on node1.

--false-down-minutes N instead runs config (c) for N minutes under a steady write load (4 clients
inserting into node1) plus mariabackup backing node1 up again and again, and counts HAProxy's DOWN
transitions of node1 and why (a DOWN is false when the daemon never said the node was in a bad
state, i.e. HAProxy's check failed or the daemon said "unknown").

Holds the sandbox's Galera lock ($SANDBOX_DIR/locks/galera.lock) for the whole run: run it
directly, not under `flock` (the lock is taken inside). Builds the current code first and writes
its section of docs/benchmarks.md (bench-failover, or bench-failover-false-down) unless --no-write.
Needs the sandbox Galera (`scripts/sandbox.sh up galera`), haproxy and mariabackup
(scripts/install-deps.sh). All traffic goes to 127.0.0.1.
"""

import argparse
import fcntl
import hashlib
import os
import re
import shlex
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ENV = benchlib.sandbox_env()
SANDBOX_DIR = Path(ENV["SANDBOX_DIR"])
SQL_PORT_BASE = int(ENV["GALERA_SQL_PORT_BASE"])
USER = ENV["GALERA_CHECK_USER"]
PASSWORD = ENV["GALERA_CHECK_PASSWORD"]
NODES = (1, 2, 3)
WRITER = 1
PROBE_EVERY = 0.1
PROBE_TIMEOUT = 0.3
SESSIONS = 2
FAULTS = ("desync", "sigstop", "sigkill", "stop")
CONFIGS = ("a", "b", "c")
FAULT_TEXT = {
    "desync": "`SET GLOBAL wsrep_desync=ON`",
    "sigstop": "mysqld SIGSTOP (hung)",
    "sigkill": "mysqld SIGKILL",
    "stop": "planned stop (drain, then SIGTERM)",
}
# HAProxy's check settings per config: (inter, fall) in seconds, for the drain's wait.
CHECK_TIMING = {"a": (2.0, 5), "b": (2.0, 2), "c": (0.25, 2)}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def die(message):
    sys.exit(f"bench-failover: {message}")


def node_dir(n):
    return SANDBOX_DIR / "galera" / f"node{n}"


def sql_port(n):
    return SQL_PORT_BASE + n


def sandbox(*args, check=True):
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "sandbox.sh"), *args], capture_output=True, text=True
    )
    if check and out.returncode != 0:
        die(f"scripts/sandbox.sh {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def root_sql(n, statement):
    return sandbox("galera", "sql", str(n), statement)


def mariadbd_pid(n):
    """node N's mariadbd, found as the sandbox finds it (by its --defaults-file)."""
    cnf = f"--defaults-file={node_dir(n) / 'my.cnf'}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not args or not args[0].endswith(b"mariadbd"):
            continue
        names = [a.decode(errors="replace") for a in args]
        if cnf in names and "--wsrep-recover" not in names and "--wsrep_recover" not in names:
            return int(entry.name)
    return None


# ---------------------------------------------------------------------------------------------
# A minimal MySQL client (protocol 4.1, mysql_native_password), so that the probes need nothing
# beyond the standard library and every step obeys one deadline.


class ProbeError(Exception):
    pass


def _read_exact(sock, n, deadline):
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProbeError("timeout")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except socket.timeout:
            raise ProbeError("timeout") from None
        if not chunk:
            raise ProbeError("closed")
        data += chunk
    return data


def _read_packet(sock, deadline):
    header = _read_exact(sock, 4, deadline)
    length = header[0] | header[1] << 8 | header[2] << 16
    return header[3], _read_exact(sock, length, deadline)


def _send_packet(sock, seq, payload):
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def _native_password(password, scramble):
    stage1 = hashlib.sha1(password.encode()).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mixed = hashlib.sha1(scramble + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mixed))


def _server_error(payload):
    return ProbeError("error " + payload[9:].decode(errors="replace")[:80])


def _lenenc(data, pos):
    first = data[pos]
    if first < 0xFB:
        return first, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[pos + 1:pos + 1 + size], "little"), pos + 1 + size


class MysqlConnection:
    """One connection: handshake and login within `timeout`, then single-value queries."""

    def __init__(self, port, timeout):
        deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(("127.0.0.1", port))
            except socket.timeout:
                raise ProbeError("timeout") from None
            except OSError as e:
                raise ProbeError(f"connect: {e.strerror or e}") from None
            self._login(deadline)
        except BaseException:
            self.sock.close()
            raise

    def _login(self, deadline):
        seq, greeting = _read_packet(self.sock, deadline)
        if greeting[:1] == b"\xff":
            raise _server_error(greeting)
        pos = greeting.index(b"\0", 1) + 1 + 4
        scramble = greeting[pos:pos + 8]
        pos += 8 + 1 + 2 + 1 + 2 + 2
        auth_len = greeting[pos]
        pos += 1 + 10
        scramble += greeting[pos:pos + max(13, auth_len - 8) - 1]
        caps = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x80000  # long password, 4.1, trx, secure, plugin
        reply = struct.pack("<IIB23x", caps, 1 << 24, 33) + USER.encode() + b"\0"
        token = _native_password(PASSWORD, scramble[:20])
        reply += bytes([len(token)]) + token + b"mysql_native_password\0"
        _send_packet(self.sock, seq + 1, reply)
        seq, answer = _read_packet(self.sock, deadline)
        if answer[:1] == b"\xfe":  # authentication switch request
            plugin, _, data = answer[1:].partition(b"\0")
            if plugin != b"mysql_native_password":
                raise ProbeError(f"auth plugin {plugin!r}")
            _send_packet(self.sock, seq + 1, _native_password(PASSWORD, data[:20]))
            seq, answer = _read_packet(self.sock, deadline)
        if answer[:1] == b"\xff":
            raise _server_error(answer)
        if answer[:1] != b"\x00":
            raise ProbeError("unexpected login answer")

    def value(self, query, timeout):
        """The first column of the first row of `query`, as text."""
        deadline = time.monotonic() + timeout
        _send_packet(self.sock, 0, b"\x03" + query.encode())
        _, first = _read_packet(self.sock, deadline)
        if first[:1] == b"\xff":
            raise _server_error(first)
        columns, _ = _lenenc(first, 0)
        for _ in range(columns):
            _read_packet(self.sock, deadline)
        _, eof = _read_packet(self.sock, deadline)  # end of the column definitions
        if eof[:1] != b"\xfe":
            raise ProbeError("no EOF after the columns")
        _, row = _read_packet(self.sock, deadline)
        if row[:1] == b"\xff":
            raise _server_error(row)
        size, pos = _lenenc(row, 0)
        value = row[pos:pos + size].decode()
        while True:  # the rest of the result, up to its EOF
            _, packet = _read_packet(self.sock, deadline)
            if packet[:1] == b"\xfe" and len(packet) < 9:
                return value

    def close(self):
        try:
            _send_packet(self.sock, 0, b"\x01")  # COM_QUIT
        except OSError:
            pass
        self.sock.close()


def which_node(port, timeout=PROBE_TIMEOUT):
    """A new connection through `port`: (node number, None) or (None, error text)."""
    deadline = time.monotonic() + timeout
    try:
        conn = MysqlConnection(port, timeout)
        try:
            served = int(conn.value("SELECT @@port", max(deadline - time.monotonic(), 0.001)))
        finally:
            conn.close()
        return served - SQL_PORT_BASE, None
    except ProbeError as e:
        return None, str(e)
    except (OSError, ValueError, IndexError, KeyError) as e:
        return None, f"{type(e).__name__}: {e}"


# ---------------------------------------------------------------------------------------------
# The sampling client.


class Sampler:
    """Every 100 ms (on an absolute schedule) a new probe thread opens a connection through
    HAProxy; each records (start, end, node or None, error). `sessions` long-lived connections
    ask the same question every 100 ms and record their failures (in-flight failures), then
    reconnect."""

    def __init__(self, port, sessions=SESSIONS):
        self.port = port
        self.lock = threading.Lock()
        self.probes = []
        self.session_failures = []  # (time, node the session was on, error)
        # Which node each session is on (None: connecting), and a request to reconnect those
        # that are not on the writer (after a failover without on-marked-up
        # shutdown-backup-sessions they would stay on a backup, and see no fault at all).
        self.session_nodes = [None] * sessions
        self.back_to_writer = threading.Event()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._schedule, daemon=True)]
        self.threads += [
            threading.Thread(target=self._session, args=(i,), daemon=True)
            for i in range(sessions)
        ]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=2)

    def _schedule(self):
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            threading.Thread(target=self._probe, daemon=True).start()
            next_at += PROBE_EVERY
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                next_at = time.monotonic()  # late (a loaded machine): no burst to catch up

    def _probe(self):
        started = time.monotonic()
        node, error = which_node(self.port)
        with self.lock:
            self.probes.append((started, time.monotonic(), node, error))

    def _session(self, index):
        conn, node = None, None
        while not self.stop_event.is_set():
            if conn is not None and node != WRITER and self.back_to_writer.is_set():
                conn.close()
                conn, node = None, None
            try:
                if conn is None:
                    conn = MysqlConnection(self.port, 1.0)
                    node = None
                served = int(conn.value("SELECT @@port", PROBE_TIMEOUT)) - SQL_PORT_BASE
                node = served
            except (ProbeError, OSError, ValueError, IndexError, KeyError) as e:
                if conn is not None and node is not None:
                    with self.lock:
                        self.session_failures.append((time.monotonic(), node, str(e)))
                if conn is not None:
                    conn.close()
                conn, node = None, None
            self.session_nodes[index] = node
            self.stop_event.wait(PROBE_EVERY)
        if conn is not None:
            conn.close()

    def sessions_on_writer(self):
        """Ask every session to move to the writer; true once they all are there."""
        self.back_to_writer.set()
        if all(n == WRITER for n in self.session_nodes):
            self.back_to_writer.clear()
            return True
        return False

    def since(self, t0):
        with self.lock:
            return [p for p in self.probes if p[0] >= t0]

    def last(self, n):
        with self.lock:
            return sorted(self.probes)[-n:]

    def failover_after(self, t0):
        """Seconds from t0 to the end of the first probe opened after t0 that another node
        answered, or None."""
        answered = [p[1] for p in self.since(t0) if p[2] is not None and p[2] != WRITER]
        return min(answered) - t0 if answered else None


# ---------------------------------------------------------------------------------------------
# HAProxy and the daemons.


def haproxy_config(variant, frontend, check_ports, agent_ports, socket_path):
    lines = [
        "global",
        "    maxconn 4096",
        f"    stats socket {socket_path} mode 600 level admin",
        "    stats timeout 30s",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        "    timeout client 1h",
        "    timeout server 1h",
        "",
        "listen galera",
        f"    bind 127.0.0.1:{frontend}",
        "    mode tcp",
        "    balance source",
        "    option tcpka",
    ]
    if variant in ("b", "c"):
        lines.append("    option httpchk")
    if variant == "c":
        lines += ["    retries 3", "    option redispatch"]
    for n in NODES:
        backup = "" if n == WRITER else " backup"
        server = f"    server node{n} 127.0.0.1:{sql_port(n)} check"
        if variant == "a":
            server += " inter 2000 rise 2 fall 5"
        elif variant == "b":
            server += (
                f" port {check_ports[n]} inter 2s rise 2 fall 2"
                " on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions"
            )
        else:
            server += (
                f" port {check_ports[n]} inter 250ms fastinter 250ms downinter 1s rise 2 fall 2"
                " on-marked-down shutdown-sessions on-marked-up shutdown-backup-sessions"
            )
            if agent_ports:
                # weight 100: the agent's `up N%` scales the configured weight, rounded down,
                # and a weight of 0 would mean drain.
                server += f" weight 100 agent-check agent-port {agent_ports[n]} agent-inter 250ms"
        lines.append(server + backup)
    return "\n".join(lines) + "\n"


def shown_config(text, workdir):
    """A config as it goes into the doc: no temporary path."""
    return text.replace(str(workdir), "$TMPDIR")


class Haproxy:
    def __init__(self, variant, workdir, check_ports, agent_ports):
        self.variant = variant
        self.frontend = benchlib.free_port()
        self.socket = workdir / f"haproxy-{variant}.sock"
        self.config = workdir / f"haproxy-{variant}.cfg"
        self.config.write_text(
            haproxy_config(variant, self.frontend, check_ports, agent_ports, self.socket)
        )
        subprocess.run(["haproxy", "-c", "-q", "-f", str(self.config)], check=True)
        self.events = []  # (time, line): HAProxy's own messages, server state changes among them
        self.proc = subprocess.Popen(
            ["haproxy", "-f", str(self.config), "-db"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                die(f"haproxy did not start: {self.events[-5:]}")
            time.sleep(0.05)

    def _read_stderr(self):
        with open(self.config.with_suffix(".log"), "w") as copy:
            for line in self.proc.stderr:
                self.events.append((time.monotonic(), line.rstrip()))
                copy.write(f"{time.monotonic():.3f} {line}")
                copy.flush()

    def command(self, text):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(self.socket))
            s.sendall(text.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode(errors="replace")
                out += chunk

    def servers(self):
        """`show stat` rows of the galera servers: {"node1": {column: value}}."""
        lines = self.command("show stat").splitlines()
        if not lines:
            return {}
        header = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "galera" and row.get("svname", "").startswith("node"):
                rows[row["svname"]] = row
        return rows

    def down_events(self, server, since=0.0):
        """HAProxy's messages taking `server` out: DOWN (failed checks, agent `down`) or MAINT
        (agent `maint`: "is going DOWN for maintenance")."""
        taken_out = re.compile(rf"galera/{server} is (going )?DOWN")
        return [(t, line) for t, line in self.events if t >= since and taken_out.search(line)]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def binary_features(binary, workdir):
    """Which of the issue-12 additions this binary has: the agent listener, the drain command."""
    config = workdir / "probe.toml"
    config.write_text(f'[listen]\ncheck = "127.0.0.1:0"\nagent = "127.0.0.1:{benchlib.free_port()}"\n')
    agent = subprocess.run(
        [str(binary), "--check-config", "--config", str(config)], capture_output=True
    ).returncode == 0
    drain = subprocess.run([str(binary), "drain", "--help"], capture_output=True).returncode == 0
    if drain:
        # The drain waits HAProxy's inter x (fall + 1), which it reads from [haproxy] inter/fall
        # (binaries before that: [drain] haproxy_inter/haproxy_fall). `drain` becomes the
        # section the binary takes, or False.
        drain = False
        for section, prefix in DRAIN_TIMING_SECTIONS:
            config.write_text('[listen]\ncheck = "127.0.0.1:0"\n'
                              + "\n".join(drain_timing(section, prefix, 0.25, 2)) + "\n")
            if subprocess.run(
                [str(binary), "--check-config", "--config", str(config)], capture_output=True
            ).returncode == 0:
                drain = section
                break
        if not drain:
            log("this binary has `drain` but takes no HAProxy timing for it: emulating it")
    return {"agent": agent, "drain": drain}


# Where a binary reads HAProxy's check timing for `drain --wait`, newest first: the section and
# the prefix of its `inter` and `fall` keys.
DRAIN_TIMING_SECTIONS = [("haproxy", ""), ("drain", "haproxy_")]


def drain_timing(section, prefix, inter, fall):
    """The config lines that tell `drain --wait` HAProxy's inter (seconds) and fall."""
    return [f"[{section}]", f'{prefix}inter = "{int(inter * 1000)}ms"', f"{prefix}fall = {fall}"]


class Daemon:
    def __init__(self, binary, variant, n, workdir, features):
        self.n = n
        self.binary = binary
        self.config = workdir / f"clustercheckd-{variant}-node{n}.toml"
        self.maintenance = workdir / f"node{n}-{variant}.disabled"
        self.log = workdir / f"clustercheckd-{variant}-node{n}.log"
        ready = workdir / f"clustercheckd-{variant}-node{n}.ready"
        self.agent_port = benchlib.free_port() if variant == "c" and features["agent"] else None
        inter, fall = CHECK_TIMING[variant]
        text = [
            f'node_name = "bench-node{n}"',
            "[listen]",
            # A fixed port, not 0: `clustercheckd drain --wait` asks it until it answers 503.
            f'check = "127.0.0.1:{benchlib.free_port()}"',
        ]
        if self.agent_port:
            text.append(f'agent = "127.0.0.1:{self.agent_port}"')
        text += [
            "[galera]",
            f'defaults_file = "{sandbox("galera", "defaults_file", str(n))}"',
            "expected_nodes = 3",
            f'maintenance_file = "{self.maintenance}"',
        ]
        if variant == "c":
            # The socket the sandbox's wsrep_notify_cmd (nodeN/notify.sh) hands events to.
            text += [
                'interval = "250ms"',
                'timeout = "750ms"',
                f'notify_socket = "{SANDBOX_DIR / "clustercheckd" / f"node{n}.notify.sock"}"',
            ]
        if features["drain"]:
            prefix = dict(DRAIN_TIMING_SECTIONS)[features["drain"]]
            text += drain_timing(features["drain"], prefix, inter, fall)
        self.config.write_text("\n".join(text) + "\n")
        checked = subprocess.run(
            [str(binary), "--check-config", "--config", str(self.config)],
            capture_output=True, text=True,
        )
        if checked.returncode != 0:
            die(f"{self.config} is invalid: {checked.stderr.strip()}")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [str(binary), "--config", str(self.config), "--ready-file", str(ready)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while not ready.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                die(f"clustercheckd for node{n} did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.check_port = int(re.search(r"^check=.*:(\d+)$", ready.read_text(), re.M).group(1))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# Faults and the way back.


def wait_for(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            die(f"{what} not within {timeout:.0f} s")
        time.sleep(0.2)


def heal():
    """The sandbox's own way back (tests/common galera_heal): resume, start what is not running,
    wait for a Primary cluster of 3, then each node Synced."""
    sandbox("up", "galera")
    sandbox("galera", "wait_cluster_size", "1", "3", "120")
    for n in NODES:
        sandbox("galera", "wait_synced", str(n), "120")


def steady(haproxy, sampler):
    """Every server UP in HAProxy and the last 5 new connections served by the writer."""
    def ok():
        try:
            rows = haproxy.servers()
        except OSError:
            return False
        if any(rows.get(f"node{n}", {}).get("status") != "UP" for n in NODES):
            return False
        last = sampler.last(5)
        return (
            len(last) == 5 and all(p[2] == WRITER for p in last) and sampler.sessions_on_writer()
        )
    wait_for("HAProxy all UP with clients (new and long-lived) on node1", ok, 120)


def drain(variant, daemon, features):
    """The planned stop's first step; returns how it was done."""
    inter, fall = CHECK_TIMING[variant]
    if variant == "a":
        return "none possible (TCP check)"
    if features["drain"]:
        subprocess.run(
            [str(daemon.binary), "drain", "-c", str(daemon.config), "--wait"],
            check=True, capture_output=True,
        )
        return "`clustercheckd drain --wait`"
    daemon.maintenance.touch()
    time.sleep(inter * (fall + 1))
    return f"maintenance file + {inter * (fall + 1):g} s (inter x (fall + 1))"


def run_fault(fault, variant, haproxy, sampler, daemons, features, give_up):
    """One fault on the writer, measured, then undone. Returns a dict."""
    pid = mariadbd_pid(WRITER)
    if pid is None:
        die("node1's mariadbd is not running")
    result = {"fault": fault, "variant": variant}
    t0 = time.monotonic()
    if fault == "desync":
        root_sql(WRITER, "SET GLOBAL wsrep_desync=ON")
    elif fault == "sigstop":
        os.kill(pid, signal.SIGSTOP)
    elif fault == "sigkill":
        os.kill(pid, signal.SIGKILL)
    elif fault == "stop":
        result["drain"] = drain(variant, daemons.get(WRITER), features)
        result["drained_after"] = time.monotonic() - t0
        os.kill(pid, signal.SIGTERM)
    deadline = t0 + give_up
    while time.monotonic() < deadline and sampler.failover_after(t0) is None:
        time.sleep(0.05)
    if fault == "stop":
        # Count until mysqld is gone and two more seconds have been sampled.
        while mariadbd_pid(WRITER) == pid and time.monotonic() < t0 + 60:
            time.sleep(0.05)
        time.sleep(2 + PROBE_TIMEOUT)
    else:
        time.sleep(PROBE_TIMEOUT + 0.05)  # let the probes in flight finish
    t_end = time.monotonic()
    result["seconds"] = sampler.failover_after(t0)
    probes = [p for p in sampler.since(t0) if p[0] < t_end - PROBE_TIMEOUT]
    result["failed_new"] = sum(1 for p in probes if p[2] is None)
    result["errors"] = {}
    for p in probes:
        if p[2] is None:
            kind = re.sub(r"\d+", "N", p[3])[:60]
            result["errors"][kind] = result["errors"].get(kind, 0) + 1
    result["probes"] = len(probes)
    with sampler.lock:
        result["failed_sessions"] = sum(
            1 for t, _node, _e in sampler.session_failures if t0 <= t < t_end
        )
    downs = haproxy.down_events(f"node{WRITER}", t0)
    result["marked_down"] = downs[0][0] - t0 if downs else None
    seconds = "never" if result["seconds"] is None else f"{result['seconds']:.2f} s"
    log(
        f"  ({variant}) {fault}: first connection on another node after {seconds}; HAProxy"
        f" marked node1 DOWN after "
        + ("-" if result["marked_down"] is None else f"{result['marked_down']:.2f} s")
        + (f"; drain took {result['drained_after']:.2f} s" if variant != "a" and fault == "stop" else "")
        + f"; failed new connections {result['failed_new']}/{len(probes)},"
        f" failed sessions {result['failed_sessions']}"
        + (f" ({result['errors']})" if result["errors"] else "")
    )
    # Undo.
    if fault == "desync":
        root_sql(WRITER, "SET GLOBAL wsrep_desync=OFF")
    elif fault == "sigstop":
        if time.monotonic() - t0 < 3.5:
            # Frozen for less than Galera's suspect timeout (5 s): still a member, so resume it
            # and wait for it to answer Synced.
            os.kill(pid, signal.SIGCONT)
        # else the sandbox resumes it and waits for it to be evicted and rejoin
    daemon = daemons.get(WRITER)
    if daemon is not None and daemon.maintenance.exists():
        daemon.maintenance.unlink()
    heal()
    steady(haproxy, sampler)
    return result


def summarise(values):
    """median / max of a list of seconds where None means never within the give-up time."""
    if not values:
        return "-"
    if all(v is None for v in values):
        return "never"
    known = sorted(v for v in values if v is not None)
    text = f"{statistics.median(known):.2f} / {known[-1]:.2f} s"
    if len(known) < len(values):
        text += f" ({len(values) - len(known)} of {len(values)} never)"
    return text


# ---------------------------------------------------------------------------------------------


def take_lock():
    lock_dir = SANDBOX_DIR / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "galera.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("waiting for the sandbox's Galera lock (someone else is disturbing the cluster)")
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def start_variant(variant, binary, workdir, features):
    daemons = {}
    if variant != "a":
        for n in NODES:
            daemons[n] = Daemon(binary, variant, n, workdir, features)
    check_ports = {n: d.check_port for n, d in daemons.items()}
    agent_ports = (
        {n: d.agent_port for n, d in daemons.items()}
        if variant == "c" and features["agent"] else None
    )
    haproxy = Haproxy(variant, workdir, check_ports, agent_ports)
    return daemons, haproxy


def benchmark(args, binary, workdir, features):
    results = []
    variants = [v for v in args.configs.split(",") if v]
    faults = [f for f in args.faults.split(",") if f]
    for variant in variants:
        if variant not in CONFIGS:
            die(f"unknown config {variant!r}")
    for fault in faults:
        if fault not in FAULTS:
            die(f"unknown fault {fault!r}")
    configs_text = {}
    for variant in variants:
        daemons, haproxy = start_variant(variant, binary, workdir, features)
        configs_text[variant] = shown_config(haproxy.config.read_text(), workdir)
        sampler = Sampler(haproxy.frontend).start()
        try:
            log(f"config ({variant}): HAProxy on 127.0.0.1:{haproxy.frontend}")
            steady(haproxy, sampler)
            for fault in faults:
                for _ in range(args.repeat):
                    results.append(
                        run_fault(fault, variant, haproxy, sampler, daemons, features, args.give_up)
                    )
        finally:
            sampler.stop()
            haproxy.stop()
            for d in daemons.values():
                d.stop()
    return results, variants, faults, configs_text


def section_benchmark(args, results, variants, faults, features, load_before, configs_text):
    command = "scripts/bench-failover.py" + (
        f" {' '.join(shlex.quote(a) for a in sys.argv[1:])}" if sys.argv[1:] else ""
    )
    head = {
        "a": "(a) deployment today: TCP check, `inter 2000 rise 2 fall 5`",
        "b": "(b) README snippet: httpchk, `inter 2s rise 2 fall 2`",
        "c": "(c) recommended: fast profile, notify, `inter 250ms`"
        + (", agent-check" if features["agent"] else " (no agent-check: binary lacks it)"),
    }
    rows = [
        "| fault on the writer | " + " | ".join(head[v] for v in variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    stop_errors = {}
    for fault in faults:
        cells = []
        for v in variants:
            mine = [r for r in results if r["fault"] == fault and r["variant"] == v]
            cell = summarise([r["seconds"] for r in mine])
            if fault == "stop":
                cell += (
                    f"; failed new connections {sum(r['failed_new'] for r in mine)}"
                    f" of {sum(r['probes'] for r in mine)}, failed sessions"
                    f" {sum(r['failed_sessions'] for r in mine)}"
                )
                if v == "c":
                    for r in mine:
                        for kind, count in r["errors"].items():
                            stop_errors[kind] = stop_errors.get(kind, 0) + count
            cells.append(cell)
        rows.append(f"| {FAULT_TEXT[fault]} | " + " | ".join(cells) + " |")
    marked = [
        "| fault | " + " | ".join(f"({v})" for v in variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for fault in faults:
        cells = [
            summarise([r["marked_down"] for r in results if r["fault"] == fault and r["variant"] == v])
            for v in variants
        ]
        marked.append(f"| {FAULT_TEXT[fault]} | " + " | ".join(cells) + " |")

    runs = []
    for v in variants:
        parts = []
        for fault in faults:
            values = [r["seconds"] for r in results if r["fault"] == fault and r["variant"] == v]
            parts.append(
                f"{fault} " + ", ".join("never" if s is None else f"{s:.2f}" for s in values)
            )
        runs.append(f"- ({v}): " + "; ".join(parts))

    verdicts = []
    if "c" in variants:
        targets = {"desync": 0.8, "sigkill": 0.7, "sigstop": 1.5}
        for fault, limit in targets.items():
            mine = [r["seconds"] for r in results if r["fault"] == fault and r["variant"] == "c"]
            if not mine:
                continue
            ok = all(s is not None and s <= limit for s in mine)
            verdicts.append(
                f"{FAULT_TEXT[fault]} <= {limit} s (every run): {'met' if ok else '**NOT met**'}"
            )
        mine = [r for r in results if r["fault"] == "stop" and r["variant"] == "c"]
        if mine:
            failed = sum(r["failed_new"] for r in mine)
            verdicts.append(
                f"planned stop, zero failed new connections: {'met' if failed == 0 else '**NOT met**'}"
                f" ({failed}"
                + (": " + ", ".join(f"{c} x {k}" for k, c in stop_errors.items()) if failed else "")
                + ")"
            )
    drains = []
    for v in variants:
        mine = [r for r in results if r["variant"] == v and "drain" in r]
        if mine:
            took = max(r["drained_after"] for r in mine)
            drains.append(f"({v}) {mine[0]['drain']}" + (f", at most {took:.2f} s" if v != "a" else ""))
    notes = []
    if not features["agent"]:
        notes.append(
            "This binary has no agent listener (`[listen] agent`): config (c) ran **without**"
            " `agent-check`."
        )
    if not features["drain"]:
        notes.append(
            "This binary has no `clustercheckd drain`: the planned stop's drain was emulated by"
            " creating galera.maintenance_file and sleeping HAProxy's inter x (fall + 1)."
        )
    configs = "\n\n".join(
        f"Config ({v}), as run (ports chosen at run time):\n\n```\n{configs_text[v].strip()}\n```"
        for v in variants
    )
    return f"""## Failover through HAProxy, end to end

Command: `{command}` ({benchlib.machine(load_before)}; commit {benchlib.commit()}).

Time from a fault on the writer (node1, HAProxy's active server) to the first new client
connection answered by another node, median / max over {args.repeat} runs ("never": not within
{args.give_up:g} s). A real HAProxy 2.6 (mode tcp, `balance source`, node1 active, node2 and node3
`backup`) in front of the sandbox's three Galera nodes, checking three clustercheckd daemons
(release build, one per node) started by the script.

{chr(10).join(rows)}

Sampling: a client opens a new connection through HAProxy every 100 ms (on a fixed schedule, each
in its own thread) and asks `SELECT @@port`; each probe has its own 300 ms deadline for connect,
login and answer, so a hung server never stalls the sampling. The time is taken when the answer
from another node arrives (so it includes HAProxy's retries), i.e. with a resolution of 100 ms.
Meanwhile {SESSIONS} long-lived sessions ask the same every 100 ms: their errors are the "failed
sessions" (in-flight failures, counted separately from failed new connections). A failed new
connection is a probe opened from the fault until 2 s after mysqld exited that got no answer.
Faults: `SET GLOBAL wsrep_desync=ON`; SIGSTOP / SIGKILL / SIGTERM to node1's mariadbd. The planned
stop is the systemd drop-in's order: drain, then SIGTERM; its time runs from the start of the
drain. Drain used: {"; ".join(drains) if drains else "-"}. After each fault the cluster is restored
(desync off, SIGCONT, a stopped or killed node restarted by the sandbox's own start function) and
the next fault waits for 3 Synced nodes, every server UP in HAProxy and clients (new connections
and the long-lived sessions) back on node1.

Every run, in seconds (first connection on another node):

{chr(10).join(runs)}

When HAProxy logged node1 DOWN (or MAINT, from an agent's `maint`), after the fault (median / max):

{chr(10).join(marked)}

{" ".join(notes)}

Targets for (c) (issue #12): {"; ".join(verdicts) if verdicts else "-"}.

{configs}

Daemon configs: (b) the defaults (interval 1 s, timeout 1 s); (c) `interval = "250ms"`,
`timeout = "750ms"`, `notify_socket` = `$SANDBOX_DIR/clustercheckd/nodeN.notify.sock`, the socket
the sandbox's `wsrep_notify_cmd` (nodeN/notify.sh) hands Galera's events to{
    ", `[listen] agent`" if features["agent"] else ""}; both `expected_nodes = 3` and a
maintenance file{
    f", and `[{features['drain']}]` with HAProxy's inter and fall" if features["drain"] else ""}.
"""


# ---------------------------------------------------------------------------------------------
# --false-down-minutes


def false_down(args, binary, workdir, features):
    minutes = args.false_down_minutes
    daemons, haproxy = start_variant("c", binary, workdir, features)
    sampler = Sampler(haproxy.frontend).start()
    writers, stop = [], threading.Event()
    sock = node_dir(WRITER) / "mysqld.sock"
    backups = {"ok": 0, "failed": 0}
    try:
        steady(haproxy, sampler)
        before = int(haproxy.servers()[f"node{WRITER}"]["chkdown"])
        root_sql(WRITER, "CREATE DATABASE IF NOT EXISTS ccd_bench_failover; CREATE TABLE IF NOT"
                 " EXISTS ccd_bench_failover.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT,"
                 " pad VARCHAR(200)) ENGINE=InnoDB")
        batch = ",".join(f"({i},REPEAT('x',200))" for i in range(50))
        statement = f"INSERT INTO ccd_bench_failover.t (w, pad) VALUES {batch};\n"
        t0 = time.monotonic()
        end = t0 + minutes * 60
        for _ in range(4):
            proc = subprocess.Popen(
                ["mariadb", "--no-defaults", "--protocol=socket", "-S", str(sock), "-u", "root"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                text=True,
            )
            writers.append(proc)

            def feed(p=proc):
                try:
                    while not stop.is_set():
                        p.stdin.write(statement * 10)
                        p.stdin.flush()
                except (BrokenPipeError, OSError):
                    pass
            threading.Thread(target=feed, daemon=True).start()
        log(f"false-DOWN run: {minutes:g} min of writes plus back-to-back mariabackup on node1")
        target = workdir / "backup"
        while time.monotonic() < end:
            subprocess.run(["rm", "-rf", str(target)], check=False)
            out = subprocess.run(
                ["mariabackup", "--backup", "--galera-info", f"--target-dir={target}",
                 "--user=root", f"--socket={sock}"],
                capture_output=True, text=True,
            )
            backups["ok" if out.returncode == 0 else "failed"] += 1
        stop.set()
        for p in writers:
            try:
                p.stdin.close()
            except OSError:
                pass
            p.terminate()
            p.wait()
        time.sleep(1)
        elapsed = time.monotonic() - t0
        rows = haproxy.servers()
        chkdown = int(rows[f"node{WRITER}"]["chkdown"]) - before
        downs = haproxy.down_events(f"node{WRITER}", t0)
        inserted = root_sql(WRITER, "SELECT COUNT(*) FROM ccd_bench_failover.t")
        verdicts = re.findall(
            r"verdict changed: unhealthy.*", daemons[WRITER].log.read_text()
        )
        probes = [p for p in sampler.since(t0) if p[0] < end]
        failed = sum(1 for p in probes if p[2] is None)
        errors = {}
        for p in probes:
            if p[2] is None:
                kind = re.sub(r"\d+", "N", p[3])[:60]
                errors[kind] = errors.get(kind, 0) + 1
    finally:
        stop.set()
        for p in writers:
            if p.poll() is None:
                p.kill()
        sampler.stop()
        haproxy.stop()
        for d in daemons.values():
            d.stop()
        subprocess.run(
            ["bash", str(REPO / "scripts" / "sandbox.sh"), "galera", "sql", str(WRITER),
             "DROP DATABASE IF EXISTS ccd_bench_failover"], capture_output=True,
        )
        subprocess.run(["rm", "-rf", str(workdir / "backup")], check=False)
    # A DOWN is true when the daemon said why the node was bad (Donor/Desynced during the
    # backup's lock phase, ...); false when HAProxy's check itself failed or the daemon only
    # said "unknown" (no answer in time).
    false_reasons = re.compile(r"unknown|no answer|unreachable|timed? ?out", re.I)
    false_verdicts = [v for v in verdicts if false_reasons.search(v)]
    reasons = {}
    for line in downs:
        text = line[1]
        reason = re.sub(r"^.*? is (going )?DOWN(, reason: )?", "", text)
        reason = re.sub(r", check duration: \d+ms", "", reason)
        reason = re.sub(r"\. \d+ active and \d+ backup servers? (left|online).*$", "", reason)
        reasons[reason] = reasons.get(reason, 0) + 1
    check_failures = [
        r for r in reasons if re.search(r"timeout|Connection refused|Layer4", r, re.I)
    ]
    false_count = len(false_verdicts) + sum(reasons[r] for r in check_failures)
    by_reason = "; ".join(f"{count} x {reason}" for reason, count in reasons.items()) or "none"
    daemon_reasons = {}
    for v in verdicts:
        reason = re.sub(r"^.*?to=", "", v).rstrip(".")
        daemon_reasons[reason] = daemon_reasons.get(reason, 0) + 1
    daemon_text = "; ".join(f"{c} x {r}" for r, c in daemon_reasons.items()) or "none"
    log(f"DOWN transitions {chkdown}, false {false_count}; by reason: {by_reason}")
    return f"""## Failover: no false DOWN under load (config (c))

Command: `scripts/bench-failover.py --false-down-minutes {minutes:g}` ({benchlib.machine(args.load_before)}; commit {benchlib.commit()}).

The recommended configuration (c) of the section above (fast profile, notify,
`inter 250ms fastinter 250ms downinter 1s rise 2 fall 2`{
    ", agent-check" if features["agent"] else "; **no agent-check: this binary lacks it**"}) for
{elapsed / 60:.1f} minutes while 4 clients insert 50-row batches into node1 (the writer) as fast as
they can and mariabackup backs node1 up again and again; the 100 ms new-connection sampler of the
section above runs throughout.

| duration | rows inserted | backups (failed) | HAProxy DOWN transitions of node1 (`chkdown`) | false DOWN | new connections failed |
|---|---|---|---|---|---|
| {elapsed:.0f} s | {inserted} | {backups['ok']} ({backups['failed']}) | {chkdown} | {false_count} | {failed} of {len(probes)} |

HAProxy's DOWN reasons: {by_reason}. The daemon's changes to unhealthy: {daemon_text}. Failed new
connections by error: {"; ".join(f"{c} x {k}" for k, c in errors.items()) or "none"} (a "timeout"
is no answer within the probe's 300 ms; "closed" a connection HAProxy closed before the answer,
e.g. `on-marked-down shutdown-sessions` cutting one that had just reached node1 when a backup's
desync took node1 out).

A DOWN is false when it was not caused by a real state of the node: HAProxy's check or agent
timed out or could not connect, or the daemon said the state was unknown (no answer within
galera.timeout) although the node was working. A DOWN for "Donor/Desynced" is true: mariabackup's
lock phase desyncs a Galera node and blocks its commits (docs/failover.md), so HAProxy moves the
writer for its duration; run backups on a backup node to avoid it.

Target (issue #12): zero false DOWN: {"met" if false_count == 0 else "**NOT met**"}.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fault (default 3)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="a,b,c (default all)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=",".join(FAULTS))
    parser.add_argument("--give-up", type=float, default=15.0,
                        help="seconds after which a fault counts as never failed over (15)")
    parser.add_argument("--false-down-minutes", type=float, default=None,
                        help="run the no-false-DOWN check (config (c)) for this many minutes")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (configs, daemon and HAProxy logs)")
    args = parser.parse_args()
    args.load_before = benchlib.settled_load()
    for tool in ("haproxy", "mariadb") + (("mariabackup",) if args.false_down_minutes else ()):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            die(f"{tool} is missing (scripts/install-deps.sh)")
    binary = benchlib.build()
    lock = take_lock()
    workdir = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    try:
        features = binary_features(binary, workdir)
        log(f"binary {binary}: agent listener {'yes' if features['agent'] else 'NO'},"
            f" drain command {'yes' if features['drain'] else 'NO (emulated)'}")
        heal()
        if args.false_down_minutes:
            section = false_down(args, binary, workdir, features)
            name = "bench-failover-false-down"
        else:
            results, variants, faults, configs_text = benchmark(args, binary, workdir, features)
            section = section_benchmark(
                args, results, variants, faults, features, args.load_before, configs_text
            )
            name = "bench-failover"
        print(section)
        if not args.no_write:
            benchlib.write(name, section)
    finally:
        for n in NODES:  # never leave a node frozen or desynced
            pid = mariadbd_pid(n)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
        sandbox("galera", "sql", str(WRITER), "SET GLOBAL wsrep_desync=OFF", check=False)
        heal()
        if args.keep:
            log(f"kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
        os.close(lock)


if __name__ == "__main__":
    main()
