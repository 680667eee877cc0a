#!/usr/bin/env bash
# Benchmark /metrics of clustercheckd against prometheus-hacluster-exporter on the same live
# Pacemaker cluster, in the same run.
#
#   scripts/bench-pacemaker.sh [--duration SECONDS] [--no-write]
#
# clustercheckd answers /metrics from its last snapshot (crm_mon runs every `interval` in the
# background); ha_cluster_exporter (Debian's prometheus-hacluster-exporter) runs crm_mon, cibadmin
# and corosync tools on every scrape. For each, wrk scrapes /metrics at concurrency 1 for
# DURATION seconds (default 15): latency p50/p99 and scrapes per second. CPU per scrape is the
# exporter's own CPU plus its children's (utime+stime+cutime+cstime from /proc) plus the CIB
# manager's (pacemaker-based answers every crm_mon/cibadmin). Then the CPU cost of one
# clustercheckd poll: the same counters over an idle window with interval = 1 s, divided by the
# polls. Each is measured alone: clustercheckd (and its polling, which also loads pacemaker-based)
# is stopped before ha_cluster_exporter starts. Errors (wrk's socket errors and non-2xx answers)
# are counted in the table. Results go to docs/benchmarks.md, between the
# `<!-- bench-pacemaker:begin/end -->` markers, unless --no-write.
#
# Needs root, the sandbox (`scripts/sandbox.sh up pacemaker`, started here if needed) and wrk. The
# current code is built first (cargo build --release; CLUSTERCHECKD_BIN overrides). apt-get installs
# prometheus-hacluster-exporter when it is missing. Traffic goes to 127.0.0.1 only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
DURATION=15
WRITE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    *) echo "usage: $0 [--duration SECONDS] [--no-write]" >&2; exit 2 ;;
  esac
