#!/usr/bin/env python3
"""Benchmark the Galera check side by side with a fork-per-check clustercheck baseline.

    scripts/bench-galera.py [--duration SECONDS] [--no-write]

Both answer HAProxy-style checks for sandbox Galera node 1 in the same run, on the same machine:
clustercheckd (target/release/clustercheckd, answering from memory) and the baseline
(scripts/baseline/serve.sh: socat forks clustercheck.sh, which runs the mysql client, per
connection, as xinetd + clustercheck do). For each, wrk opens a new connection per request
(`Connection: close`), as HAProxy does, at concurrency 1, 16 and 64, and we record latency p50/p99,
checks per second, errors, CPU per check, new database connections per 1000 checks, RSS and idle
CPU. Each side is measured alone: clustercheckd is stopped (its polling too) before the baseline
is measured. The current code is built first (cargo build --release). Results go to
docs/benchmarks.md (section between `<!-- bench-galera:begin/end -->`) unless --no-write.

Needs the sandbox (`scripts/sandbox.sh up galera`), wrk and socat (scripts/install-deps.sh).
All traffic goes to 127.0.0.1.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SANDBOX = REPO / "scripts" / "sandbox.sh"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCY = (1, 16, 64)


def die(message):
    sys.exit(f"bench-galera: {message}")


def sandbox(*args):
    result = subprocess.run(["bash", str(SANDBOX), *args], capture_output=True, text=True)
    if result.returncode != 0:
        die(f"scripts/sandbox.sh {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def db_connections():
    """The server's Connections counter (every connection attempt, ours included)."""
    out = sandbox("galera", "sql", "1", "SHOW GLOBAL STATUS LIKE 'Connections'")
    return int(out.split()[-1])


def cpu_seconds(pid, children=False):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the comm field: utime is field 14, stime 15, cutime 16, cstime 17 (1-based overall).
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    total = utime + stime + (cutime + cstime if children else 0)
    return total / CLK_TCK


