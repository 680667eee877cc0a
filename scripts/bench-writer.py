#!/usr/bin/env python3
"""Benchmark the writer lease (docs/writer.md): is the writer stable under steady write load, what
write rate does the lease add to the cluster, and what does it cost each daemon?

    scripts/bench-writer.py [--duration SECONDS] [--rate WRITES_PER_S] [--no-write]

Starts three daemons (target/release/clustercheckd, built first), one per sandbox Galera node,
each with `[writer] enabled = true` at the default timing (lease 5s, margin 1s, renew_interval
1s), while a client sends a steady stream of small INSERTs (round robin over the three nodes,
--rate per second) for --duration seconds (default 300). Every 200 ms it GETs /writer on all
three and records the writer. Each INSERT is followed by a read (the newest row, on the next
node). Results: writer changes, from the /writer samples and from the daemons'
`clustercheckd_writer_handovers_total` (its increase over the run, summed over the three), and
rounds with more than one 200 (all must be 0), the lease's own write rate (confirmed renewals per second, from the daemons' metrics)
next to the cluster's total (wsrep_last_committed), and each daemon's CPU (utime + stime from
/proc) as a share of one core. The section `<!-- bench-writer:begin/end -->` of
docs/benchmarks.md is replaced unless --no-write.

Holds the sandbox's Galera lock for the whole run (no test may disturb the cluster meanwhile):
run it directly or under `flock -o $SANDBOX_DIR/locks/galera.lock` (both work). Needs the sandbox
with the lease table (`scripts/sandbox.sh galera setup_writer`, run here too). All traffic goes
to 127.0.0.1.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
NODES = (1, 2, 3)


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def root_sql(node, sql):
    return benchlib.sandbox("galera", "sql", str(node), sql)


def status_of(port):
    _, status, _ = benchlib.http_check(
        ("127.0.0.1", port), "127.0.0.1", request=b"GET /writer HTTP/1.0\r\n\r\n", timeout=1.0
    )
    return status or 0


def metric(port, series):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def start_daemons(binary, tmp):
    daemons = []
    for n in NODES:
        port = benchlib.free_port()
        check = benchlib.sandbox("galera", "defaults_file", str(n))
        lease = benchlib.sandbox("galera", "writer_defaults_file", str(n))
        config = Path(tmp) / f"node{n}.toml"
        config.write_text(
            f'node_name = "bench{n}"\n[listen]\ncheck = "127.0.0.1:{port}"\n'
            f'[galera]\ndefaults_file = "{check}"\n'
            # Its own maintenance file (never created): the default one is shared with whatever
            # else runs on this host (a drain left behind would make every node 503).
            f'maintenance_file = "{Path(tmp) / f"node{n}.disabled"}"\n'
            f'[writer]\nenabled = true\ndefaults_file = "{lease}"\n'
        )
        log = open(Path(tmp) / f"node{n}.log", "w")
        proc = subprocess.Popen([str(binary), "--config", str(config)], stderr=log,
                                stdout=subprocess.DEVNULL)
        daemons.append((n, port, proc))
    deadline = time.time() + 10
    for _, port, _ in daemons:
        while status_of(port) == 0:
            if time.time() > deadline:
                sys.exit("bench-writer: a daemon did not answer within 10 s")
            time.sleep(0.1)
    return daemons


class Load(threading.Thread):
    """Steady INSERTs, round robin over the nodes, each followed by a read of the newest row on
    the next node, through one mariadb client per node."""

    def __init__(self, rate):
        super().__init__(daemon=True)
        self.rate = rate
        self.stop = threading.Event()
        self.sent = 0
        env = benchlib.sandbox_env()
        base = env["SANDBOX_DIR"] + "/galera"
        self.clients = [
            subprocess.Popen(
                ["mariadb", "--no-defaults", "--protocol=socket", "-S",
                 f"{base}/node{n}/mysqld.sock", "-u", "root", "-N", "-B"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            for n in NODES
        ]

    def run(self):
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            client = self.clients[self.sent % len(self.clients)]
            client.stdin.write(
                "INSERT INTO clustercheckd_bench.writes (v) VALUES (REPEAT('x', 64));\n")
            client.stdin.flush()
            reader = self.clients[(self.sent + 1) % len(self.clients)]
            reader.stdin.write(
                "SELECT id FROM clustercheckd_bench.writes ORDER BY id DESC LIMIT 1;\n")
            reader.stdin.flush()
            self.sent += 1
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))

    def finish(self):
        self.stop.set()
        self.join()
        for client in self.clients:
            client.stdin.close()
            client.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    binary = benchlib.build()
    lock = benchlib.cluster_lock("galera", "bench-writer")  # noqa: F841 (held until exit)
    load_before, uptime_before = benchlib.settled_load(), benchlib.uptime()
    benchlib.sandbox("galera", "wait_cluster_size", "1", "3", "120")
    benchlib.sandbox("galera", "setup_writer")
    root_sql(1, "CREATE DATABASE IF NOT EXISTS clustercheckd_bench; "
                "CREATE TABLE IF NOT EXISTS clustercheckd_bench.writes "
                "(id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(255)) ENGINE=InnoDB")
    with tempfile.TemporaryDirectory() as tmp:
        daemons = start_daemons(binary, tmp)
        try:
            # The first holder appears after one round and the handover gap.
            deadline = time.time() + 30
            while sum(status_of(p) == 200 for _, p, _ in daemons) != 1:
                if time.time() > deadline:
                    sys.exit("bench-writer: no writer within 30 s")
                time.sleep(0.2)
            committed_before = int(root_sql(1, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'")
                                   .split()[-1])
            renewals_before = sum(metric(p, 'clustercheckd_writer_lease_renewals_total{result="ok"}')
                                  for _, p, _ in daemons)
            handovers_before = sum(metric(p, "clustercheckd_writer_handovers_total")
                                   for _, p, _ in daemons)
            cpu_before = [cpu_seconds(proc.pid) for _, _, proc in daemons]
            load = Load(args.rate)
            started = time.monotonic()
            load.start()
            rounds = overlaps = changes = no_writer = 0
            writers = set()
            last = None
            while time.monotonic() - started < args.duration:
                codes = [status_of(p) for _, p, _ in daemons]
                rounds += 1
                up = [n for (n, _, _), c in zip(daemons, codes) if c == 200]
                overlaps += len(up) > 1
                no_writer += len(up) == 0
                if len(up) == 1:
                    writers.add(up[0])
                    if last is not None and up[0] != last:
                        changes += 1
                    last = up[0]
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            load.finish()
            cpu = [cpu_seconds(proc.pid) - b for (_, _, proc), b in zip(daemons, cpu_before)]
            renewals = sum(metric(p, 'clustercheckd_writer_lease_renewals_total{result="ok"}')
                           for _, p, _ in daemons) - renewals_before
            handovers = sum(metric(p, "clustercheckd_writer_handovers_total")
                            for _, p, _ in daemons) - handovers_before
            committed = int(root_sql(1, "SHOW GLOBAL STATUS LIKE 'wsrep_last_committed'")
                            .split()[-1]) - committed_before
        finally:
            for _, _, proc in daemons:
                proc.terminate()
                proc.wait(timeout=10)
    root_sql(1, "DROP DATABASE IF EXISTS clustercheckd_bench")
    # Nothing here disturbs the cluster; still, leave it checked: 3 nodes Synced, Primary.
    benchlib.sandbox("galera", "wait_cluster_size", "1", "3", "120")
    for n in NODES:
        benchlib.sandbox("galera", "wait_synced", str(n), "120")
    uptime_after = benchlib.uptime()

    cpu_pct = [c / elapsed * 100 for c in cpu]
    lines = [
        "## Writer lease\n",
        "Command: `flock -o /var/tmp/clustercheckd-sandbox/locks/galera.lock python3"
        " scripts/bench-writer.py"
        + (f" {' '.join(shlex.quote(a) for a in sys.argv[1:])}" if sys.argv[1:] else "")
        + "`: three daemons with `[writer]` at the default timing (lease 5s, margin 1s, renew"
        " every 1s), one per sandbox Galera node, under a steady stream of INSERTs (round robin"
        " over the nodes), each followed by a read of the newest row on the next node; /writer"
        " on all three sampled every 200 ms.\n",
        f"Machine: {benchlib.machine(load_before)}. `uptime` before: `{uptime_before}`; after:"
        f" `{uptime_after}`."
        f" Commit: {benchlib.commit()}.\n",
        "| figure | value |",
        "|---|---|",
        f"| run | {elapsed:.0f} s, {load.sent} INSERTs ({load.sent / elapsed:.0f}/s) and as many reads, {rounds} sample rounds |",
        f"| writer changes seen by /writer sampling | {changes} (writer: {', '.join(f'node{w}' for w in sorted(writers)) or 'none'}) |",
        f"| handovers (`clustercheckd_writer_handovers_total`, increase summed over the three) | {handovers:.0f} |",
        f"| rounds with more than one 200 | {overlaps} |",
        f"| rounds with no 200 | {no_writer} |",
        f"| lease write rate | {renewals / elapsed:.2f} confirmed renewals/s (one small write-set each) |",
        f"| cluster write rate, all write-sets | {committed / elapsed:.1f}/s (the lease's share: {renewals / max(committed, 1) * 100:.1f} %) |",
        "| CPU per daemon (Galera poll + lease, share of one core) | "
        + ", ".join(f"node{n} {p:.2f} %" for (n, _, _), p in zip(daemons, cpu_pct)) + " |",
        "",
    ]
    if args.duration < 300:
        lines.append(f"A {args.duration:g} s run instead of 5 minutes: the machine was shared with"
                     " other work and the run holds the Galera lock.\n")
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        benchlib.write("bench-writer", section)


if __name__ == "__main__":
    main()
