#!/usr/bin/env bash
# Run every fuzz target for a bounded time and record the runs in docs/reliability.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]   (default 60 s, every target; not in CI)
#
# With TARGETs, only their rows of the table are rewritten (e.g. a target added later); every
# row says when and under which load it was run.
# Needs the nightly toolchain (rustup) and cargo-fuzz (`cargo install cargo-fuzz`, done here when
# missing). Seeds come from what real servers printed (tests/fixtures, tests/golden), so the
# fuzzer starts from valid inputs. A crash stops the run with the input under
# fuzz/artifacts/<target>/; turn it into a regression test on stable before fixing it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "fuzz: needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }

seed() { # target, files...
  local dir=fuzz/corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/seed-$(basename "$f")"; done
}
seed crm_mon_xml tests/fixtures/pacemaker/*.crm_mon*.xml
seed cib_constraints_xml tests/fixtures/pacemaker/*.constraints.xml
seed cib_resources_xml tests/fixtures/pacemaker/*.resources.xml
seed config_file config/clustercheckd.toml
seed web_config config/web-config.yml
seed galera_state_files tests/fixtures/galera-state/*.dat
printf '[client]\nuser=clustercheck\npassword="p#w"\nsocket=/run/mysqld/mysqld.sock\n' > /tmp/fuzz-seed.cnf
seed option_files /tmp/fuzz-seed.cnf
printf 'OPTIONS / HTTP/1.0\r\n\r\n' > /tmp/fuzz-seed.http
printf 'GET /vip/vip HTTP/1.1\r\nHost: x\r\n\r\n' > /tmp/fuzz-seed2.http
seed http_request /tmp/fuzz-seed.http /tmp/fuzz-seed2.http
mkdir -p fuzz/corpus/galera_status_rows fuzz/corpus/rabbitmq_api_json fuzz/corpus/rabbitmq_queue_stream

shift || true
targets=${*:-$(cd fuzz && cargo +nightly fuzz list)}
results=$(mktemp)
for target in $targets; do
  echo "==> fuzzing $target for ${seconds}s" >&2
  # Runs per second depend on what else the machine does: the load is recorded beside them.
  load=$(cut -d' ' -f1 /proc/loadavg)
  log=$(mktemp)
  status=ok
  # -max_total_time bounds the run; -rss_limit_mb keeps a runaway input from eating the machine.
  if ! (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10) >"$log" 2>&1; then
    status="CRASH (see fuzz/artifacts/$target/)"
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  corpus=$(find "fuzz/corpus/$target" -type f | wc -l)
  echo "| \`$target\` | $(date -u +%Y-%m-%d) | $load | ${seconds} s | $runs | $cov | $corpus | $status |" >> "$results"
  tail -3 "$log" >&2
  rm -f "$log"
done

doc=docs/reliability.md
python3 - "$doc" "$results" "$(nproc)" "$(cd fuzz && cargo +nightly --version)" <<'PY'
import re, sys
doc, results, cores, toolchain = sys.argv[1:]
begin, end = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"
text = open(doc).read() if __import__("os").path.exists(doc) else "# Reliability\n"
if begin not in text:
    text = text.rstrip("\n") + f"\n\n## Fuzzing\n\n{begin}\n{end}\n"
i, j = text.index(begin), text.index(end) + len(end)
target = lambda row: row.split("|")[1].strip()
# Rows of earlier runs stay unless this run measured their target again.
rows = {target(r): r for r in text[i:j].splitlines() if r.startswith("| `")}
rows.update({target(r): r for r in open(results).read().splitlines() if r.startswith("| `")})
section = "\n".join([
    begin,
    f"Written by `scripts/fuzz.sh` ({cores} cores, {toolchain}); each row is one bounded run of one",
    "target, with the date and the machine's 1-minute load when it started.",
    "",
    "| target | run on | load | time | runs | coverage (edges) | corpus files | result |",
    "|---|---|---|---|---|---|---|---|",
    *[rows[k] for k in sorted(rows)],
    end,
])
open(doc, "w").write(text[:i] + section + text[j:])
PY
rm -f "$results"
grep -q CRASH "$doc" && { echo "fuzz: a target crashed; see $doc" >&2; exit 1; }
echo "fuzz: no crash; results in $doc" >&2
