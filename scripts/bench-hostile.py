#!/usr/bin/env python3
"""Checks under attack: latency of well-formed checks while hostile clients hold the port.

    scripts/bench-hostile.py [--duration SECONDS] [--spacing MS] [--no-write]

Builds the current code (cargo build --release) and starts clustercheckd under
`prlimit --nofile=4096` (the shipped unit's LimitNOFILE), with the default [listen] limits
(max_connections 512, max_connections_per_source 64) and its Galera check on sandbox node 1, so a
check is answered from memory as in production. Then, one attack at a time, all from 127.0.0.1:

  - slowloris x1000 and x5000: each connection sends a partial request head, then one header line
    every 0.5 s, and reconnects when closed;
  - idle x5000: connect, send nothing, reconnect when closed;
  - malformed x1000: each connection in turn sends 4 KiB of garbage, a 256 KiB header, a POST
    with a 1 MiB Content-Length (64 KiB of it sent), or a well-formed request; then half-closes
    (shutdown(SHUT_WR)) and reads until the daemon closes; then reconnects.

The attackers run in a separate process (asyncio). Once every attacker has connected at least
once, well-formed checks (`GET /`, a new connection each, as HAProxy sends them) come from
127.0.0.2, one every SPACING ms (default 20) for DURATION s (default 20): p50/p99/max latency and
failures (no complete HTTP answer within 3 s). The daemon's RSS and open descriptors are sampled
every check. A phase without attack comes first, for reference. Target (issue #11): p99 of the
well-formed checks under 10 ms during each attack, none failed. The section between
`<!-- bench-hostile:begin/end -->` in docs/benchmarks.md is rewritten unless --no-write.
Traffic stays on 127.0.0.0/8.
"""

import argparse
import asyncio
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

TARGET_P99_S = 0.010
DAEMON_NOFILE = "--nofile=4096"
# Generous: on a loaded machine the attacker's own event loop may take seconds to notice that a
# connect completed, and a short timeout would then cancel every attempt.
CONNECT_TIMEOUT_S = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
ATTACKS = [("none", 0), ("slowloris", 1000), ("slowloris", 5000), ("idle", 5000), ("malformed", 1000)]


def say(message):
    print(f"bench-hostile: {message}", file=sys.stderr, flush=True)


def malformed_payload(round_):
    kind = round_ % 4
    if kind == 0:
        return bytes(((i * 2654435761) >> 13) & 0xFF for i in range(4096))
    if kind == 1:
        return b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\n\r\n"
    if kind == 2:
        return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + b"b" * (64 * 1024)
    return b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def attacker(port, kind, ident, stop, opened):
    round_ = ident
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.05)
            continue
        with opened.get_lock():
            opened.value += 1
        try:
            if kind == "slowloris":
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
                while not stop.is_set():
                    try:
                        data = await asyncio.wait_for(reader.read(512), 0.5)
                        if not data:
                            break
                    except asyncio.TimeoutError:
                        writer.write(b"X-Slow: 1\r\n")
                        await writer.drain()
            elif kind == "idle":
                while await reader.read(512):  # until closed (or cancelled at the end)
                    pass
            else:
                writer.write(malformed_payload(round_))
                await asyncio.wait_for(writer.drain(), 3)
                writer.write_eof()  # half-close: still read the answer
                await asyncio.wait_for(reader.read(), 3)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.transport.abort()
        round_ += 1
        await asyncio.sleep(0.01)  # reconnect at once, as an attacker would


