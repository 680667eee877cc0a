#!/usr/bin/env python3
"""End to end: three real HAProxy instances with the README's writer variant, and where they send
new client connections around every kind of writer change (issue 13, docs/writer.md).

    scripts/bench-writer-haproxy.py [--runs N] [--kinds desync,sigkill,sigstop,stop]
                                    [--sigstop-seconds S] [--keep] [--no-write]

Starts three daemons (target/release/clustercheckd, built first), one per sandbox Galera node,
each with `[writer] enabled = true` at the documented default timing (lease 5s, margin 1s, renew
1s, timeout 1s, HAProxy inter 2s fall 2 in `[haproxy]`, handover gap 7s) and the default Galera
poll (1 s), plus a maintenance file for the planned stop. Then three HAProxy instances, each with its
own config in a temporary directory and its own frontend on 127.0.0.1: the writer variant block
of README.md ("#### Writer variant"), read from the README itself and changed only in its
addresses and ports (the sandbox's nodes are all on 127.0.0.1, so each `check` line gets the
`port` of its node's daemon instead of one `default-server port 9200`), after a `global` /
`defaults` head (timeouts, a stats socket).

A sampler starts a round every 100 ms: in each, three new MySQL connections at the same instant,
one through each HAProxy frontend, each asking `SELECT @@port` (the sandbox's node N listens on
GALERA_SQL_PORT_BASE + N) within 1 s (connect, login, answer); a round "agrees" when all three
answered and were served by the same node. Another thread GETs /writer on the three daemons every
50 ms. Then, --runs times per kind, on whichever node is the writer at the time:

  desync   SET GLOBAL wsrep_desync=ON on the writer's node; OFF once the others agree on a new
           writer
  sigkill  SIGKILL to its mariadbd; restarted with the sandbox's own `galera start N` (rejoins by
           IST) once the others agree on a new writer
  sigstop  SIGSTOP to its mariadbd, SIGCONT --sigstop-seconds later (20); the sandbox's
           `up galera` then makes it rejoin
  stop     a planned stop as the README's systemd drop-in does it: `clustercheckd drain --wait`,
           then a clean stop (`galera stop N`: SIGTERM); restarted (`galera start N`) once the
           others agree on a new writer, then `drain --undo`
  blip     desync for --blip-seconds (1.5) only: the writer is unhealthy for about one poll and
           releases the lease, then is healthy again on `/` (as an IST donor is for a second
           when a node rejoins) while the others take over

Before each change the script waits for a steady state (3 nodes Synced and Primary, one writer,
every HAProxy showing its /writer line UP and every `/writer/backup` check UP, 5 s of agreeing rounds). For
each change it reports: the old and the new writer; the window from the first to the last round
that did not agree (relative to the change); when they all agree on the new writer for good; the
failed connections; and any new connection sent to the old writer after another node's /writer
said 200 (must be 0). Writes section `<!-- bench-writer-haproxy:begin/end -->` of
docs/benchmarks.md unless --no-write.

Holds the sandbox's Galera lock for the whole run: run it directly or under
`flock -o $SANDBOX_DIR/locks/galera.lock` (both work), and heals the cluster at the end (3 nodes
Synced, Primary), also after an error. Needs the sandbox Galera with the lease table
(`scripts/sandbox.sh galera setup_writer`) and haproxy. All traffic goes to 127.0.0.1.
"""

import argparse
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The MySQL probe (a stdlib MySQL client with one deadline per probe), the sandbox helpers and the
# way back to a healthy cluster are bench-failover.py's: reuse them rather than copy them.
_spec = importlib.util.spec_from_file_location("bench_failover", REPO / "scripts" / "bench-failover.py")
failover = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(failover)

NODES = (1, 2, 3)
ROUND_EVERY = 0.1
PROBE_TIMEOUT = 1.0
WRITER_EVERY = 0.05
# Seconds between the starts of the three HAProxy instances: their checks (inter 2s) then run at
# phases 0, 0.7 and 1.4 s of the interval.
STAGGER = 0.7
KINDS = ("desync", "sigkill", "sigstop", "stop", "blip")
KIND_TEXT = {
    "desync": "desync (`wsrep_desync=ON`)",
    "blip": "short desync (a blip)",
    "sigkill": "SIGKILL of mysqld",
    "sigstop": "SIGSTOP of mysqld",
    "stop": "planned stop (drain, stop)",
}
# A change must produce a new writer agreed by every HAProxy within this, or it counts as never.
GIVE_UP = 90.0
# Steady state before a change, and how long the new writer must hold all rounds before undoing.
HOLD = 5.0


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def die(message):
    raise SystemExit(f"bench-writer-haproxy: {message}")


