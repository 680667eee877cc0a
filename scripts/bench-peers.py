#!/usr/bin/env python3
"""Measure what `[peers]` costs a daemon: CPU with and without peer polling, at the defaults.

    scripts/bench-peers.py [--duration SECONDS] [--no-write]

Starts two sets of three clustercheckd processes side by side, each daemon watching its sandbox
Galera node (1, 2, 3) with the check user, all defaults: one set without `[peers]`, one set whose
daemons have the two others of their set as peers (interval 2 s, timeout 1 s). Both sets run at
the same time for the same window, so load from elsewhere hits both alike. For every daemon we
read utime + stime from /proc/PID/stat at the start and end of the window; the cost of peers is
the mean CPU of a daemon with peers minus the mean of one without, as a share of one core. That
includes both sides of peering: polling two peers and answering their two polls. The target
(issue 13, item 6) is under 1% of a core. The current code is built first (cargo build
--release). Results go to docs/benchmarks.md (section `bench-peers`) unless --no-write.

Needs the sandbox's Galera (`scripts/sandbox.sh up galera`); reads it only. All traffic goes to
127.0.0.1.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the comm field: utime is field 14, stime 15 (1-based overall).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric(page, series):
    for line in page.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def start_set(binary, tmp, name, ports, with_peers):
    """Three daemons on `ports`, one per Galera node; returns their processes."""
    procs = []
    for i, port in enumerate(ports):
        n = i + 1
        defaults = benchlib.sandbox("galera", "defaults_file", str(n))
        config = (
            f'node_name = "{name}{n}"\n[listen]\ncheck = "127.0.0.1:{port}"\n'
            f'[galera]\ndefaults_file = "{defaults}"\n'
        )
        if with_peers:
            urls = ", ".join(
                f'"http://127.0.0.1:{p}/status"' for j, p in enumerate(ports) if j != i
            )
            config += f"[peers]\nurls = [{urls}]\n"
        path = Path(tmp) / f"{name}{n}.toml"
        path.write_text(config)
        log = open(Path(tmp) / f"{name}{n}.log", "w")
        procs.append(
            subprocess.Popen([str(binary), "--config", str(path)], stdout=log, stderr=log)
        )
    deadline = time.time() + 15
    for port in ports:
        while True:
            try:
                get(f"http://127.0.0.1:{port}/metrics")
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"bench-peers: daemon on port {port} did not start (logs in {tmp})")
                time.sleep(0.1)
    return procs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    binary = benchlib.build()
    benchlib.sandbox("galera", "wait_synced", "1", "60")
    load_before = benchlib.settled_load()
    with tempfile.TemporaryDirectory() as tmp:
        plain_ports = [benchlib.free_port() for _ in range(3)]
        peer_ports = [benchlib.free_port() for _ in range(3)]
        plain = start_set(binary, tmp, "plain", plain_ports, False)
        peers = start_set(binary, tmp, "peers", peer_ports, True)
        try:
            # Let every daemon finish its start-up (first polls, first peer round).
            time.sleep(5)
            for port in peer_ports:
                doc = json.loads(get(f"http://127.0.0.1:{port}/cluster"))
                if doc.get("unreachable_peers"):
                    sys.exit(f"bench-peers: peers unreachable: {doc['unreachable_peers']}")
            before = {p.pid: cpu_seconds(p.pid) for p in plain + peers}
            started = time.monotonic()
            time.sleep(args.duration)
            elapsed = time.monotonic() - started
            used = {p.pid: cpu_seconds(p.pid) - before[p.pid] for p in plain + peers}
            pages = [get(f"http://127.0.0.1:{port}/metrics") for port in peer_ports]
        finally:
            for p in plain + peers:
                p.terminate()
            for p in plain + peers:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    share = lambda pid: used[pid] / elapsed * 100  # noqa: E731
    plain_pct = [share(p.pid) for p in plain]
    peers_pct = [share(p.pid) for p in peers]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    added = mean(peers_pct) - mean(plain_pct)
    rounds = [metric(page, 'clustercheckd_collector_poll_duration_seconds{collector="peers"}')
              for page in pages]
    rounds = [r for r in rounds if r is not None]
    verdict = "met" if added < 1.0 else "NOT met"
    lines = [
        "## Peer polling cost (`[peers]` at the defaults, three nodes)",
        "",
        "`scripts/bench-peers.py` — "
        + benchlib.machine(load_before)
        + f"; commit {benchlib.commit()}; window {elapsed:.0f} s.",
        "",
        "Two sets of three daemons ran side by side on the sandbox's Galera nodes, all defaults "
        "(Galera poll 1 s): one without `[peers]`, one with the two others of its set as peers "
        "(interval 2 s, timeout 1 s, plain HTTP on 127.0.0.1). CPU is utime + stime from "
        "/proc/PID/stat over the window, as a share of one core; it includes both sides of "
        "peering (polling two peers, answering their polls).",
        "",
        "| daemons | CPU per daemon (mean) | min | max |",
        "|---|---|---|---|",
        f"| without `[peers]` | {mean(plain_pct):.3f}% | {min(plain_pct):.3f}% | {max(plain_pct):.3f}% |",
        f"| with `[peers]` | {mean(peers_pct):.3f}% | {min(peers_pct):.3f}% | {max(peers_pct):.3f}% |",
        "",
        f"Peer polling adds **{added:.3f}% of one core** per daemon (target under 1%: {verdict}). "
        + (f"A round (two peers, concurrently) took {max(rounds) * 1000:.1f} ms at most at the "
           f"end of the window." if rounds else ""),
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        benchlib.write("bench-peers", section)


if __name__ == "__main__":
    main()