done
die() { echo "bench-pacemaker: $*" >&2; exit 1; }
say() { echo "bench-pacemaker: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root (crm_mon needs the haclient group or root)"
command -v wrk >/dev/null || die "wrk is missing: run scripts/install-deps.sh"
if ! command -v ha_cluster_exporter >/dev/null; then
  say "installing prometheus-hacluster-exporter"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-hacluster-exporter >/dev/null \
    || die "apt-get install prometheus-hacluster-exporter failed"
fi
load_before=$(python3 "$repo/scripts/benchlib.py" load)
bash "$repo/scripts/sandbox.sh" up pacemaker
node=$(bash "$repo/scripts/sandbox.sh" pacemaker node_name)
if [ -n "${CLUSTERCHECKD_BIN:-}" ]; then
  BIN=$CLUSTERCHECKD_BIN
else
  BIN=$(python3 "$repo/scripts/benchlib.py" build) || die "cargo build --release failed"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# cpu_ticks PID: the process's and its waited-for children's CPU, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
cib_pid() { pgrep -f '^/usr/lib/pacemaker/pacemaker-based' | head -n1; }
hz=$(getconf CLK_TCK)
ms() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", t * 1000 / hz / n; else print "n/a" }'; }
wait_http() {
  local i; for i in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  die "nothing answers $1"
}

start_clustercheckd() {  # start_clustercheckd PORT INTERVAL
  cat >"$work/ccd-$1.toml" <<TOML
node_name = "$node"
[listen]
check = "127.0.0.1:$1"
[galera]
enabled = false
[pacemaker]
enabled = true
interval = "$2"
[vip]
enabled = true
[[vip.vips]]
name = "vip"
resource = "vip"
address = "192.0.2.10"
TOML
  "$BIN" --config "$work/ccd-$1.toml" 2>"$work/ccd-$1.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$1/metrics"
  sleep 2  # first poll done
}

# errors WRK_OUTPUT: socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
errors() {
  awk '/Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } /Non-2xx or 3xx responses:/ { n += $5 }
       END { print n + 0 }' <<<"$1"
}

# scrape NAME PID URL: wrk at concurrency 1; prints "p50 p99 rps requests ms_cpu_per_scrape ms_cib_per_scrape errors"
scrape() {
  local name=$1 pid=$2 url=$3 cib c0 c1 b0 b1 out
  cib=$(cib_pid)
  c0=$(cpu_ticks "$pid"); b0=$(cpu_ticks "$cib")
  out=$(wrk -t1 -c1 -d"${DURATION}s" --latency -H 'Connection: close' "$url")
  c1=$(cpu_ticks "$pid"); b1=$(cpu_ticks "$cib")
  echo "$out" >"$work/wrk-$name.txt"
  local p50 p99 rps reqs
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  rps=$(awk '$1 == "Requests/sec:" { print $2 }' <<<"$out")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then say "$name: $(grep -E 'Non-2xx|Socket errors' <<<"$out")"; fi
  echo "$p50 $p99 $rps $reqs $(ms $((c1 - c0)) "$reqs") $(ms $((b1 - b0)) "$reqs") $(errors "$out")"
}

port_ccd=$(free_port)
start_clustercheckd "$port_ccd" 5s
ccd_pid=${pids[-1]}
say "scraping clustercheckd for ${DURATION}s"
read -r c_p50 c_p99 c_rps c_reqs c_cpu c_cib c_err < <(scrape clustercheckd "$ccd_pid" "http://127.0.0.1:$port_ccd/metrics")
c_series=$(curl -s "http://127.0.0.1:$port_ccd/metrics" | grep -c '^clustercheckd_')
# Stop clustercheckd, polling included, so it does not load pacemaker-based while the peer runs.
kill "$ccd_pid"; wait "$ccd_pid" 2>/dev/null || true

port_hae=$(free_port)
ha_cluster_exporter --web.listen-address="127.0.0.1:$port_hae" --log.level=warn >"$work/hae.log" 2>&1 &
pids+=($!)
hae_pid=$!
wait_http "http://127.0.0.1:$port_hae/metrics"
say "scraping ha_cluster_exporter for ${DURATION}s"
read -r h_p50 h_p99 h_rps h_reqs h_cpu h_cib h_err < <(scrape hacluster "$hae_pid" "http://127.0.0.1:$port_hae/metrics")
h_series=$(curl -s "http://127.0.0.1:$port_hae/metrics" | grep -c '^ha_cluster_')
kill "$hae_pid"; wait "$hae_pid" 2>/dev/null || true

# The cost of one poll: a daemon polling every second, left idle for the window.
port_poll=$(free_port)
start_clustercheckd "$port_poll" 1s
poll_pid=${pids[-1]}
window=$(( DURATION > 20 ? DURATION : 20 ))
say "measuring ${window} polls at interval 1s"
cib=$(cib_pid)
p0=$(cpu_ticks "$poll_pid"); b0=$(cpu_ticks "$cib")
sleep "$window"
p1=$(cpu_ticks "$poll_pid"); b1=$(cpu_ticks "$cib")
poll_cpu=$(ms $((p1 - p0)) "$window"); poll_cib=$(ms $((b1 - b0)) "$window")
poll_dur=$(curl -s "http://127.0.0.1:$port_poll/metrics" | awk '/^clustercheckd_collector_poll_duration_seconds\{collector="pacemaker"\}/ { printf "%.1f", $2 * 1000 }')
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$poll_pid/status")

ratio() { awk -v a="$1" -v b="$2" 'function v(x) { if (x ~ /us$/) return x + 0; if (x ~ /ms$/) return x * 1000; if (x ~ /s$/) return x * 1000000; return x } BEGIN { if (v(b) > 0) printf "%.0f", v(a) / v(b); else print "n/a" }'; }
hae_version=$(dpkg-query -W -f '${Version}' prometheus-hacluster-exporter 2>/dev/null || echo unknown)
pcmk_version=$(pacemakerd --version 2>/dev/null | head -n1)
section=$(cat <<MD
## Pacemaker

Command: \`scripts/bench-pacemaker.sh --duration $DURATION\` ($(python3 "$repo/scripts/benchlib.py" machine "$load_before"); commit $(python3 "$repo/scripts/benchlib.py" commit)), $pcmk_version,
live single-node sandbox cluster (3 resources: IPaddr2 vip, lb-haproxy clone, dummy), clustercheckd
release build, prometheus-hacluster-exporter $hae_version. wrk, one connection, \`Connection: close\`,
${DURATION} s each, one after the other in the same run, each alone (the other stopped).

/metrics, served from clustercheckd's snapshot versus ha_cluster_exporter, which runs crm_mon (and
cibadmin, corosync tools) on every scrape. CPU per scrape counts the exporter, its children and the
CIB manager (pacemaker-based), which answers every crm_mon and cibadmin call.

| | clustercheckd | ha_cluster_exporter | ratio |
|---|---|---|---|
| latency p50 | $c_p50 | $h_p50 | $(ratio "$h_p50" "$c_p50")x |
| latency p99 | $c_p99 | $h_p99 | $(ratio "$h_p99" "$c_p99")x |
| scrapes/s | $c_rps | $h_rps | |
| scrapes in ${DURATION} s | $c_reqs | $h_reqs | |
| errors (socket errors and non-2xx answers) | $c_err of $c_reqs | $h_err of $h_reqs | |
| exporter CPU per scrape (ms, incl. children) | $c_cpu | $h_cpu | $(ratio "$h_cpu" "$c_cpu")x |
| pacemaker-based CPU per scrape (ms) | $c_cib | $h_cib | |
| series on the page | $c_series | $h_series | |

One clustercheckd poll (crm_mon -1 --output-as=xml and cibadmin --query --scope constraints side by
side, parse, getifaddrs), measured over ${window} s at interval 1 s: **$poll_cpu ms CPU** in the
daemon and its children plus **$poll_cib ms** in pacemaker-based; last poll took $poll_dur ms wall
time. RSS $((rss_kb / 1024)) MiB. At the default interval of 5 s that is about $(awk -v a="$poll_cpu" -v b="$poll_cib" 'BEGIN { printf "%.2f", (a + b) / 5 / 10 }')% of one core,
independent of how often Prometheus (or anything else) scrapes.

This run: clustercheckd's scrape p99 is $(ratio "$h_p99" "$c_p99")x lower than ha_cluster_exporter's and
costs $(ratio "$h_cpu" "$c_cpu")x less CPU per scrape; errors: $( [ "$c_err" = 0 ] && [ "$h_err" = 0 ] && echo "none on either side" || echo "**clustercheckd $c_err, ha_cluster_exporter $h_err**").
MD
)
echo "$section"
if [ "$WRITE" = 1 ]; then
  printf '%s\n' "$section" >"$work/section.md"
  python3 "$repo/scripts/benchlib.py" write bench-pacemaker "$work/section.md"
fi
