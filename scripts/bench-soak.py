#!/usr/bin/env python3
"""Soak: a fixed check rate for a minute while every collector polls and /metrics is scraped.

    scripts/bench-soak.py [--rate CHECKS_PER_S] [--duration SECONDS] [--warmup SECONDS]
                          [--workers N] [--no-write]

Builds the current code (cargo build --release) and starts clustercheckd configured against the
real sandbox, so every collector polls at its default interval: Galera node 1, RabbitMQ node 1
(nodes/policies and the queue scan), Pacemaker and the VIP. Then:

  1. calibration: the client's unpaced maximum on this machine for 5 s (what it sustains here);
     unless --rate is given, RATE is fixed at 60 % of it, rounded down to a multiple of 100;
  2. warm-up: WARMUP s (default 10) at RATE checks/s;
  3. soak: DURATION s (default 60) at the same RATE.

Each check is `GET /` on a new connection, as HAProxy sends it, from WORKERS processes (default
2). Ephemeral ports: every check's socket is bound to one of 32 source addresses 127.0.0.10-41 in
turn with IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port per (source, destination) at
connect; the daemon closes first, so TIME_WAIT stays on its side, and 32 x 28,000 ports leave
ample room at any rate this client reaches. Every second /metrics is scraped (from 127.0.0.3) and
the daemon's RSS (/proc/PID/status VmRSS) and open descriptors (/proc/PID/fd) are sampled.

Targets (issue #11): zero failed checks (no complete HTTP answer within 2 s, or not 200), RSS at
the end within +5 MiB of the end of warm-up, open descriptors within +-2. The section between
`<!-- bench-soak:begin/end -->` in docs/benchmarks.md is rewritten unless --no-write. Traffic
stays on 127.0.0.0/8 (and the sandbox VIP's own namespace, which the daemon only looks up).
"""

import argparse
import multiprocessing
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import socket
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

SOURCES = [f"127.0.0.{i}" for i in range(10, 42)]
AUTO_RATE = 0.6
RSS_SLACK_KIB = 5 * 1024
FD_SLACK = 2
# The VIP is looked up within the pacemaker poll (getifaddrs), so it has no collector of its own.
COLLECTORS = ("galera", "rabbitmq", "rabbitmq_queues", "pacemaker")


def say(message):
    print(f"bench-soak: {message}", file=sys.stderr, flush=True)


def worker(target, index, workers, rate, seconds, results):
    """Checks at rate/workers per second for `seconds` (rate 0: as fast as possible)."""
    latencies, failures, statuses, late = [], [], {}, 0
    interval = workers / rate if rate else 0.0
    started = time.monotonic()
    next_at = started
    n = index
    while True:
        now = time.monotonic()
        if now - started >= seconds:
            break
        if interval:
            if next_at > now:
                time.sleep(next_at - now)
            elif now - next_at > 0.1:
                late += 1
            next_at += interval
        elapsed, status, error = benchlib.http_check(target, SOURCES[n % len(SOURCES)], timeout=2.0)
        n += workers
        if error or status != 200:
            failures.append(error or f"HTTP {status}")
        else:
            latencies.append(elapsed)
        statuses[status] = statuses.get(status, 0) + 1
    results.put(
        {"latencies": latencies, "failures": failures, "statuses": statuses,
         "elapsed": time.monotonic() - started, "late": late}
    )


