#!/usr/bin/env python3
"""Three real HAProxy instances with the writer variant config (docs/writer.md): where do new
client connections land around a writer change?

    scripts/bench-writer-haproxy.py [--changes N] [--no-write]

Starts three daemons with `[writer]` at the default timing (one per sandbox Galera node) and
three HAProxy instances (own config in a temp dir, 127.0.0.1 ports), each with the writer
backend (`/writer` lines plus `backup` lines tracking a `/` check) at `inter 2s fall 2`. A client
thread per HAProxy opens a new MySQL connection every 100 ms and asks `SELECT @@wsrep_node_name`.
Then, N times (default 3): desync the writer's node for 20 s (it releases the lease; another node
takes over after the handover gap), and undesync it. Reports, over the whole run, how many sample
instants had the three HAProxies sending new connections to different nodes (and for how long
around each change), and to a node other than the current writer. Writes section
`<!-- bench-writer-haproxy:begin/end -->` of docs/benchmarks.md unless --no-write.

Holds the sandbox's Galera lock for the whole run. All traffic goes to 127.0.0.1.
"""

import argparse
import fcntl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402



def status_of(port):
    _, status, _ = benchlib.http_check(
        ("127.0.0.1", port), "127.0.0.1", request=b"GET /writer HTTP/1.0\r\n\r\n", timeout=1.0)
    return status or 0


def haproxy_config(front, env, checks):
    sql = int(env["GALERA_SQL_PORT_BASE"])
    lines = [
        "global", "    maxconn 256", "defaults", "    mode tcp", "    timeout connect 2s",
        "    timeout client 30s", "    timeout server 30s",
        "frontend galera", f"    bind 127.0.0.1:{front}", "    default_backend galera_writer",
        "backend galera_writer", "    option httpchk", "    http-check send meth GET uri /writer",
        "    default-server inter 2s rise 2 fall 2 on-marked-down shutdown-sessions"
        " on-marked-up shutdown-backup-sessions",
    ]
    for n, port in checks:
        lines.append(f"    server node{n} 127.0.0.1:{sql + n} check port {port}")
    for n, _ in checks:
        lines.append(f"    server node{n}-any 127.0.0.1:{sql + n} backup track galera_any/node{n}")
    lines += ["backend galera_any", "    option httpchk", "    default-server inter 2s rise 2 fall 2"]
    for n, port in checks:
        lines.append(f"    server node{n} 127.0.0.1:{sql + n} check port {port}")
    return "\n".join(lines) + "\n"


class Client(threading.Thread):
    def __init__(self, port, env, start, out):
        super().__init__(daemon=True)
        self.port, self.env, self.start_at, self.out = port, env, start, out
        self.stop = threading.Event()

    def run(self):
        next_at = time.monotonic()
        while not self.stop.is_set():
            r = subprocess.run(
                ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(self.port),
                 "-u", self.env["GALERA_CHECK_USER"], f"-p{self.env['GALERA_CHECK_PASSWORD']}",
                 "--connect-timeout=2", "-N", "-B", "-e", "SELECT @@wsrep_node_name"],
                capture_output=True, text=True)
            name = r.stdout.strip() if r.returncode == 0 else "-"
            self.out.append((next_at - self.start_at, name))
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.monotonic()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    binary = benchlib.build()
    env = benchlib.sandbox_env()
    lock = open(Path(env["SANDBOX_DIR"]) / "locks" / "galera.lock", "a")
    print("bench-writer-haproxy: waiting for the Galera lock ...", flush=True)
    fcntl.flock(lock, fcntl.LOCK_EX)
    load_before = benchlib.load1()
    procs, clients = [], []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            checks = []
            for n in (1, 2, 3):
                port = benchlib.free_port()
                cfg = Path(tmp) / f"node{n}.toml"
                cfg.write_text(
                    f'node_name = "ha{n}"\n[listen]\ncheck = "127.0.0.1:{port}"\n'
                    f'[galera]\ndefaults_file = "{benchlib.sandbox("galera", "defaults_file", str(n))}"\n'
                    f'[writer]\nenabled = true\n'
                    f'defaults_file = "{benchlib.sandbox("galera", "writer_defaults_file", str(n))}"\n')
                procs.append(subprocess.Popen([str(binary), "--config", str(cfg)],
                                              stderr=open(Path(tmp) / f"d{n}.log", "w")))
                checks.append((n, port))
            fronts = []
            for i in range(3):
                front = benchlib.free_port()
                cfg = Path(tmp) / f"haproxy{i}.cfg"
                cfg.write_text(haproxy_config(front, env, checks))
                procs.append(subprocess.Popen(["haproxy", "-f", str(cfg), "-db"],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                fronts.append(front)
            deadline = time.time() + 40
            while sum(status_of(p) == 200 for _, p in checks) != 1:
                if time.time() > deadline:
                    sys.exit("bench-writer-haproxy: no writer within 40 s")
                time.sleep(0.2)
            time.sleep(8)  # every HAProxy has seen the writer rise (rise 2 x inter 2s)
            start = time.monotonic()
            samples = [[] for _ in fronts]
            clients = [Client(f, env, start, s) for f, s in zip(fronts, samples)]
            for c in clients:
                c.start()
            changes = []
            time.sleep(5)
            for _ in range(args.changes):
                writer = next(n for n, p in checks if status_of(p) == 200)
                changes.append(time.monotonic() - start)
                benchlib.sandbox("galera", "desync", str(writer), "on")
                time.sleep(20)
                benchlib.sandbox("galera", "desync", str(writer), "off")
                benchlib.sandbox("galera", "wait_synced", str(writer), "60")
                time.sleep(5)
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join()
        finally:
            for c in clients:
                c.stop.set()
            for p in procs:
                p.terminate()
                p.wait(timeout=10)
    fcntl.flock(lock, fcntl.LOCK_UN)
    # Align the three clients' samples by index (each every 100 ms from the same start).
    rounds = min(len(s) for s in samples)
    disagree = [i for i in range(rounds) if len({samples[k][i][1] for k in range(3)}) > 1]
    failed = sum(1 for k in range(3) for i in range(rounds) if samples[k][i][1] == "-")
    windows = []
    for at in changes:
        idx = [i for i in disagree if at <= samples[0][i][0] < at + 25]
        windows.append((len(idx) * 0.1, (samples[0][idx[-1]][0] - at) if idx else 0.0))
    lines = [
        "## Writer lease through three HAProxy instances\n",
        "`scripts/bench-writer-haproxy.py" + (f" --changes {args.changes}" if args.changes != 3 else "")
        + "`: three daemons with `[writer]` at the default timing, three HAProxy 2.6 instances with"
        " the writer variant of docs/writer.md (`inter 2s fall 2`; backup lines tracking `/`), a"
        " client per HAProxy opening a new connection every 100 ms (`SELECT @@wsrep_node_name`);"
        " the writer's node desynced for 20 s, then resynced, per writer change.\n",
        f"Machine: {benchlib.machine(load_before)}. Commit: {benchlib.commit()}.\n",
        "| figure | value |", "|---|---|",
        f"| sample instants (3 HAProxies each) | {rounds} |",
        f"| instants where the HAProxies sent new connections to different nodes | {len(disagree)} ({len(disagree) * 0.1:.1f} s in all) |",
        f"| failed connections | {failed} |",
    ]
    for k, (total, last) in enumerate(windows):
        lines.append(f"| writer change {k + 1}: disagreement, total / last instant after the desync | {total:.1f} s / {last:.1f} s |")
    lines.append("")
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        benchlib.write("bench-writer-haproxy", section)


if __name__ == "__main__":
    main()
