#!/usr/bin/env bash
# Run the fault tests and write the fault matrix into docs/reliability.md.
#
#   scripts/fault-matrix.sh            (needs the sandbox: scripts/sandbox.sh up; several minutes)
#   FAULT_MATRIX_ONLY=pacemaker,faults scripts/fault-matrix.sh
#                                      only those test binaries' rows: run, check, print the
#                                      table; the document is not touched
#
# Each listed test records, at the moment it observes a fault's verdict, the answer it saw and
# the time since its clock started (tests/common/fault_matrix.rs, one JSON line per row in
# $FAULT_MATRIX_OUT). This script runs exactly those tests, one binary at a time and one test at
# a time (their figures are times: they should not share the 2 cores with each other), then
# replaces what lies between <!-- faults:begin --> and <!-- faults:end --> with a table made
# from the records. A failing test, or a listed fault without a record, fails the script and
# leaves the document as it was.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# binary | test | fault (exactly as the test records it). Every fault must be recorded.
MATRIX='
galera     | killed_mysqld_is_503_and_restarted_is_200 | mysqld killed (SIGKILL)
galera     | hung_mysqld_is_503_fast_and_stays_503_until_it_really_rejoined | mysqld hung (SIGSTOP)
galera     | desync_turns_503_within_an_interval_and_back | Galera node desynced (wsrep_desync=ON)
faults     | donor_during_a_real_sst_is_503_unless_available_when_donor | Galera donor during a real rsync SST
faults     | donor_during_a_real_sst_is_503_unless_available_when_donor | Galera donor during a real rsync SST, available_when_donor = true
galera     | survivor_of_two_kills_is_non_primary_but_of_two_clean_stops_is_primary | non-Primary survivor (two of three nodes SIGKILLed)
faults     | max_connections_exhausted_keeps_the_running_daemon_and_refuses_a_new_one | MariaDB max_connections exhausted: the running daemon
faults     | max_connections_exhausted_keeps_the_running_daemon_and_refuses_a_new_one | MariaDB max_connections exhausted: a daemon started meanwhile
rabbitmq   | stopped_ram_node_is_seen_stopped_by_its_peers_and_503_by_itself | RabbitMQ node stopped (stop_app on node 3)
rabbitmq   | memory_alarm_is_named_everywhere_and_fails_only_the_strict_local_node | RabbitMQ memory alarm on node 2
rabbitmq   | memory_alarm_is_named_everywhere_and_fails_only_the_strict_local_node | RabbitMQ memory alarm on node 2, fail_on_local_alarm = true
faults     | rabbitmq_management_api_hung_is_503_within_its_timeout_and_the_rest_answers | RabbitMQ management API hung (beam.smp SIGSTOP 10 s < net_ticktime)
pacemaker  | broken_crm_mon_reports_down_with_a_reason_and_galera_keeps_answering | crm_mon hanging
pacemaker  | offline_vip_moved_follows_to_controller02 | VIP moved controller01 -> 02, seen by the old holder
pacemaker  | offline_vip_moved_follows_to_controller02 | VIP moved controller01 -> 02, seen by the new holder
faults     | daemon_restart_answers_its_first_real_verdict_soon_after_listening | clustercheckd restarted: first answer once listening
faults     | daemon_restart_answers_its_first_real_verdict_soon_after_listening | clustercheckd restarted: first real verdict
'
DOC=${FAULT_MATRIX_DOC:-docs/reliability.md}

out=$(mktemp /tmp/fault-matrix.XXXXXX.jsonl)
trap 'rm -f "$out"' EXIT
export FAULT_MATRIX_OUT=$out

ONLY=${FAULT_MATRIX_ONLY:-}
if [ -n "$ONLY" ]; then
  MATRIX=$(printf '%s\n' "$MATRIX" | awk -F'|' -v only=",$ONLY," '{b=$1; gsub(/[ \t]/, "", b)} b != "" && index(only, "," b ",")')
  [ -n "$MATRIX" ] || { echo "fault-matrix: no row for FAULT_MATRIX_ONLY=$ONLY" >&2; exit 2; }
