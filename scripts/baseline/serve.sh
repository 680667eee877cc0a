#!/usr/bin/env bash
# Serve the fork-per-check baseline (clustercheck.sh) over HTTP the way xinetd does for Percona's
# clustercheck: socat accepts on 127.0.0.1:PORT and forks one clustercheck.sh (which starts one
# `mysql` client) per connection.
#
# usage: serve.sh PORT DEFAULTS_EXTRA_FILE [AVAILABLE_WHEN_DONOR=0] [AVAILABLE_WHEN_READONLY=1]
# Runs in the foreground (exec socat); stop it by killing its pid. Paths must not contain spaces,
# colons or commas (socat's EXEC address syntax).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port=${1:?usage: serve.sh PORT DEFAULTS_EXTRA_FILE [AVAILABLE_WHEN_DONOR] [AVAILABLE_WHEN_READONLY]}
defaults=${2:?usage: serve.sh PORT DEFAULTS_EXTRA_FILE [AVAILABLE_WHEN_DONOR] [AVAILABLE_WHEN_READONLY]}
[ -r "$defaults" ] || { echo "serve.sh: cannot read $defaults" >&2; exit 1; }
command -v socat >/dev/null || { echo "serve.sh: socat missing: run scripts/install-deps.sh" >&2; exit 1; }
case "$here$defaults" in *[\ :,]*) echo "serve.sh: paths must not contain spaces, ':' or ','" >&2; exit 1 ;; esac
# backlog: socat's default listen backlog is 5, far below what a load generator opens at once.
exec socat "TCP-LISTEN:$port,reuseaddr,fork,bind=127.0.0.1,backlog=1024" \
  "EXEC:$here/clustercheck.sh $defaults ${3:-0} ${4:-1}"
