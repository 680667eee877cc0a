#!/usr/bin/env python3
"""Shared by the bench-* scripts: build the current code, describe the machine, and replace the
script's own section of docs/benchmarks.md (between `<!-- NAME:begin -->` and `<!-- NAME:end -->`
markers), so that every figure in that file comes from a script's run and none is typed by hand.

Used from Python (`import benchlib`) and from shell scripts:

    python3 scripts/benchlib.py build                 # cargo build --release, or exit non-zero
    python3 scripts/benchlib.py machine [LOAD_BEFORE]   # one line: date, cores, load, shared?
    python3 scripts/benchlib.py load                  # the 1-minute load average, settled
    python3 scripts/benchlib.py commit                # the commit measured
    python3 scripts/benchlib.py write NAME FILE       # FILE's text becomes section NAME
"""

import datetime
import fcntl
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Every section below is written by the script its first line names, between its markers: run\n"
    "that command to reproduce it (on a quiet machine for comparable figures). Nothing here is\n"
    "typed by hand.\n"
)
# A 1-minute load average above this fraction of the cores means something else was running.
SHARED_LOAD = 0.5


def build():
    """Build the current code (release), so a run never measures a stale binary."""
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "clustercheckd"


def load1():
    return os.getloadavg()[0]


def settled_load(limit_seconds=180):
    """The 1-minute load average once it has settled under the shared threshold (waiting at most
    `limit_seconds`). The average lags by minutes, so right after a build or `sandbox.sh up` it
    still counts that work; waiting here keeps a run on an idle machine from being labelled
    shared, and a run that starts while other work goes on is labelled so."""
    threshold = SHARED_LOAD * os.cpu_count()
    deadline = time.monotonic() + limit_seconds
    load = load1()
    if load > threshold:
        print(f"benchlib: waiting up to {limit_seconds} s for the load average ({load:.2f}) to fall"
              f" under {threshold:.2f}", file=sys.stderr, flush=True)
    while load > threshold and time.monotonic() < deadline:
        time.sleep(5)
        load = load1()
    return load


def machine(load_before):
    """Date, cores and load (before the run and at its end), saying plainly when the machine was
    shared with other work. Judged by the load before the run: the load at its end includes the
    benchmark's own work (its clients, daemons and the clusters they load)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = os.cpu_count()
    load_end = load1()
    line = (
        f"{now}, {cores} cores (nproc), 1-minute load average {load_before:.2f} before the run and"
        f" {load_end:.2f} at its end, the benchmark's own work included"
    )
    if load_before > SHARED_LOAD * cores:
        line += (
            " — **a shared machine: other work was running**, so absolute figures are pessimistic;"
            " rerun on a quiet machine to compare"
        )
    return line


def uptime():
    """`uptime`'s line (the 1, 5 and 15-minute load averages), for a run's before/after."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return re.sub(r"\s+", " ", out) or f"load average {os.getloadavg()}"


def _ancestors():
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _flock_holders(path):
    """PIDs that /proc/locks names as holding a flock on `path` (matched by inode)."""
    inode = os.stat(path).st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
            holders.add(int(fields[4]))
    return holders


def cluster_lock(cluster, name):
    """Hold the sandbox's lock for `cluster` ($SANDBOX_DIR/locks/CLUSTER.lock, the one tests take
    with common::lock) for the rest of the process. Works both run directly (takes it, waiting for
    whoever holds it) and under `flock -o LOCK python3 SCRIPT` (an ancestor already holds it:
    taking it again on a new open file would wait for ourselves forever). Returns the open file
    (keep it) or None when an ancestor holds the lock."""
    path = Path(sandbox_env()["SANDBOX_DIR"]) / "locks" / f"{cluster}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return lock
    except BlockingIOError:
        pass
    if _flock_holders(path) & _ancestors():
        print(f"{name}: the {cluster} lock is held by a parent (flock -o): using it", flush=True)
        lock.close()
        return None
    print(f"{name}: waiting for the {cluster} lock ({path}) ...", flush=True)
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def commit():
    """The commit measured, "+changes" when the code differs from it (this file's doc aside)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip() or "unknown"
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", ":!docs/benchmarks.md"],
        cwd=REPO, capture_output=True, text=True,
    ).stdout.strip()
    return head + (" with uncommitted changes" if changed else "")


def write(name, section):
    """Replace section NAME of docs/benchmarks.md (or append it) with `section`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = DOC.read_text() if DOC.exists() else HEADER
    block = f"{begin}\n{section.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote section {name} of {DOC}", file=sys.stderr)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def status_kib(pid, field="VmRSS"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# Linux: let connect() choose the source port, so that a socket bound to an address (to spread
# load over several loopback addresses) does not reserve a port before knowing the destination.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def http_check(target, source, request=b"GET / HTTP/1.1\r\nHost: check\r\nConnection: close\r\n\r\n",
               timeout=3.0):
    """One check on a new connection from `source` (an address, the port left to the kernel), as
    HAProxy sends it: (seconds, HTTP status or None, error text or None)."""
    started = time.perf_counter()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((source, 0))
        s.connect(target)
        s.sendall(request)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.perf_counter() - started
        parts = answer.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            return elapsed, None, f"not an HTTP answer: {answer[:40]!r}"
        return elapsed, int(parts[1]), None
    except OSError as e:
        return time.perf_counter() - started, None, f"{type(e).__name__}: {e}"
    finally:
        s.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sandbox_env():
    """scripts/sandbox/env.sh as a dict."""
    out = subprocess.run(
        ["bash", "-c", f"set -a && source {REPO}/scripts/sandbox/env.sh && env"],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def sandbox(*args):
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "sandbox.sh"), *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"scripts/sandbox.sh {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout.strip()


def fmt_ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def main(argv):
    if argv[:1] == ["build"]:
        print(build())
    elif argv[:1] == ["commit"]:
        print(commit())
    elif argv[:1] == ["load"]:
        print(f"{settled_load():.2f}")
    elif argv[:1] == ["machine"]:
        print(machine(float(argv[1]) if len(argv) > 1 else load1()))
    elif len(argv) == 3 and argv[0] == "write":
        write(argv[1], Path(argv[2]).read_text())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