fi
rows() { printf '%s\n' "$MATRIX" | sed '/^[[:space:]]*$/d'; }
field() { awk -F'|' -v f="$1" '{gsub(/^[ \t]+|[ \t]+$/, "", $f); print $f}'; }

cargo build --release --all-targets
started=$(date +%s)
for binary in $(rows | field 1 | awk '!seen[$0]++'); do
  mapfile -t tests < <(rows | awk -F'|' -v b="$binary" '{gsub(/[ \t]/, "", $1); gsub(/^[ \t]+|[ \t]+$/, "", $2)} $1 == b {print $2}' | awk '!seen[$0]++')
  echo "fault-matrix: cargo test --release --test $binary -- --exact --test-threads=1 ${tests[*]}" >&2
  cargo test --release --test "$binary" -- --exact --test-threads=1 "${tests[@]}"
done
took=$(( $(date +%s) - started ))

MATRIX="$MATRIX" DOC="$DOC" TOOK="$took" OUT="$out" ONLY="$ONLY" python3 - <<'EOF'
import json, os, re, subprocess, sys, datetime

expected = []
for line in os.environ["MATRIX"].strip().splitlines():
    binary, test, fault = (p.strip() for p in line.split("|", 2))
    expected.append((binary, test, fault))
records = [json.loads(l) for l in open(os.environ["OUT"]) if l.strip()]

missing = [e for e in expected
           if not any(r["fault"] == e[2] and r["test"] == f"{e[0]}::{e[1]}" for r in records)]
if missing:
    for binary, test, fault in missing:
        print(f"fault-matrix: no record of '{fault}' from {binary}::{test}", file=sys.stderr)
    sys.exit(1)
listed = {e[2] for e in expected}
unlisted = sorted({r["fault"] for r in records} - listed)
if unlisted:
    print(f"fault-matrix: recorded but not listed (add them to MATRIX): {unlisted}", file=sys.stderr)
    sys.exit(1)

def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")

lines = ["| fault | endpoint | verdict | reason | time to verdict | clock from | test |",
         "|---|---|---|---|---|---|---|"]
for binary, test, fault in expected:
    # One row per endpoint; a test that recorded one twice (a loop) counts with its last.
    last = {}
    for rec in records:
        if rec["fault"] == fault and rec["test"] == f"{binary}::{test}":
            last[rec["endpoint"]] = rec
    for rec in last.values():
        lines.append(f"| {cell(fault)} | `{cell(rec['endpoint'])}` | {rec['verdict']} | "
                     f"{cell(rec['reason'])} | {rec['seconds']:.2f} s | {cell(rec['since'])} | "
                     f"`{binary}::{test}` |")

load = open("/proc/loadavg").read().split()[:3]
cores = os.cpu_count()
head = (f"Written by `scripts/fault-matrix.sh` on {datetime.date.today().isoformat()} "
        f"({cores} cores, load {' '.join(load)} at the end; the tests took {os.environ['TOOK']} s). "
        "Daemons under test poll every 1 s (Galera timeout 1 s; RabbitMQ timeout and probe "
        "timeout 2 s; Pacemaker timeout 1 s for the hanging crm_mon), as in tests/common.")
block = "<!-- faults:begin -->\n" + head + "\n\n" + "\n".join(lines) + "\n<!-- faults:end -->"
if os.environ["ONLY"]:
    print("\n".join(lines))
    print(f"fault-matrix: FAULT_MATRIX_ONLY={os.environ['ONLY']}: every listed row recorded; {os.environ['DOC']} not touched", file=sys.stderr)
    sys.exit(0)

doc = os.environ["DOC"]
text = open(doc).read()
pattern = re.compile(r"<!-- faults:begin -->.*?<!-- faults:end -->", re.S)
if not pattern.search(text):
    print(f"fault-matrix: {doc} has no <!-- faults:begin --> / <!-- faults:end --> markers", file=sys.stderr)
    sys.exit(1)
open(doc, "w").write(pattern.sub(lambda _: block, text))
print(f"fault-matrix: {len(lines) - 2} rows written to {doc}", file=sys.stderr)
EOF
