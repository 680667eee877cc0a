#!/usr/bin/env bash
# Fork-per-check baseline for the benchmarks: behaves like Percona's `clustercheck` under
# xinetd/socat. Each run starts the `mysql` client (a new process and a new MariaDB connection per
# check), asks the node for wsrep_local_state (and read_only), and writes one complete HTTP/1.1
# response to stdout:
#   200 "Percona XtraDB Cluster Node is synced."       state 4 (Synced), or 2 (Donor/Desynced) when
#                                                       AVAILABLE_WHEN_DONOR=1
#   503 "Percona XtraDB Cluster Node is read-only."    synced but read_only=ON and
#                                                       AVAILABLE_WHEN_READONLY=0
#   503 "Percona XtraDB Cluster Node is not synced or non-PRIM."   anything else, including a
#                                                       failed connection
#
# usage: clustercheck.sh DEFAULTS_EXTRA_FILE [AVAILABLE_WHEN_DONOR=0] [AVAILABLE_WHEN_READONLY=1]
#   DEFAULTS_EXTRA_FILE: a my.cnf-style file with a [client] section (user, password, socket or
#   host/port), e.g. the one `scripts/sandbox.sh galera defaults_file N` prints.
# The request (if any) is read and ignored before answering, so the client never sees a reset from
# unread request bytes.
set -u

defaults=${1:?usage: clustercheck.sh DEFAULTS_EXTRA_FILE [AVAILABLE_WHEN_DONOR] [AVAILABLE_WHEN_READONLY]}
available_when_donor=${2:-0}
available_when_readonly=${3:-1}
connect_timeout=${CLUSTERCHECK_CONNECT_TIMEOUT:-10}

mysql_bin=$(command -v mysql || command -v mariadb || echo mysql)

respond() { # respond CODE REASON BODY
  local body="$3"$'\r\n'
  printf 'HTTP/1.1 %s %s\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "$2" "${#body}" "$body"
  exit 0
}

# Drain the request head: lines up to the empty one (a client that sends nothing is fine too).
while IFS= read -r -t 1 line; do
  line=${line%$'\r'}
  [ -n "$line" ] || break
done

query() { # query SQL: the Value column of a one-row SHOW result
  "$mysql_bin" --defaults-extra-file="$defaults" --connect-timeout="$connect_timeout" -nNE -e "$1" 2>/dev/null \
    | sed -n '3p'
}

state=$(query "SHOW STATUS LIKE 'wsrep_local_state';")

if [ "$state" = 4 ] || { [ "$state" = 2 ] && [ "$available_when_donor" = 1 ]; }; then
  if [ "$available_when_readonly" = 0 ]; then
    read_only=$(query "SHOW GLOBAL VARIABLES LIKE 'read_only';")
    if [ "$read_only" = ON ]; then
      respond 503 "Service Unavailable" "Percona XtraDB Cluster Node is read-only."
    fi
  fi
  respond 200 OK "Percona XtraDB Cluster Node is synced."
fi
respond 503 "Service Unavailable" "Percona XtraDB Cluster Node is not synced or non-PRIM."