def load(target, workers, rate, seconds):
    results = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=worker, args=(target, i, workers, rate, seconds, results))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    parts = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(10)
    latencies = sorted(x for part in parts for x in part["latencies"])
    failures = [f for part in parts for f in part["failures"]]
    statuses = {}
    for part in parts:
        for k, v in part["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    checks = len(latencies) + len(failures)
    elapsed = max(part["elapsed"] for part in parts)
    return {
        "checks": checks, "rate": checks / elapsed, "failures": failures, "statuses": statuses,
        "late": sum(part["late"] for part in parts),
        "p50": benchlib.percentile(latencies, 50), "p99": benchlib.percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
    }


def scrape(port):
    """One /metrics scrape from 127.0.0.3: (ok, text)."""
    request = b"GET /metrics HTTP/1.1\r\nHost: prometheus\r\nConnection: close\r\n\r\n"
    s = socket.socket()
    try:
        s.settimeout(5)
        s.bind(("127.0.0.3", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data.startswith(b"HTTP/1.1 200"), data.decode(errors="replace")
    except OSError:
        return False, ""
    finally:
        s.close()


def metric_values(text, name):
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(rf"^{re.escape(name)}\{{collector=\"([^\"]+)\"\}} (\S+)$", text, re.M)
    }


class Sampler(threading.Thread):
    """Every second: scrape /metrics and sample the daemon's RSS and descriptors."""

    def __init__(self, pid, port):
        super().__init__(daemon=True)
        self.pid, self.port = pid, port
        self.samples, self.scrapes, self.scrape_failures, self.last = [], 0, 0, ""
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(1.0):
            ok, text = scrape(self.port)
            self.scrapes += 1
            if ok:
                self.last = text
            else:
                self.scrape_failures += 1
            self.samples.append(
                (time.monotonic(), benchlib.status_kib(self.pid), benchlib.open_fds(self.pid))
            )

    def now(self):
        return benchlib.status_kib(self.pid), benchlib.open_fds(self.pid)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rate", type=int, default=0,
        help="checks per second, fixed for the run (default: 60%% of the calibrated maximum)",
    )
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    load_before = benchlib.settled_load()
    binary = benchlib.build()
    env = benchlib.sandbox_env()
    for component in ("galera", "rabbitmq", "pacemaker"):
        benchlib.sandbox("up", component)
    defaults = benchlib.sandbox("galera", "defaults_file", "1")
    node = benchlib.sandbox("pacemaker", "node_name")
    port = benchlib.free_port()
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    config = work / "clustercheckd.toml"
    config.write_text(
        f'node_name = "{node}"\n'
        f'[listen]\ncheck = "127.0.0.1:{port}"\n'
        f'[galera]\ndefaults_file = "{defaults}"\nexpected_nodes = 3\n'
        f'[rabbitmq]\nenabled = true\n'
        f'management_url = "http://127.0.0.1:{int(env["RABBITMQ_MGMT_PORT_BASE"]) + 1}"\n'
        f'amqp_port = {int(env["RABBITMQ_AMQP_PORT_BASE"]) + 1}\n'
        f'user = "{env["RABBITMQ_USER"]}"\npassword = "{env["RABBITMQ_PASSWORD"]}"\n'
        f'[pacemaker]\nenabled = true\n'
        f'[vip]\nenabled = true\n[[vip.vips]]\nname = "vip"\nresource = "vip"\n'
        f'address = "{env["PACEMAKER_VIP"]}"\n[log]\nlevel = "warn"\n'
    )
    daemon = subprocess.Popen(
        [str(binary), "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"),
    )
    target = ("127.0.0.1", port)
    try:
        # Every collector must have polled successfully before the soak means anything.
        deadline = time.monotonic() + 60
        while True:
            ok, text = scrape(port)
            up = metric_values(text, "clustercheckd_collector_up") if ok else {}
            if all(up.get(c) == 1 for c in COLLECTORS):
                break
            if time.monotonic() > deadline or daemon.poll() is not None:
                sys.exit(f"bench-soak: not every collector is up after 60 s: {up}")
            time.sleep(0.5)
        errors_before = metric_values(text, "clustercheckd_collector_poll_errors_total")

        say("calibrating: the client unpaced for 5 s")
        calibration = load(target, args.workers, 0, 5)
        say(f"   {calibration['rate']:.0f} checks/s, {len(calibration['failures'])} failed")
        args.chosen = not args.rate
        if not args.rate:
            args.rate = max(100, int(calibration["rate"] * AUTO_RATE) // 100 * 100)

        sampler = Sampler(daemon.pid, port)
        sampler.start()
        say(f"warm-up: {args.warmup} s at {args.rate}/s")
        warm = load(target, args.workers, args.rate, args.warmup)
        rss0, fds0 = sampler.now()
        say(f"   {warm['rate']:.0f}/s, {len(warm['failures'])} failed; RSS {rss0} KiB, fds {fds0}")
        say(f"soak: {args.duration} s at {args.rate}/s")
        t0 = time.monotonic()
        soak = load(target, args.workers, args.rate, args.duration)
        rss1, fds1 = sampler.now()
        sampler.stop.set()
        sampler.join(5)
        during = [s for s in sampler.samples if s[0] >= t0]
        warm_samples = [s for s in sampler.samples if s[0] < t0]
        say(f"   {soak['rate']:.0f}/s, {len(soak['failures'])} failed; RSS {rss1} KiB, fds {fds1}")
        ok, text = scrape(port)
        errors_after = metric_values(text, "clustercheckd_collector_poll_errors_total") if ok else {}
        up_after = metric_values(text, "clustercheckd_collector_up") if ok else {}
        hwm = benchlib.status_kib(daemon.pid, "VmHWM")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)

    section = render(
        args, load_before, calibration, warm, soak, (rss0, fds0), (rss1, fds1), during,
        warm_samples, hwm,
        sampler, errors_before, errors_after, up_after,
    )
    print(section)
    if not args.no_write:
        benchlib.write("bench-soak", section)


def render(args, load_before, calibration, warm, soak, start, end, during, warm_samples, hwm, sampler,
           errors_before, errors_after, up_after):
    rss_delta = end[0] - start[0]
    fd_delta = end[1] - start[1]
    rss_range = (min(s[1] for s in during), max(s[1] for s in during)) if during else (0, 0)
    fd_range = (min(s[2] for s in during), max(s[2] for s in during)) if during else (0, 0)
    kept_up = soak["rate"] >= 0.98 * args.rate
    poll_errors = {c: errors_after.get(c, 0) - errors_before.get(c, 0) for c in COLLECTORS}
    verdicts = [
        ("zero failed checks", not soak["failures"] and not warm["failures"]),
        (f"RSS within +5 MiB (end {end[0] / 1024:.1f} MiB, warm-up {start[0] / 1024:.1f} MiB, "
         f"{rss_delta / 1024:+.2f} MiB)", rss_delta <= RSS_SLACK_KIB),
        (f"open descriptors within +-2 ({start[1]} -> {end[1]}, {fd_delta:+d})",
         abs(fd_delta) <= FD_SLACK),
        (f"the client kept the rate ({soak['rate']:.0f}/s of {args.rate}/s)", kept_up),
    ]
    cmd = (f"scripts/bench-soak.py{'' if args.chosen else f' --rate {args.rate}'} "
           f"--duration {args.duration} --warmup {args.warmup} --workers {args.workers}")
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(soak["statuses"].items(), key=str))
    lines = [
        "## Soak",
        "",
        f"Command: `{cmd}` ({benchlib.machine(load_before)}; commit {benchlib.commit()}).",
        "",
        "clustercheckd (release build) against the real sandbox with every collector polling at its",
        "default interval (Galera node 1, RabbitMQ node 1 with its queue scan, Pacemaker, the VIP).",
        f"{args.rate} checks/s, fixed, each `GET /` on a new connection from {args.workers} client",
        f"processes, after a {args.warmup} s warm-up at the same rate; /metrics scraped every second",
        "from 127.0.0.3. Ephemeral ports: each check's socket is bound to one of 32 source addresses",
        "(127.0.0.10-41, in turn) with IP_BIND_ADDRESS_NO_PORT, and the daemon closes first, so",
        "TIME_WAIT stays on its side; no client port ran out (a failure would be counted below).",
        f"Just before, the same client unpaced reached **{calibration['rate']:.0f} checks/s** on this "
        f"machine ({len(calibration['failures'])} failed): the soak rate is "
        f"{args.rate / calibration['rate'] * 100:.0f} % of it"
        + (" (chosen so: 60 %, rounded down to 100/s)." if args.chosen else " (given by --rate)."),
        "",
        "| | warm-up | soak |",
        "|---|---|---|",
        f"| duration | {args.warmup} s | {args.duration} s |",
        f"| checks (achieved rate) | {warm['checks']} ({warm['rate']:.0f}/s) | {soak['checks']} ({soak['rate']:.0f}/s) |",
        f"| failed checks | {len(warm['failures'])} | {len(soak['failures'])} |",
        f"| answers | {', '.join(f'{k}: {v}' for k, v in sorted(warm['statuses'].items(), key=str))} | {answers} |",
        f"| latency p50 / p99 / max | {benchlib.fmt_ms(warm['p50'])} / {benchlib.fmt_ms(warm['p99'])} / {benchlib.fmt_ms(warm['max'])} "
        f"| {benchlib.fmt_ms(soak['p50'])} / {benchlib.fmt_ms(soak['p99'])} / {benchlib.fmt_ms(soak['max'])} |",
        f"| checks sent over 100 ms late | {warm['late']} | {soak['late']} |",
        f"| daemon RSS at the end | {start[0] / 1024:.2f} MiB | {end[0] / 1024:.2f} MiB "
        f"(range over the soak {rss_range[0] / 1024:.2f}-{rss_range[1] / 1024:.2f}, peak of the run {hwm / 1024:.2f}) |",
        f"| daemon RSS, lowest over the last 10 s (a leak would raise it too) "
        f"| {min((s[1] for s in warm_samples[-10:]), default=0) / 1024:.2f} MiB "
        f"| {min((s[1] for s in during[-10:]), default=0) / 1024:.2f} MiB |",
        f"| daemon open descriptors at the end | {start[1]} | {end[1]} (range {fd_range[0]}-{fd_range[1]}) |",
        "",
        f"/metrics scrapes: {sampler.scrapes}, {sampler.scrape_failures} failed. Collector poll errors during "
        "warm-up and soak: " + ", ".join(f"{c} {v:.0f}" for c, v in poll_errors.items())
        + "; collector_up at the end: " + ", ".join(f"{c} {up_after.get(c, 'missing')!s:.3}" for c in COLLECTORS) + ".",
        "",
        "Targets (issue #11): " + "; ".join(f"{name}: **{'met' if ok else 'NOT met'}**" for name, ok in verdicts) + ".",
    ]
    failures = sorted(set(soak["failures"] + warm["failures"]))
    if failures:
        lines += ["", "Failures seen: " + "; ".join(f"`{f}`" for f in failures[:5]) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
