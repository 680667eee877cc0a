#!/usr/bin/env bash
# Benchmark of the RabbitMQ queue scan (results in docs/benchmarks.md, "## RabbitMQ").
#
#   scripts/bench-rabbitmq.sh [QUEUES]      default 10000; needs `scripts/sandbox.sh up rabbitmq`
#
# Declares QUEUES durable queues ccdbench-* on node 1 (mirrored to all nodes by ha-all) unless
# they already exist (about 5 minutes for 10,000 here, and it makes the nodes heavy), then, in
# the same run and against the same node:
#   1. clustercheckd (release build) polling node 1: the time of each queue scan (from its own
#      clustercheckd_rabbitmq_api_call_duration_seconds{call="queues"}) and its peak RSS (VmHWM);
#   2. the way older exporters read queues: one unpaginated GET /api/queues with all statistics,
#      fetched with curl (time, size) and parsed whole with Python's json (time, peak RSS).
# Deletes the queues afterwards unless KEEP_QUEUES=1.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/sandbox/env.sh
source scripts/sandbox/env.sh

count=${1:-10000}
prefix=ccdbench
port=$((RABBITMQ_MGMT_PORT_BASE + 1))
amqp=$((RABBITMQ_AMQP_PORT_BASE + 1))
auth="$RABBITMQ_USER:$RABBITMQ_PASSWORD"
bin=${CARGO_TARGET_DIR:-target}/release/clustercheckd
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
cleanup() {
  [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
  if [ "${KEEP_QUEUES:-0}" != 1 ]; then scripts/sandbox.sh rabbitmq delete_queues "$prefix" >&2 || true; fi
}
trap cleanup EXIT

have=$(curl -sS -u "$auth" "http://127.0.0.1:$port/api/queues?disable_stats=true&columns=name" |
  python3 -c "import json,sys; print(sum(1 for q in json.load(sys.stdin) if q['name'].startswith('$prefix-')))")
if [ "$have" -lt "$count" ]; then
  echo "declaring $count queues (have $have)..." >&2
  scripts/sandbox.sh rabbitmq make_queues 1 "$count" "$prefix" >&2
fi
total=$(curl -sS -u "$auth" "http://127.0.0.1:$port/api/queues?disable_stats=true&columns=name" |
  python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
echo "queues in the cluster: $total"

# 1. clustercheckd: scans every queue_interval; sample its own timing after each.
check_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/c.toml" <<EOF
node_name = "bench"
[listen]
check = "127.0.0.1:$check_port"
[galera]
enabled = false
[rabbitmq]
enabled = true
interval = "2s"
queue_interval = "2s"
timeout = "10s"
management_url = "http://127.0.0.1:$port"
amqp_port = $amqp
user = "$RABBITMQ_USER"
password = "$RABBITMQ_PASSWORD"
EOF
"$bin" --config "$work/c.toml" 2>"$work/log" &
daemon_pid=$!
metric() { curl -s "http://127.0.0.1:$check_port/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
scans=()
last_calls=0
deadline=$((SECONDS + 60))
while [ ${#scans[@]} -lt 5 ] && [ $SECONDS -lt $deadline ]; do
  sleep 0.3
  calls=$(metric 'clustercheckd_rabbitmq_api_calls_total{call="queues"}')
  [ -n "$calls" ] || continue
  calls=${calls%.*}
  if [ "$calls" -gt "$last_calls" ]; then
    last_calls=$calls
    scans+=("$(metric 'clustercheckd_rabbitmq_api_call_duration_seconds{call="queues"}')")
  fi
done
up=$(metric 'clustercheckd_collector_up{collector="rabbitmq_queues"}')
seen=$(metric 'clustercheckd_rabbitmq_queues{type="classic"}')
unsync=$(metric 'clustercheckd_rabbitmq_queues_unsynchronised_mirrors')
bytes=$(metric 'clustercheckd_rabbitmq_queue_scan_bytes')
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$daemon_pid/status")
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$daemon_pid/status")
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=
echo "clustercheckd: scan up=$up classic_queues=$seen unsynchronised=$unsync listing_bytes=$bytes"
echo "clustercheckd: scan seconds: ${scans[*]}"
echo "clustercheckd: peak RSS ${hwm} kB, RSS at end ${rss} kB"

# 1b. The broker's share: the same request the daemon sends, fetched by curl and not parsed.
columns=$(sed -n '/^pub const COLUMNS/,/;/p' src/collectors/rabbitmq/queues.rs | tr -d '\n' | sed 's/.*"\(.*\)".*/\1/')
[ -n "$columns" ] || { echo "bench-rabbitmq: cannot read queues::COLUMNS" >&2; exit 1; }
for i in 1 2 3; do
  curl -sS -u "$auth" -o /dev/null -w "curl same request as the daemon: %{time_total} s, %{size_download} bytes\n" \
    "http://127.0.0.1:$port/api/queues?disable_stats=true&columns=$columns"
done

# 2. The old way: everything, unpaginated, parsed whole.
for i in 1 2 3; do
  curl -sS -u "$auth" -o "$work/full.json" -w "curl full /api/queues: %{time_total} s, %{size_download} bytes\n" \
    "http://127.0.0.1:$port/api/queues"
done
/usr/bin/time -f "python json.load of full /api/queues: %e s wall, peak RSS %M kB" python3 - "$port" "$auth" <<'EOF'
import base64, json, sys, time, urllib.request
port, auth = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/queues",
    headers={"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
t = time.monotonic()
queues = json.load(urllib.request.urlopen(req, timeout=120))
print(f"python: {len(queues)} queues fetched and parsed in {time.monotonic() - t:.3f} s")
EOF
/usr/bin/time -f "python interpreter alone: peak RSS %M kB" python3 -c 'import json, urllib.request'