def attack_process(port, kind, count, stop, opened):
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))

    async def run():
        tasks = [asyncio.create_task(attacker(port, kind, i, stop, opened)) for i in range(count)]
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def phase(daemon_pid, port, kind, count, args):
    stop = multiprocessing.Event()
    opened = multiprocessing.Value("Q", 0)
    proc = None
    ramp = 0.0
    if count:
        proc = multiprocessing.Process(target=attack_process, args=(port, kind, count, stop, opened))
        proc.start()
        t = time.monotonic()
        deadline = t + 30
        while opened.value < count and time.monotonic() < deadline:
            time.sleep(0.1)
        ramp = time.monotonic() - t
    opened_at_start = opened.value
    cpu_before = cpu_seconds(proc.pid) if proc else 0.0
    latencies, failures, statuses = [], [], {}
    rss_max = fds_max = 0
    started = time.monotonic()
    next_at = started
    while time.monotonic() - started < args.duration:
        seconds, status, error = benchlib.http_check(("127.0.0.1", port), "127.0.0.2")
        if error:
            failures.append(error)
        else:
            latencies.append(seconds)
            statuses[status] = statuses.get(status, 0) + 1
        rss_max = max(rss_max, benchlib.status_kib(daemon_pid))
        fds_max = max(fds_max, benchlib.open_fds(daemon_pid))
        next_at += args.spacing / 1000
        time.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - started
    opened_during = opened.value - opened_at_start
    attacker_cpu = (cpu_seconds(proc.pid) - cpu_before) / elapsed * 100 if proc else 0.0
    if proc:
        stop.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()
    latencies.sort()
    row = {
        "kind": kind, "count": count, "ramp": ramp, "opened": opened.value,
        "reconnects_per_s": opened_during / elapsed if elapsed else 0,
        "checks": len(latencies) + len(failures), "failures": failures, "statuses": statuses,
        "p50": benchlib.percentile(latencies, 50), "p99": benchlib.percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "attacker_cpu": attacker_cpu, "rss_max_kib": rss_max, "fds_max": fds_max, "reached": opened_at_start >= count,
    }
    say(
        f"{kind} x{count}: {row['checks']} checks, {len(failures)} failed, p50 {benchlib.fmt_ms(row['p50'])}, "
        f"p99 {benchlib.fmt_ms(row['p99'])}, max {benchlib.fmt_ms(row['max'])}, RSS {rss_max} KiB, fds {fds_max}, "
        f"attacker connections {opened.value} ({row['reconnects_per_s']:.0f}/s during the checks)"
    )
    # Let the daemon notice the attackers are gone before the next phase.
    time.sleep(3)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds of checks per phase")
    parser.add_argument("--spacing", type=float, default=20, help="ms between checks")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    load_before = benchlib.settled_load()
    binary = benchlib.build()
    benchlib.sandbox("up", "galera")
    defaults = benchlib.sandbox("galera", "defaults_file", "1")
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    port = benchlib.free_port()
    config = work / "clustercheckd.toml"
    config.write_text(
        f'[listen]\ncheck = "127.0.0.1:{port}"\n[galera]\ndefaults_file = "{defaults}"\n'
        '[log]\nlevel = "warn"\n'
    )
    daemon = subprocess.Popen(
        ["prlimit", DAEMON_NOFILE, str(binary), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"),
    )
    rows = []
    try:
        deadline = time.monotonic() + 20
        while benchlib.http_check(("127.0.0.1", port), "127.0.0.2")[1] != 200:
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit("bench-hostile: the daemon never answered 200 (is Galera node 1 synced?)")
            time.sleep(0.2)
        for kind, count in ATTACKS:
            rows.append(phase(daemon.pid, port, kind, count, args))
        hwm = benchlib.status_kib(daemon.pid, "VmHWM")
        limit = Path(f"/proc/{daemon.pid}/limits").read_text()
        nofile = next(line.split()[3] for line in limit.splitlines() if line.startswith("Max open files"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)
    shed = (work / "daemon.log").read_text().count("over its connection limit")
    section = render(args, load_before, rows, hwm, nofile, shed)
    print(section)
    if not args.no_write:
        benchlib.write("bench-hostile", section)


def render(args, load_before, rows, hwm, nofile, shed):
    lines = [
        "## Checks under hostile clients",
        "",
        f"Command: `scripts/bench-hostile.py --duration {args.duration:g} --spacing {args.spacing:g}` "
        f"({benchlib.machine(load_before)}; commit {benchlib.commit()}).",
        "",
        f"clustercheckd (release build) under `prlimit {DAEMON_NOFILE}` (max open files seen in "
        f"/proc: {nofile}), default `[listen]` limits (max_connections 512,",
        "max_connections_per_source 64), Galera check on sandbox node 1. One attack at a time from",
        "127.0.0.1 (a separate asyncio process; every attacker reconnects at once when closed). The",
        "attacker shares the daemon's cores, which a remote attacker would not: its CPU use is in the",
        "table, and the figures are pessimistic for it.",
        f"Meanwhile well-formed checks from 127.0.0.2, one every {args.spacing:g} ms for "
        f"{args.duration:g} s, each on a new",
        "connection (`GET /`). Failed = no complete HTTP answer within 3 s. RSS and descriptors",
        "are the daemon's maxima over the phase, sampled after every check.",
        "",
        "| attack (from 127.0.0.1) | checks | failed | p50 | p99 | max | answers | daemon RSS | daemon fds | attacker connections (reconnects/s) | attacker CPU | p99 under 10 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = "none (reference)" if not r["count"] else f"{r['kind']} x{r['count']}"
        if r["count"] and not r["reached"]:
            name += f" (**only {r['opened']} connections within 30 s**)"
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        ok = r["p99"] < TARGET_P99_S and not r["failures"]
        lines.append(
            f"| {name} | {r['checks']} | {len(r['failures'])} | {benchlib.fmt_ms(r['p50'])} "
            f"| {benchlib.fmt_ms(r['p99'])} | {benchlib.fmt_ms(r['max'])} | {answers} "
            f"| {r['rss_max_kib'] / 1024:.1f} MiB | {r['fds_max']} "
            f"| {r['opened'] if r['count'] else '-'} ({r['reconnects_per_s']:.0f}/s) "
            f"| {r['attacker_cpu']:.0f} % of a core "
            f"| {'met' if ok else '**NOT met**'} |"
        )
    attacked = [r for r in rows if r["count"]]
    met = all(r["p99"] < TARGET_P99_S and not r["failures"] and r["reached"] for r in attacked)
    worst = max(attacked, key=lambda r: r["p99"])
    errors = sorted({e for r in rows for e in r["failures"]})
    lines += [
        "",
        f"Target (issue #11): p99 of well-formed checks under 10 ms during every attack, none failed: "
        f"**{'met' if met else 'NOT met'}** (worst p99 {benchlib.fmt_ms(worst['p99'])}, "
        f"{worst['kind']} x{worst['count']}). Daemon peak RSS over the whole run "
        f"{max([hwm] + [r['rss_max_kib'] for r in rows]) / 1024:.1f} MiB; it logged {shed} connection-limit warnings (`over its connection limit`).",
    ]
    reference = next((r for r in rows if not r["count"]), None)
    if reference and reference["p99"] > TARGET_P99_S / 2:
        lines += [
            "",
            f"Without any attack the same checks already had a p99 of {benchlib.fmt_ms(reference['p99'])} "
            "(max " + benchlib.fmt_ms(reference["max"]) + "): this machine's own noise is of the order "
            "of the target, so the run cannot tell whether the daemon meets it. Rerun on a quiet "
            "machine.",
        ]
    if errors:
        lines.append("")
        lines.append("Failures seen: " + "; ".join(f"`{e}`" for e in errors[:5]) + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