# ---------------------------------------------------------------------------------------------
# The daemons and the HAProxy instances.


class Daemon:
    def __init__(self, binary, n, workdir):
        self.n = n
        self.binary = binary
        self.port = benchlib.free_port()
        self.config = workdir / f"clustercheckd-node{n}.toml"
        self.maintenance = workdir / f"node{n}.disabled"
        self.log = workdir / f"clustercheckd-node{n}.log"
        ready = workdir / f"clustercheckd-node{n}.ready"
        self.config.write_text(
            f'node_name = "bwh-node{n}"\n'
            f'[listen]\ncheck = "127.0.0.1:{self.port}"\n'
            f'[galera]\ndefaults_file = "{failover.sandbox("galera", "defaults_file", str(n))}"\n'
            f'maintenance_file = "{self.maintenance}"\n'
            # The drain (and a new writer) waits the writer variant's inter x (fall + 1).
            '[haproxy]\ninter = "2s"\nfall = 2\n'
            # Everything else of [writer] at its default (docs/writer.md, "Timing parameters").
            f'[writer]\nenabled = true\n'
            f'defaults_file = "{failover.sandbox("galera", "writer_defaults_file", str(n))}"\n'
        )
        checked = subprocess.run([str(binary), "--check-config", "--config", str(self.config)],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            die(f"{self.config} is invalid: {checked.stderr.strip()}")
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [str(binary), "--config", str(self.config), "--ready-file", str(ready)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not ready.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                die(f"clustercheckd for node{n} did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def writer_status(self):
        _, status, _ = benchlib.http_check(
            ("127.0.0.1", self.port), "127.0.0.1",
            request=b"GET /writer HTTP/1.0\r\n\r\n", timeout=0.5)
        return status or 0

    def metric(self, series):
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=3) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(series + " "):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def drain(self, *flags):
        return subprocess.run([str(self.binary), "drain", "-c", str(self.config), *flags],
                              capture_output=True, text=True)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def readme_writer_block():
    """The README's writer variant haproxy.cfg block, as written there."""
    text = (REPO / "README.md").read_text()
    section = text.split("#### Writer variant", 1)[1]
    return section.split("```", 2)[1].strip("\n")


def haproxy_config(front, daemons, socket_path):
    """The README block with only addresses and ports changed, after a global/defaults head."""
    sql_base = failover.SQL_PORT_BASE
    out = []
    for line in readme_writer_block().splitlines():
        line = line.replace("bind 10.0.0.10:3306", f"bind 127.0.0.1:{front}")
        # One check port per daemon on 127.0.0.1 instead of port 9200 on every controller.
        line = line.replace("default-server port 9200 ", "default-server ")
        m = re.match(r"(\s*server controller0(\d)(?:-backup)? )10\.0\.0\.1\2:3306( .*)$", line)
        if m:
            n = int(m.group(2))
            rest = m.group(3)
            if rest.strip() == "check":
                rest += f" port {daemons[n].port}"
            line = f"{m.group(1)}127.0.0.1:{sql_base + n}{rest}"
        out.append(line)
    block = "\n".join(out)
    if "10.0.0." in block or "9200" in block:
        die(f"the README's writer block changed shape; adapt haproxy_config:\n{block}")
    head = "\n".join([
        "global",
        "    maxconn 1024",
        f"    stats socket {socket_path} mode 600 level admin",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 2s",
        "    timeout client 1m",
        "    timeout server 1m",
        "    timeout check 2s",
        "",
    ])
    return head + "\n" + block + "\n"


class Haproxy:
    def __init__(self, index, workdir, daemons):
        self.index = index
        self.front = benchlib.free_port()
        self.socket = workdir / f"haproxy{index}.sock"
        self.config = workdir / f"haproxy{index}.cfg"
        self.config.write_text(haproxy_config(self.front, daemons, self.socket))
        checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(self.config)],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            die(f"haproxy -c refused {self.config}: {checked.stdout}{checked.stderr}")
        self.events = []  # (monotonic time, line): server state changes among HAProxy's messages
        self.proc = subprocess.Popen(["haproxy", "-f", str(self.config), "-db"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                die(f"haproxy {index} did not start: {self.events[-5:]}")
            time.sleep(0.05)

    def _read_stderr(self):
        with open(self.config.with_suffix(".log"), "w") as copy:
            for line in self.proc.stderr:
                self.events.append((time.monotonic(), line.rstrip()))
                copy.write(f"{time.monotonic():.3f} {line}")
                copy.flush()

    def states(self):
        """{(backend, server): status} from `show stat`."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(self.socket))
            s.sendall(b"show stat\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        lines = out.decode(errors="replace").splitlines()
        header = lines[0].lstrip("# ").split(",") if lines else []
        rows = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("svname", "").startswith("controller"):
                rows[(row["pxname"], row["svname"])] = row.get("status", "")
        return rows

    def up_events(self, since, server):
        pattern = re.compile(rf"galera_writer/{server} is UP")
        return [t for t, line in self.events if t >= since and pattern.search(line)]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# Sampling.


class Sampler:
    """Rounds of three simultaneous new connections (one per HAProxy), and /writer samples."""

    def __init__(self, haproxies, daemons):
        self.haproxies = haproxies
        self.daemons = daemons
        self.lock = threading.Lock()
        self.rounds = []   # [start, [result per HAProxy]]; a result is a node number or "error"
        self.writers = []  # (sent, answered, {node: status})
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._rounds, daemon=True),
                        threading.Thread(target=self._writers, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=3)
        time.sleep(PROBE_TIMEOUT + 0.2)  # the probes in flight

    def _probe(self, entry, k, port):
        node, error = failover.which_node(port, PROBE_TIMEOUT)
        with self.lock:
            entry[1][k] = node if node is not None else f"error: {error}"

    def _rounds(self):
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            entry = [time.monotonic(), [None] * len(self.haproxies)]
            with self.lock:
                self.rounds.append(entry)
            for k, h in enumerate(self.haproxies):
                threading.Thread(target=self._probe, args=(entry, k, h.front), daemon=True).start()
            next_at += ROUND_EVERY
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop_event.wait(delay)
            else:
                next_at = time.monotonic()  # late (a loaded machine): no burst to catch up

    def _writers(self):
        while not self.stop_event.is_set():
            sent = time.monotonic()
            codes = {d.n: d.writer_status() for d in self.daemons.values()}
            with self.lock:
                self.writers.append((sent, time.monotonic(), codes))
            self.stop_event.wait(WRITER_EVERY)

    def done_rounds(self, since=0.0, until=None):
        """Rounds started in [since, until) whose three probes have all finished."""
        with self.lock:
            return [(t, list(r)) for t, r in self.rounds
                    if t >= since and (until is None or t < until) and None not in r]

    def writer_samples(self, since=0.0, until=None):
        with self.lock:
            return [w for w in self.writers if w[0] >= since and (until is None or w[0] < until)]

    def current_writer(self, seconds=2.0):
        """The one node answering 200 on /writer in every sample of the last `seconds`, or None."""
        now = time.monotonic()
        samples = self.writer_samples(now - seconds)
        if len(samples) < seconds / WRITER_EVERY / 4:
            return None
        holders = {tuple(n for n, c in codes.items() if c == 200) for _, _, codes in samples}
        if len(holders) == 1:
            only = holders.pop()
            if len(only) == 1:
                return only[0]
        return None

    def all_agree_on(self, node, seconds):
        """True when every round of the last `seconds` was served by `node` through all three."""
        rounds = self.done_rounds(time.monotonic() - seconds - PROBE_TIMEOUT)
        return len(rounds) >= seconds / ROUND_EVERY / 2 and all(
            all(x == node for x in r) for _, r in rounds)


def agrees(result):
    return isinstance(result[0], int) and all(x == result[0] for x in result)


# ---------------------------------------------------------------------------------------------
# The changes.


def wait_for(what, condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            die(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


def steady(sampler, haproxies):
    """3 Synced Primary nodes, one writer, every HAProxy with that writer's line UP, the others'
    DOWN and every `/writer/backup` check UP, and HOLD seconds of rounds all served by the writer."""
    failover.heal()

    def ok():
        writer = sampler.current_writer()
        if writer is None:
            return False
        for h in haproxies:
            try:
                states = h.states()
            except OSError:
                return False
            for n in NODES:
                if not states.get(("galera_backup", f"controller0{n}"), "").startswith("UP"):
                    return False
                line = states.get(("galera_writer", f"controller0{n}"), "")
                if line.startswith("UP") != (n == writer):
                    return False
        return sampler.all_agree_on(writer, HOLD)
    wait_for("steady state (one writer, every HAProxy on it)", ok, 180)
    return sampler.current_writer()


def apply_change(kind, writer, daemons, args, notes):
    """Disturb the writer's node; returns when the change itself is done (for sigstop: resumed)."""
    if kind == "desync":
        failover.root_sql(writer, "SET GLOBAL wsrep_desync=ON")
    elif kind == "blip":
        failover.root_sql(writer, "SET GLOBAL wsrep_desync=ON")
        time.sleep(args.blip_seconds)
        failover.root_sql(writer, "SET GLOBAL wsrep_desync=OFF")
        notes["blip_end"] = time.monotonic() - notes["t0"]
    elif kind == "sigkill":
        os.kill(failover.mariadbd_pid(writer), signal.SIGKILL)
    elif kind == "sigstop":
        pid = failover.mariadbd_pid(writer)
        os.kill(pid, signal.SIGSTOP)
        notes["frozen_pid"] = pid
    elif kind == "stop":
        t = time.monotonic()
        out = daemons[writer].drain("--wait")
        if out.returncode != 0:
            die(f"drain --wait on node{writer} failed: {out.stderr.strip()}")
        notes["drained_after"] = time.monotonic() - t
        notes["drain_said"] = (out.stdout + out.stderr).strip().splitlines()[-1:]
        t = time.monotonic()
        failover.sandbox("galera", "stop", str(writer))
        notes["stopped_after"] = time.monotonic() - notes["t0"]


def undo_change(kind, writer, daemons, notes):
    notes["undo_start"] = time.monotonic() - notes["t0"]
    if kind == "desync":
        failover.root_sql(writer, "SET GLOBAL wsrep_desync=OFF")
    elif kind in ("sigkill", "stop"):
        notes["restart_at"] = time.monotonic() - notes["t0"]
        failover.sandbox("galera", "start", str(writer))
        failover.sandbox("galera", "wait_synced", str(writer), "180")
        if kind == "stop":
            out = daemons[writer].drain("--undo")
            if out.returncode != 0:
                die(f"drain --undo on node{writer} failed: {out.stderr.strip()}")
    notes["undone_at"] = time.monotonic() - notes["t0"]


def run_change(kind, sampler, haproxies, daemons, args):
    writer = steady(sampler, haproxies)
    t_base = time.monotonic() - HOLD
    notes = {"kind": kind, "old": writer}
    log(f"{kind}: writer is node{writer}")
    t0 = time.monotonic()
    notes["t0"] = t0
    apply_change(kind, writer, daemons, args, notes)
    if kind == "sigstop":
        # Frozen for --sigstop-seconds, then resumed; the measurement goes on throughout.
        deadline = t0 + args.sigstop_seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(notes["frozen_pid"], signal.SIGCONT)
        notes["resumed_at"] = time.monotonic() - t0

    def new_writer_agreed():
        # Every HAProxy has the new writer's /writer line UP (not only its backup line, which
        # a drain or a failure may already have made the one in use) and HOLD s of rounds on it.
        w = sampler.current_writer(1.0)
        if w is None or w == writer or not sampler.all_agree_on(w, HOLD):
            return False
        try:
            return all(h.states().get(("galera_writer", f"controller0{w}"), "").startswith("UP")
                       for h in haproxies)
        except OSError:
            return False
    deadline = t0 + GIVE_UP
    while not new_writer_agreed() and time.monotonic() < deadline:
        time.sleep(0.2)
    notes["agreed"] = new_writer_agreed()
    undo_change(kind, writer, daemons, notes)
    steady(sampler, haproxies)
    # A few seconds of steady rounds after the way back belong to this change too.
    time.sleep(HOLD)
    notes["t_end"] = time.monotonic()
    notes["t_base"] = t_base
    time.sleep(PROBE_TIMEOUT + 0.3)  # the rounds before t_end have all finished
    return notes


# ---------------------------------------------------------------------------------------------
# The analysis.


def window_of(bad, t0):
    """(from, to) of a list of (time, result) rounds, relative to t0, or None."""
    return (bad[0][0] - t0, bad[-1][0] - t0 + ROUND_EVERY) if bad else None


def episodes_of(bad, t0):
    """Stretches of non-agreeing rounds separated by at least 2 s of agreement."""
    if not bad:
        return []
    episodes, start, prev = [], bad[0][0], bad[0][0]
    for t, _ in bad[1:]:
        if t - prev > 2.0:
            episodes.append((start - t0, prev - t0 + ROUND_EVERY))
            start = t
        prev = t
    episodes.append((start - t0, prev - t0 + ROUND_EVERY))
    return episodes


def unhealthy_reason(daemon, before, clock):
    """The first "verdict changed: unhealthy" of `daemon` in the 15 s before monotonic time
    `before` (its log has UTC wall-clock stamps; `clock` = time.time() - time.monotonic())."""
    import datetime
    found = None
    for line in daemon.log.read_text(errors="replace").splitlines():
        m = re.match(r"(\S+Z) .*verdict changed: unhealthy .* to=(.*)$", line)
        if not m:
            continue
        stamp = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        at = stamp - clock
        if before - 15 <= at <= before:
            found = m.group(2).strip().rstrip(".")[:90]
            break
    return found or "?"


def analyse(notes, sampler, haproxies, daemons, clock):
    t0, t_end = notes["t0"], notes["t_end"]
    old = notes["old"]
    rounds = sampler.done_rounds(t0, t_end)
    samples = sampler.writer_samples(t0, t_end)
    # Every writer change in the span, in order: (node, first 200 seen, previous writer).
    handovers, current = [], old
    for sent, answered, codes in samples:
        holders = [n for n, c in codes.items() if c == 200]
        if len(holders) == 1 and holders[0] != current:
            handovers.append((holders[0], answered, current))
            current = holders[0]
    new = handovers[0][0] if handovers else None
    first_new_200 = handovers[0][1] if handovers else None
    double = sum(1 for _, _, codes in samples if sum(c == 200 for c in codes.values()) > 1)
    bad = [(t, r) for t, r in rounds if not agrees(r)]
    # The failover ends at the first round that starts HOLD s of rounds all on the new writer.
    hold = int(HOLD / ROUND_EVERY)
    stable = None
    if new is not None:
        for i in range(len(rounds) - hold + 1):
            if all(agrees(r) and r[0] == new for _, r in rounds[i:i + hold]):
                stable = rounds[i][0]
                break
    failover = [(t, r) for t, r in bad if stable is None or t < stable]
    later = [(t, r) for t, r in bad if stable is not None and t >= stable]
    split = [(t, r) for t, r in failover if len({x for x in r if isinstance(x, int)}) > 1]
    failures = [(t - t0, k, x) for t, r in rounds for k, x in enumerate(r) if not isinstance(x, int)]
    result = {
        "kind": notes["kind"], "old": old, "new": new, "rounds": len(rounds),
        "failed": len(failures), "probes": 3 * len(rounds), "double_200": double,
        "new_200": None if first_new_200 is None else first_new_200 - t0,
        "notes": notes, "failures": failures,
        "bad_rounds": len(failover), "split_rounds": len(split),
        "window": window_of(failover, t0), "split_window": window_of(split, t0),
        "agree_new": None if stable is None else stable - t0,
        "later": episodes_of(later, t0), "later_rounds": len(later),
        "windows_abs": [(a + t0, b + t0) for a, b in
                        ([window_of(failover, t0)] if failover else []) + episodes_of(later, t0)],
    }
    # For every handover: new connections sent to the previous writer after the next one's
    # /writer said 200 (until the following handover, if any). Must be 0.
    to_prev = []
    for i, (node, at, prev) in enumerate(handovers):
        until = handovers[i + 1][1] if i + 1 < len(handovers) else t_end
        hits = [t for t, r in rounds if at <= t < until for x in r if x == prev]
        to_prev.append((len(hits), (min(hits) - t0, max(hits) - t0) if hits else None))
    # Writer changes after the first (e.g. the new writer picked as a rejoining node's donor).
    result["more_handovers"] = [
        (node, at - t0, prev, unhealthy_reason(daemons[prev], at, clock), to_prev[i + 1])
        for i, (node, at, prev) in enumerate(handovers[1:])]
    result["to_old_after_new_200"] = to_prev[0][0] if to_prev else 0
    result["to_old_total"] = sum(n for n, _ in to_prev)
    kinds = {}
    for _, r in bad:
        key = " / ".join(f"node{x}" if isinstance(x, int) else "failed" for x in r)
        kinds[key] = kinds.get(key, 0) + 1
    result["bad_kinds"] = kinds
    # When each HAProxy marked the new writer's /writer line UP.
    result["haproxy_up"] = [
        (ups[0] - t0 if (ups := h.up_events(t0, f"controller0{new}")) else None) if new else None
        for h in haproxies]
    return result


def fmt(v, unit=" s"):
    return "-" if v is None else f"{v:.1f}{unit}"


def span(w):
    return "none" if w is None else f"{w[1] - w[0]:.1f} s ({w[0]:+.1f} / {w[1]:+.1f})"


def describe_failures(failures):
    """": +0.3 to +1.2 timeout x 4; ..." grouped by error (digits folded), with when."""
    groups = {}
    for at, _, error in failures:
        kind = re.sub(r"\d+", "N", error.removeprefix("error: "))[:50]
        groups.setdefault(kind, []).append(at)
    return "".join(
        f"; {len(ats)} x {kind} at {min(ats):+.1f}" + (f" to {max(ats):+.1f}" if len(ats) > 1 else "")
        for kind, ats in sorted(groups.items(), key=lambda g: min(g[1])))


def summary(values, digits=1):
    known = sorted(v for v in values if v is not None)
    if not known:
        return "-"
    text = f"{known[-1]:.{digits}f} / {statistics.median(known):.{digits}f}"
    if len(known) < len(values):
        text += f" ({len(values) - len(known)} never)"
    return text


def way_back(r):
    n = r["notes"]
    parts = []
    if r["kind"] == "stop" and "drained_after" in n:
        parts.append(f"drain --wait {n['drained_after']:.1f} s, mysqld stopped +{n['stopped_after']:.1f}")
    if "resumed_at" in n:
        parts.append(f"SIGCONT +{n['resumed_at']:.1f}")
    if r["kind"] == "desync":
        parts.append(f"desync OFF +{n['undo_start']:.1f}")
    if r["kind"] == "blip":
        parts.append(f"desync OFF +{n['blip_end']:.1f}")
    if "restart_at" in n:
        parts.append(f"restart +{n['restart_at']:.1f}, Synced +{n['undone_at']:.1f}")
    return "; ".join(parts)


def later_text(r):
    if not r["later"]:
        return "none"
    text = ", ".join(f"[{a:+.1f}, {b:+.1f}]" for a, b in r["later"])
    for node, at, prev, why, (hits, when) in r["more_handovers"]:
        text += (f"; handover node{prev} → node{node} (200 at {at:+.1f} s; node{prev}: {why};"
                 f" then **{hits}** new connections still sent to node{prev}"
                 + (f", {when[0]:+.1f} to {when[1]:+.1f})" if when else ")"))
    return text


def old_writer_note(results):
    """Every case of a new connection sent to the previous writer after the next one's 200."""
    cases = [(i, r["kind"], r["old"], r["new"], r["to_old_after_new_200"])
             for i, r in enumerate(results, 1) if r["to_old_after_new_200"]]
    cases += [(i, r["kind"] + ", later handover", prev, node, hits)
              for i, r in enumerate(results, 1) for node, _, prev, _, (hits, _) in r["more_handovers"]
              if hits]
    if not cases:
        return ""
    listed = "; ".join(f"change {i} ({kind}, node{old} → node{new}): {hits}"
                       for i, kind, old, new, hits in cases)
    return f"""**New connections sent to the previous writer after the next one's /writer said 200**:
{listed}. Such a connection goes through the previous writer's backup line (the `/writer` line
is DOWN by then: the handover gap sees to it). `/writer/backup` turns 503 on every node but the
new holder once its daemon has read the new generation (within `writer.renew_interval` of the
acquisition, while its lease connection works), and each HAProxy marks that backup line DOWN up to
`inter x (fall + 1)` later; a count here means that chain was slower than the gap.

"""


def section(args, results, outside, config_text, load_before, uptime_before, uptime_after, elapsed):
    command = "python3 scripts/bench-writer-haproxy.py" + (
        f" {' '.join(shlex.quote(a) for a in sys.argv[1:])}" if sys.argv[1:] else "")
    rows = [
        "| # | change | old → new writer | window: rounds not all on one node, from / to (rounds) | of which on different nodes | all on the new writer from | new writer's first 200 | the 3 HAProxies marked it UP | failed connections | way back | later windows | to the old writer after the new 200 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        ups = ", ".join(fmt(u) for u in r["haproxy_up"])
        rows.append(
            f"| {i} | {KIND_TEXT[r['kind']]} | node{r['old']} → {'node' + str(r['new']) if r['new'] else '**none**'}"
            f" | {span(r['window'])} ({r['bad_rounds']}) | {span(r['split_window'])} ({r['split_rounds']})"
            f" | {fmt(r['agree_new']) if r['agree_new'] is not None else '**never**'}"
            f" | {fmt(r['new_200'])} | {ups}"
            f" | {r['failed']} of {r['probes']}{describe_failures(r['failures'])}"
            f" | {way_back(r)} | {later_text(r)} | {r['to_old_after_new_200']} |")
    table = [
        "| change | runs | window, max / median | on different nodes, max / median | all on the new writer from, max / median | failed connections, max / median | later windows | to the old writer after the new 200 |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def length(w):
        return 0.0 if w is None else w[1] - w[0]
    for kind in [k for k in KINDS if any(r["kind"] == k for r in results)]:
        mine = [r for r in results if r["kind"] == kind]
        later = [r for r in mine if r["later"]]
        table.append(
            f"| {KIND_TEXT[kind]} | {len(mine)} | {summary([length(r['window']) for r in mine])} s"
            f" | {summary([length(r['split_window']) for r in mine])} s"
            f" | {summary([r['agree_new'] for r in mine])} s"
            f" | {summary([r['failed'] for r in mine], 0)}"
            f" | {len(later)} of {len(mine)} runs"
            + (f" ({sum(len(r['more_handovers']) for r in mine)} with a second handover)" if later else "")
            + f" | {sum(r['to_old_after_new_200'] for r in mine)}"
            + (f" (later handovers: {sum(r['to_old_total'] - r['to_old_after_new_200'] for r in mine)})"
               if any(r["more_handovers"] for r in mine) else "") + " |")
    kinds_seen = {}
    for r in results:
        for k, c in r["bad_kinds"].items():
            kinds_seen[k] = kinds_seen.get(k, 0) + c
    bad_text = "; ".join(f"{c} x {k}" for k, c in sorted(kinds_seen.items(), key=lambda x: -x[1]))
    double = sum(r["double_200"] for r in results)
    outside_bad = "".join(
        f" (change {i} +{at:.1f} s: {what})" for i, at, what in outside["bad_at"])
    return f"""## Writer lease through three HAProxy instances (end to end)

Command: `flock -o /var/tmp/clustercheckd-sandbox/locks/galera.lock {command}` (the script also
takes the Galera lock itself when run without `flock`). Commit {benchlib.commit()}; a run of
{elapsed / 60:.0f} minutes. Machine: {benchlib.machine(load_before)}. `uptime` before:
`{uptime_before}`; after: `{uptime_after}`.

Three daemons (release build) with `[writer]` at the documented defaults (lease 5 s, margin 1 s,
renew every 1 s, timeout 1 s, HAProxy inter 2 s fall 2, handover gap 7 s) and the default Galera
poll (interval 1 s, timeout 1 s), one per sandbox Galera node. Three HAProxy 2.6 instances, each
its own process and config, with the README's writer variant taken from README.md itself, only
addresses and ports changed (each `check` line gets its daemon's port, as the three daemons share
127.0.0.1); started {STAGGER:g} s apart, so that their checks run at different phases of `inter`,
as independent instances' would. A sampler starts a round every 100 ms: three new connections at
once, one through each HAProxy, each asking `SELECT @@port` within 1 s. A round **agrees** when
all three were served by the same node; a failed connection (refused, closed, or no answer within
1 s) never agrees. /writer of the three daemons is sampled every 50 ms.

Per change (times in seconds after it): the **window** runs from the first to the last
non-agreeing round before the three HAProxies **all send to the new writer** (the first round of
5 s of rounds all served by it, "all on the new writer from"); "of which on different nodes" is
the part where two HAProxies sent new connections to two different working nodes; "later windows"
are non-agreeing rounds after that (the way back: the old node rejoining). A "short desync" is
`wsrep_desync=ON` for {args.blip_seconds:g} s: the writer releases the lease and is healthy again
on `/` a second later, as an IST donor is. The way back: desync
OFF once every HAProxy has the new writer's `/writer` line UP and 5 s of rounds agree on it; a
killed or stopped node restarted then with the sandbox's `galera start` (it rejoins by IST), then
`drain --undo`; a frozen node resumed {args.sigstop_seconds:g} s after its SIGSTOP. Each change
then waits for 3 Synced nodes, one writer, every HAProxy with all `/writer/backup` checks UP, and 5 s of
agreeing rounds.

{chr(10).join(rows)}

Summary:

{chr(10).join(table)}

- Outside the windows (every round from 5 s before the first change to the end, less the windows
  and later windows): {outside['rounds']} rounds, {outside['bad']} did not agree{outside_bad}.
- New connections sent to the old writer after another node's /writer said 200: after the
  changes themselves {sum(r['to_old_after_new_200'] for r in results)}, after the later handovers
  {sum(r['to_old_total'] - r['to_old_after_new_200'] for r in results)} (each must be 0). /writer
  samples with two 200s: {double}.
- The non-agreeing rounds, by where each of the three HAProxies sent its connection: {bad_text or "none"}.

{old_writer_note(results)}HAProxy config (one of the three; ports chosen at run time):

```
{config_text.strip()}
```
"""


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=",".join(KINDS))
    parser.add_argument("--sigstop-seconds", type=float, default=20.0)
    parser.add_argument("--blip-seconds", type=float, default=1.5)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            die(f"unknown kind {k!r}")
    binary = benchlib.build()
    lock = benchlib.cluster_lock("galera", "bench-writer-haproxy")  # noqa: F841 (held to exit)
    load_before, uptime_before = benchlib.settled_load(), benchlib.uptime()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-writer-haproxy-"))
    daemons, haproxies, sampler, results = {}, [], None, []
    try:
        failover.heal()
        failover.sandbox("galera", "setup_writer")
        for n in NODES:
            daemons[n] = Daemon(binary, n, workdir)
        # Started STAGGER apart, so that their check phases differ as independent instances'
        # would (started together, all three would check within a few ms of each other).
        for i in range(3):
            if i:
                time.sleep(STAGGER)
            haproxies.append(Haproxy(i, workdir, daemons))
        log("HAProxy frontends on 127.0.0.1:" + ", ".join(str(h.front) for h in haproxies))
        sampler = Sampler(haproxies, daemons).start()
        clock = time.time() - time.monotonic()
        t_first = None
        for _ in range(args.runs):
            for kind in kinds:
                notes = run_change(kind, sampler, haproxies, daemons, args)
                t_first = t_first or notes["t_base"]
                r = analyse(notes, sampler, haproxies, daemons, clock)
                results.append(r)
                log(f"  {kind}: node{r['old']} -> node{r['new']}, window {r['window']},"
                    f" different nodes {r['split_window']}, later {later_text(r)},"
                    f" all on the new writer from {fmt(r['agree_new'])},"
                    f" new 200 at {fmt(r['new_200'])}, HAProxy UP at {r['haproxy_up']},"
                    f" failed {r['failed']}/{r['probes']}, to old after new 200"
                    f" {r['to_old_after_new_200']} (all handovers {r['to_old_total']}),"
                    f" kinds {r['bad_kinds']}")
        sampler.stop()
        # Outside the windows: every round from the first steady state on, less the windows.
        windows = [w for r in results for w in r["windows_abs"]]
        outside = {"rounds": 0, "bad": 0, "bad_at": []}
        for t, r in sampler.done_rounds(t_first):
            if any(a <= t < b for a, b in windows):
                continue
            outside["rounds"] += 1
            if not agrees(r):
                outside["bad"] += 1
                i, last = max(((i, x) for i, x in enumerate(results, 1)
                               if x["notes"]["t0"] <= t), key=lambda x: x[1]["notes"]["t0"],
                              default=(0, None))
                what = " / ".join(f"node{x}" if isinstance(x, int) else x for x in r)
                outside["bad_at"].append((i, t - last["notes"]["t0"] if last else 0.0, what))
        # The raw samples, for a closer look (--keep).
        (workdir / "samples.json").write_text(json.dumps({
            "rounds": sampler.done_rounds(), "writers": sampler.writer_samples(),
            "changes": [{k: v for k, v in r["notes"].items()} for r in results]}))
        config_text = haproxies[0].config.read_text().replace(str(workdir), "$TMPDIR")
    finally:
        if sampler is not None:
            sampler.stop_event.set()
        for h in haproxies:
            h.stop()
        for d in daemons.values():
            d.stop()
        for n in NODES:  # never leave a node frozen or desynced (the drain's file goes with workdir)
            pid = failover.mariadbd_pid(n)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
        for n in NODES:
            if failover.mariadbd_pid(n) is not None:
                failover.sandbox("galera", "sql", str(n), "SET GLOBAL wsrep_desync=OFF",
                                 check=False)
        failover.heal()
        if args.keep:
            log(f"kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    text = section(args, results, outside, config_text, load_before, uptime_before,
                   benchlib.uptime(), time.monotonic() - started)
    print(text)
    if not args.no_write:
        benchlib.write("bench-writer-haproxy", text)


if __name__ == "__main__":
    main()