def rss_kib(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(port, concurrency, duration):
    threads = min(concurrency, 2)
    cmd = [
        "wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency",
        "-H", "Connection: close", f"http://127.0.0.1:{port}/",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    found = re.search(r"(\d+) requests in", out)
    requests = int(found.group(1)) if found else 0
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rps = float(found.group(1)) if found else 0.0
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    if "50" not in latency:  # no request completed: wrk prints no distribution
        errors = max(errors, 1)
    return {
        "p50_ms": to_ms(latency["50"]) if "50" in latency else float("nan"),
        "p99_ms": to_ms(latency["99"]) if "99" in latency else float("nan"),
        "requests": requests,
        "rps": rps,
        "errors": errors,
        "raw": out,
    }


def measure(name, pid, port, duration, children):
    rows = []
    for c in CONCURRENCY:
        conn_before = db_connections()
        cpu_before = cpu_seconds(pid, children)
        result = wrk(port, c, duration)
        cpu = cpu_seconds(pid, children) - cpu_before
        # The `after` query's own connection is one of the counted ones.
        new_conns = db_connections() - conn_before - 1
        result.update(
            concurrency=c,
            cpu_per_check_us=cpu / max(result["requests"], 1) * 1e6,
            conns_per_1000=new_conns / max(result["requests"], 1) * 1000,
        )
        rows.append(result)
        print(
            f"{name:14} c={c:<3} p50={result['p50_ms']:.3f} ms p99={result['p99_ms']:.3f} ms "
            f"{result['rps']:.0f}/s errors={result['errors']} "
            f"cpu/check={result['cpu_per_check_us']:.0f} us db-conns/1000={result['conns_per_1000']:.0f}",
            flush=True,
        )
    return rows


def idle_cpu_percent(pid, seconds, children):
    before = cpu_seconds(pid, children)
    time.sleep(seconds)
    return (cpu_seconds(pid, children) - before) / seconds * 100


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--idle", type=int, default=20, help="seconds of idle CPU sampling")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    for tool in ("wrk", "socat"):
        if not shutil.which(tool):
            die(f"{tool} is missing: run scripts/install-deps.sh")
    load_before = benchlib.settled_load()
    binary = benchlib.build()
    sandbox("up", "galera")
    defaults = sandbox("galera", "defaults_file", "1").strip()

    work = Path(tempfile.mkdtemp(prefix="bench-galera-"))
    ours_port, base_port = free_port(), free_port()
    config = work / "clustercheckd.toml"
    config.write_text(
        f'[listen]\ncheck = "127.0.0.1:{ours_port}"\nmax_connections = 1024\n'
        f'[galera]\ndefaults_file = "{defaults}"\n[log]\nlevel = "warn"\n'
    )
    ours = subprocess.Popen(
        [str(binary), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=open(work / "clustercheckd.log", "w"),
    )
    base = subprocess.Popen(
        ["bash", str(REPO / "scripts/baseline/serve.sh"), str(base_port), defaults],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        time.sleep(2)
        for port in (ours_port, base_port):
            probe = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/"],
                capture_output=True, text=True,
            ).stdout
            if probe != "200":
                die(f"the check on port {port} answered {probe!r}, not 200: is node 1 synced?")

        ours_idle = idle_cpu_percent(ours.pid, args.idle, False)
        ours_rows = measure("clustercheckd", ours.pid, ours_port, args.duration, False)
        ours_rss = rss_kib(ours.pid) / 1024
        ours_hwm = rss_kib(ours.pid, "VmHWM") / 1024
        # Stop clustercheckd (and its once-a-second poll of node 1) before measuring the peer.
        ours.send_signal(signal.SIGTERM)
        ours.wait(timeout=10)
        # socat reaps each forked check, so its children's CPU lands in its cutime/cstime.
        base_rows = measure("fork-per-check", base.pid, base_port, args.duration, True)
        base_rss = rss_kib(base.pid) / 1024
        time.sleep(3)  # let the last forked checks finish and be reaped
        base_idle = idle_cpu_percent(base.pid, 5, True)
    finally:
        if ours.poll() is None:
            ours.send_signal(signal.SIGTERM)
            ours.wait(timeout=10)
        os.killpg(base.pid, signal.SIGTERM)

    report = render(
        args, load_before, ours_rows, base_rows, ours_rss, ours_hwm, base_rss, ours_idle, base_idle
    )
    print(report)
    if not args.no_write:
        benchlib.write("bench-galera", report)


def ms(value, digits):
    return f"{value:.{digits}f} ms" if value == value else "none completed"


def ratio(a, b):
    return f"{a / b:.1f}x" if b and a == a and b == b else "n/a"


def render(args, load_before, ours, base, ours_rss, ours_hwm, base_rss, ours_idle, base_idle):
    lines = [
        "## Galera check",
        "",
        f"Command: `scripts/bench-galera.py --duration {args.duration} --idle {args.idle}` "
        f"({benchlib.machine(load_before)}; commit {benchlib.commit()}).",
        "",
        "Both serve HAProxy-style checks for sandbox Galera node 1 in the same run; wrk opens a new",
        "connection per request (`Connection: close`), as HAProxy does. The baseline forks a shell",
        "script that runs the mysql client per check (socat standing in for xinetd, without",
        "xinetd's 50 connections/s cut-off). CPU per check counts the daemon (clustercheckd) or",
        "socat and every forked check (baseline). clustercheckd is stopped, polling included,",
        "before the baseline is measured. Errors count wrk's socket errors (connect, read, write,",
        "timeout) and answers other than 2xx/3xx.",
        "",
        "| concurrency | measure | clustercheckd | fork-per-check | ratio |",
        "|---|---|---|---|---|",
    ]
    for o, b in zip(ours, base):
        c = o["concurrency"]
        lines += [
            f"| {c} | latency p50 | {ms(o['p50_ms'], 3)} | {ms(b['p50_ms'], 1)} | {ratio(b['p50_ms'], o['p50_ms'])} faster |",
            f"| {c} | latency p99 | {ms(o['p99_ms'], 3)} | {ms(b['p99_ms'], 1)} | {ratio(b['p99_ms'], o['p99_ms'])} faster |",
            f"| {c} | checks/s | {o['rps']:.0f} | {b['rps']:.0f} | {ratio(o['rps'], b['rps'])} more |",
            f"| {c} | errors (requests answered) | {o['errors']} ({o['requests']}) | {b['errors']} ({b['requests']}) | |",
            f"| {c} | CPU per check | {o['cpu_per_check_us']:.1f} µs | {b['cpu_per_check_us']:.0f} µs | {ratio(b['cpu_per_check_us'], o['cpu_per_check_us'])} less |",
            f"| {c} | new DB connections per 1000 checks | {o['conns_per_1000']:.1f} | {b['conns_per_1000']:.0f} | |",
        ]
    c1, c16 = ours[0], ours[1]
    checks = [
        ("p99 at concurrency 1 under 0.5 ms", c1["p99_ms"] < 0.5),
        ("at least 20,000 checks/s at concurrency 16", c16["rps"] >= 20000),
        ("zero errors", all(o["errors"] == 0 for o in ours)),
        ("CPU per check under 50 µs", all(o["cpu_per_check_us"] < 50 for o in ours)),
        ("zero database connections per check", all(o["conns_per_1000"] < 1 for o in ours)),
        ("RSS under 15 MB", ours_hwm * 1.048576 < 15),
        ("idle CPU under 1 % of a core", ours_idle < 1),
    ]
    lines += [
        f"| - | RSS after the runs | {ours_rss:.1f} MiB (peak {ours_hwm:.1f} MiB) | {base_rss:.1f} MiB (socat alone; each check forks bash + mysql) | |",
        f"| - | idle CPU | {ours_idle:.2f} % of a core (polling once a second) | {base_idle:.2f} % (nothing polls) | |",
        "",
        "Targets (issue: Galera daemon): p99 under 0.5 ms at concurrency 1; at least 20,000 checks/s at",
        "concurrency 16 with zero errors; CPU per check under 50 µs; zero database connections per",
        "check; RSS under 15 MB; idle CPU under 1 % of a core. This run: "
        + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks)
        + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
