#!/usr/bin/env bash
# The local sandbox: real MariaDB Galera, RabbitMQ, Pacemaker, HAProxy and Prometheus on loopback.
#
#   scripts/sandbox.sh up   [component...]   start (idempotent); default: every component
#   scripts/sandbox.sh down [component...]   stop; leaves nothing running
#   scripts/sandbox.sh status                one line per component
#   scripts/sandbox.sh <component> <verb> [args]   e.g. `galera kill 2`, `galera desync 1 on`
#
# Components live in scripts/sandbox/<component>.sh and define <component>_up, <component>_down,
# <component>_status and <component>_<verb> functions. Ports and paths are in scripts/sandbox/env.sh,
# which the tests and the demo read too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=sandbox/env.sh
source "$here/sandbox/env.sh"
# shellcheck source=sandbox/common.sh
source "$here/sandbox/common.sh"

ALL_COMPONENTS=(galera rabbitmq pacemaker clustercheckd haproxy prometheus)

load() {
  local c=$1
  [ -f "$here/sandbox/$c.sh" ] || die "unknown sandbox component '$c' (known: ${ALL_COMPONENTS[*]})"
  # shellcheck disable=SC1090
  source "$here/sandbox/$c.sh"
}

cmd=${1:-}
[ -n "$cmd" ] || die "usage: $0 up|down|status [component...] | <component> <verb> [args]"
shift || true
case "$cmd" in
  up|down|status)
    comps=("$@")
    if [ ${#comps[@]} -eq 0 ]; then
      for c in "${ALL_COMPONENTS[@]}"; do
        [ -f "$here/sandbox/$c.sh" ] && comps+=("$c")
      done
    fi
    if [ "$cmd" = down ]; then
      # Stop in reverse order: HAProxy and Prometheus watch the clusters.
      rev=(); for ((i=${#comps[@]}-1; i>=0; i--)); do rev+=("${comps[i]}"); done; comps=("${rev[@]}")
    fi
    mkdir -p "$SANDBOX_DIR"
    for c in "${comps[@]}"; do
      load "$c"
      "${c}_${cmd}"
    done
    ;;
  *)
    load "$cmd"
    verb=${1:-}
    [ -n "$verb" ] || die "usage: $0 $cmd <verb> [args]"
    shift
    declare -F "${cmd}_${verb}" >/dev/null || die "sandbox component '$cmd' has no verb '$verb'"
    "${cmd}_${verb}" "$@"
    ;;
esac
