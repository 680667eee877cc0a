#!/usr/bin/env bash
# Run every test: install what is missing, check formatting and lints, start the sandbox's real
# clusters, then the unit tests, the integration tests against the clusters, and the alert-rule
# tests.
#
#   scripts/test.sh            (as root; CI runs exactly this through .ci/run)
#
# Nothing is skipped: a component that cannot be installed or started fails the run. The sandbox
# is left running afterwards so a second run starts fast (`scripts/sandbox.sh down` stops it),
# except under CI=true, where it is stopped at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing missing packages"
scripts/install-deps.sh

step "checking formatting and lints"
# Style is part of the test: unformatted code or a clippy warning fails the run.
cargo fmt --check
cargo clippy --release --all-targets -- -D warnings

step "building"
cargo build --release --all-targets

step "starting the sandbox"
if [ "${CI:-}" = true ]; then trap 'scripts/sandbox.sh down >/dev/null 2>&1 || true' EXIT; fi
# The demo daemons (clustercheckd component) are what HAProxy and Prometheus watch.
scripts/sandbox.sh up

step "running the tests"
# Test binaries run one after another; inside each, tests that disturb a cluster hold its lock.
# (--tests: unit and integration tests; the crate has no doc tests.)
log=$(mktemp)
status=0
cargo test --release --no-fail-fast --tests 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
