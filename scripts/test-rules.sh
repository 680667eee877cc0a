#!/usr/bin/env bash
# Check and unit-test the Prometheus rules in alerts/:
#   1. `promtool check rules` on every alerts/*.rules.yml (syntax, PromQL, duplicate names);
#   2. `promtool test rules` on every alerts/tests/*.test.yml;
#   3. our conventions, which promtool does not know: every alert has a severity of critical,
#      warning or info, a summary, a description and a runbook_url whose anchor is a heading of
#      docs/runbook.md, and the tests hold, for every alert, a case where it fires, a case where it
#      does not (exp_alerts: []), and an ALERTS{alertstate="pending"} check (the evaluation just
#      before `for:` elapses).
# Exit status 0 only when all three pass. promtool missing is a failure, not a skip: install
# Debian's `prometheus` package (scripts/install-deps.sh).
#
#   scripts/test-rules.sh            all rule files and tests
#   PROMTOOL=/path/to/promtool scripts/test-rules.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "test-rules: FAILED: '$promtool' not found; install Debian's 'prometheus' package (it ships promtool)" >&2
  exit 1
fi

shopt -s nullglob
rules=(alerts/*.rules.yml)
tests=(alerts/tests/*.test.yml)
[ ${#rules[@]} -gt 0 ] || { echo "test-rules: FAILED: no alerts/*.rules.yml" >&2; exit 1; }
[ ${#tests[@]} -gt 0 ] || { echo "test-rules: FAILED: no alerts/tests/*.test.yml" >&2; exit 1; }

echo "== promtool check rules"
"$promtool" check rules "${rules[@]}"
echo "== promtool test rules"
"$promtool" test rules "${tests[@]}"
echo "== conventions"
python3 - "${rules[@]}" -- "${tests[@]}" <<'PY'
import re, sys

args = sys.argv[1:]
sep = args.index("--")
rule_files, test_files = args[:sep], args[sep + 1:]

def anchor(heading):
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes.
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")

runbook = open("docs/runbook.md", encoding="utf-8").read() if __import__("os").path.exists("docs/runbook.md") else ""
anchors = {anchor(h) for h in re.findall(r"(?m)^#{1,6} +(.+?) *$", runbook)}

problems = []
alerts = []
for path in rule_files:
    text = open(path, encoding="utf-8").read()
    # Each rule starts with "- alert:" or "- record:" at the same indentation.
    blocks = re.split(r"(?m)^(?=\s*- (?:alert|record): )", text)
    for block in blocks:
        m = re.match(r"\s*- alert: *(\S+)", block)
        if not m:
            continue
        name = m.group(1)
        alerts.append(name)
        sev = re.search(r"(?m)^\s+severity: *[\"']?(\w+)", block)
        if not sev or sev.group(1) not in ("critical", "warning", "info"):
            problems.append(f"{path}: {name}: severity label missing or not critical/warning/info")
        for key in ("summary", "description", "runbook_url"):
            if not re.search(rf"(?m)^\s+{key}: *\S", block):
                problems.append(f"{path}: {name}: annotation {key} missing")
        if not re.search(r"(?s)description:.*\{\{", block):
            problems.append(f"{path}: {name}: description is not templated")
        url = re.search(r"(?m)^\s+runbook_url: *(\S+)", block)
        if url:
            target = url.group(1)
            if not target.startswith("docs/runbook.md#"):
                problems.append(f"{path}: {name}: runbook_url {target} does not point into docs/runbook.md")
            elif target.split("#", 1)[1] not in anchors:
                problems.append(f"{path}: {name}: runbook_url anchor #{target.split('#', 1)[1]} is no heading of docs/runbook.md")

tests = "\n".join(open(p, encoding="utf-8").read() for p in test_files)
for name in alerts:
    cases = re.findall(rf"(?m)^\s+alertname: *{re.escape(name)}\s*\n\s+exp_alerts:(.*)$", tests)
    if not any(c.strip() == "" for c in cases):
        problems.append(f"{name}: no test case where it fires (exp_alerts with entries)")
    if not any(c.strip() == "[]" for c in cases):
        problems.append(f"{name}: no test case where it stays silent (exp_alerts: [])")
    if f'ALERTS{{alertname="{name}",alertstate="pending"}}' not in tests:
        problems.append(f"{name}: no pending check (ALERTS{{alertstate=\"pending\"}}) just before for: elapses")

for p in problems:
    print("  " + p)
if problems:
    print(f"  FAILED: {len(problems)} problem(s)")
    sys.exit(1)
print(f"  SUCCESS: {len(alerts)} alerts: severity, annotations, runbook anchors and tests present")
PY
echo "test-rules: all rule checks passed"
