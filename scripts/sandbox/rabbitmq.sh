# RabbitMQ part of the sandbox: a real 3-node cluster of Debian's rabbitmq-server on 127.0.0.1.
# Sourced by scripts/sandbox.sh (which sources env.sh and common.sh first).
#
#   scripts/sandbox.sh up rabbitmq | down rabbitmq | status rabbitmq
#   scripts/sandbox.sh rabbitmq ctl N ARGS...            rabbitmqctl -n rabbitN@host ARGS...
#   scripts/sandbox.sh rabbitmq stop_app N | start_app N
#   scripts/sandbox.sh rabbitmq alarm N on|off            memory alarm (watermark 0.0001 / back to 0.4)
#   scripts/sandbox.sh rabbitmq disk_alarm N on|off       disk alarm (disk_free_limit above the free
#                                                         space / back to RABBITMQ_DISK_FREE_LIMIT)
#   scripts/sandbox.sh rabbitmq restart_node N            stop node N's VM, start it, wait until it runs
#                                                         and the cluster has 3 running nodes
#   scripts/sandbox.sh rabbitmq partition N on|off|status nft table ccd_rabbitmq_partition dropping the
#                                                         distribution traffic between node N and the
#                                                         others, both directions (off deletes it)
#   scripts/sandbox.sh rabbitmq nodename N                prints rabbitN@<short host>
#   scripts/sandbox.sh rabbitmq wait_running N [SECONDS]  node up, app running, management answering
#                                                         (default 60 s; fails after 5 s if no VM runs)
#   scripts/sandbox.sh rabbitmq policy_restore            (re)create the ha-all policy on /
#   scripts/sandbox.sh rabbitmq make_queues N COUNT [PREFIX]   COUNT durable queues led by node N
#   scripts/sandbox.sh rabbitmq delete_queues PREFIX      delete every queue on / whose name starts so
#   scripts/sandbox.sh rabbitmq publish N QUEUE COUNT [PAYLOAD]  persistent messages via node N's API
#   scripts/sandbox.sh rabbitmq monitor_user              (re)create RABBITMQ_MONITOR_USER with exactly
#                                                         the rights clustercheckd needs; prints its name
#
# Node N (1..3) is rabbitN@$(hostname -s): AMQP RABBITMQ_AMQP_PORT_BASE+N, distribution
# RABBITMQ_DIST_PORT_BASE+N, management RABBITMQ_MGMT_PORT_BASE+N, prometheus
# RABBITMQ_PROM_PORT_BASE+N, all bound to 127.0.0.1; epmd too (ERL_EPMD_ADDRESS). Its outgoing
# distribution connections come from RABBITMQ_DIST_SOURCE_NET.N (inet_dist_connect_options), so a
# node's distribution traffic is told apart by address and port: see `partition`. Its config,
# enabled_plugins, pid file, mnesia and logs live in $SANDBOX_DIR/rabbitmq/nodeN. Node 1 is the
# only disc node; nodes 2 and 3 joined it with `join_cluster --ram`, as in the deployment.
#
# Everything runs as the `rabbitmq` user with HOME=/var/lib/rabbitmq (one Erlang cookie for the
# servers and the CLI) and a clean environment carrying CCD_SANDBOX=rabbitmq, which is how `down`
# recognises the epmd it (or a CLI call) started. The servers also carry `-ccd_sandbox <node dir>`
# on their command line so `pgrep -f ccd_sandbox` finds them even without pid files (and
# scripts/install-deps.sh, which spares processes naming the sandbox directory, leaves them alone).

RABBITMQ_BIN=/usr/lib/rabbitmq/bin
RABBITMQ_OS_USER=rabbitmq
RABBITMQ_OS_HOME=/var/lib/rabbitmq
RABBITMQ_SANDBOX_DIR="$SANDBOX_DIR/rabbitmq"
RABBITMQ_DEFAULT_WATERMARK=0.4
# RabbitMQ's default disk_free_limit (50 MB), restored by `disk_alarm N off`.
RABBITMQ_DISK_FREE_LIMIT=50000000
RABBITMQ_PARTITION_TABLE=ccd_rabbitmq_partition

# ---------------------------------------------------------------------------------------------------
# Helpers (prefixed _rmq_; not verbs).

_rmq_n() {
  case "${1:-}" in 1|2|3) ;; *) die "rabbitmq: node number must be 1, 2 or 3 (got '${1:-}')" ;; esac
}

_rmq_host() { hostname -s; }
_rmq_dist_source() { echo "$RABBITMQ_DIST_SOURCE_NET.$1"; }
# The Erlang term binding node N's outgoing distribution connections to its own source address.
_rmq_connect_opts() { echo "-kernel inet_dist_connect_options [{ip,{${RABBITMQ_DIST_SOURCE_NET//./,},$1}}]"; }
# Node N's VM runs with the connect options above (nodes started before they existed do not).
_rmq_has_dist_source() {
  local pid; pid=$(_rmq_pid "$1") || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "inet_dist_connect_options"
}
_rmq_dir() { echo "$RABBITMQ_SANDBOX_DIR/node$1"; }
_rmq_mgmt_port() { echo $((RABBITMQ_MGMT_PORT_BASE + $1)); }

rabbitmq_nodename() { _rmq_n "${1:-}"; echo "rabbit$1@$(_rmq_host)"; }

# _rmq_as N CMD...: run CMD as the rabbitmq user, in node N's directory, with node N's environment.
_rmq_as() {
  local n=$1; shift
  local d; d=$(_rmq_dir "$n")
  local cwd=$d; [ -d "$cwd" ] || cwd=$RABBITMQ_OS_HOME
  (
    cd "$cwd" || exit 1
    exec setpriv --reuid="$RABBITMQ_OS_USER" --regid="$RABBITMQ_OS_USER" --init-groups \
      env -i \
      PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      HOME="$RABBITMQ_OS_HOME" LANG=C.UTF-8 LC_ALL=C.UTF-8 \
      CCD_SANDBOX=rabbitmq \
      ERL_EPMD_ADDRESS=127.0.0.1 \
      ERL_CRASH_DUMP="$d/log/erl_crash.dump" \
      RABBITMQ_NODENAME="rabbit$n@$(_rmq_host)" \
      RABBITMQ_DIST_PORT=$((RABBITMQ_DIST_PORT_BASE + n)) \
      RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
      RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config" \
      RABBITMQ_CONF_ENV_FILE="$d/rabbitmq-env.conf" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
      RABBITMQ_MNESIA_BASE="$d/mnesia" \
      RABBITMQ_LOG_BASE="$d/log" \
      RABBITMQ_PID_FILE="$d/rabbitmq.pid" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} $(_rmq_connect_opts "$n") -ccd_sandbox $d" \
      RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      "$@"
  )
}

# _rmq_cli N TOOL ARGS...: a RabbitMQ CLI tool (rabbitmqctl, rabbitmq-diagnostics...) aimed at node N.
_rmq_cli() {
  local n=$1 tool=$2; shift 2
  [ -x "$RABBITMQ_BIN/$tool" ] || die "'$RABBITMQ_BIN/$tool' is missing: run scripts/install-deps.sh (package rabbitmq-server)"
  _rmq_as "$n" "$RABBITMQ_BIN/$tool" -n "rabbit$n@$(_rmq_host)" "$@"
}

# _rmq_pid N: prints the pid of node N's Erlang VM (pid file, else the command-line marker).
_rmq_pid() {
  local f p
  f="$(_rmq_dir "$1")/rabbitmq.pid"
  if [ -s "$f" ]; then
    p=$(cat "$f")
    if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "-ccd_sandbox $(_rmq_dir "$1") "; then
      echo "$p"; return 0
    fi
  fi
  p=$(pgrep -f -- "-ccd_sandbox $(_rmq_dir "$1")( |\$)" | head -n1 || true)
  [ -n "$p" ] && { echo "$p"; return 0; }
  return 1
}

_rmq_alive() { _rmq_pid "$1" >/dev/null; }

# _rmq_api N METHOD PATH [CURL ARGS...]: the management API of node N, as RABBITMQ_USER.
_rmq_api() {
  local n=$1 method=$2 path=$3; shift 3
  curl -sS --fail-with-body --max-time "${RMQ_API_TIMEOUT:-30}" -u "$RABBITMQ_USER:$RABBITMQ_PASSWORD" \
    -X "$method" -H 'content-type: application/json' \
    "http://127.0.0.1:$(_rmq_mgmt_port "$n")/api/$path" "$@"
}

# _rmq_mgmt_up N: node N's management listener answers (it stops with stop_app).
_rmq_mgmt_up() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$(_rmq_mgmt_port "$1")/" || true)
  [ "$code" = 200 ]
}

# _rmq_boot_state N: stopped, booting, core_started, ready or stopping (empty when unreachable).
_rmq_boot_state() { _rmq_cli "$1" rabbitmqctl -q eval 'rabbit_boot_state:get().' 2>/dev/null || true; }
_rmq_boot_state_is() { [ "$(_rmq_boot_state "$1")" = "$2" ]; }

_rmq_any_running_node() {
  local n
  for n in 1 2 3; do _rmq_mgmt_up "$n" && { echo "$n"; return 0; }; done
  return 1
}

_rmq_log_tail() {
  local n=$1 d; d=$(_rmq_dir "$1")
  {
    echo "---- last lines of $d/log/rabbit$n@$(_rmq_host).log and start.log:"
    tail -n 15 "$d/log/rabbit$n@$(_rmq_host).log" 2>/dev/null || true
    tail -n 15 "$d/log/start.log" 2>/dev/null || true
  } >&2
}

_rmq_need() {
  case "$SANDBOX_DIR" in *[[:space:]]*) die "rabbitmq: SANDBOX_DIR must not contain spaces (it goes on erl's command line)" ;; esac
  [ "$(id -u)" = 0 ] || die "rabbitmq: the sandbox runs the nodes as the rabbitmq user: run it as root"
  [ -x "$RABBITMQ_BIN/rabbitmq-server" ] || die "'$RABBITMQ_BIN/rabbitmq-server' is missing: run scripts/install-deps.sh (package rabbitmq-server)"
  id "$RABBITMQ_OS_USER" >/dev/null 2>&1 || die "user '$RABBITMQ_OS_USER' is missing: run scripts/install-deps.sh (package rabbitmq-server)"
  [ -s "$RABBITMQ_OS_HOME/.erlang.cookie" ] || die "$RABBITMQ_OS_HOME/.erlang.cookie is missing (package rabbitmq-server)"
  need setpriv util-linux
  need epmd erlang-base
  need curl curl
  need jq jq
}

# _rmq_write_config N: (re)write node N's files; warns when a running node's config changed.
_rmq_write_config() {
  local n=$1 d tmp host; d=$(_rmq_dir "$n"); host=$(_rmq_host)
  mkdir -p "$d/mnesia" "$d/log"
  tmp=$(mktemp)
  cat >"$tmp" <<EOF
# Generated by scripts/sandbox/rabbitmq.sh: node rabbit$n@$host. Everything on 127.0.0.1.
listeners.tcp.local = 127.0.0.1:$((RABBITMQ_AMQP_PORT_BASE + n))
management.tcp.ip = 127.0.0.1
management.tcp.port = $((RABBITMQ_MGMT_PORT_BASE + n))
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $((RABBITMQ_PROM_PORT_BASE + n))
# Created on the first boot of node 1 (nodes 2 and 3 take the cluster's users when they join).
default_user = $RABBITMQ_USER
default_pass = $RABBITMQ_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
collect_statistics_interval = 5000
vm_memory_high_watermark.relative = $RABBITMQ_DEFAULT_WATERMARK
# A node that must wait for its peers' tables gives up after 60 s instead of 5 min.
mnesia_table_loading_retry_timeout = 10000
mnesia_table_loading_retry_limit = 6
log.console = false
log.file.level = info
EOF
  if ! cmp -s "$tmp" "$d/rabbitmq.conf"; then
    if [ -f "$d/rabbitmq.conf" ] && _rmq_alive "$n"; then
      log "rabbitmq: node $n's rabbitmq.conf changed; it applies when the node restarts"
    fi
    cat "$tmp" >"$d/rabbitmq.conf"
  fi
  chmod 0640 "$d/rabbitmq.conf" # holds the password
  rm -f "$tmp"
  [ -f "$d/enabled_plugins" ] || echo '[rabbitmq_management,rabbitmq_prometheus].' >"$d/enabled_plugins"
  [ -f "$d/rabbitmq-env.conf" ] || echo '# empty on purpose: keeps /etc/rabbitmq/rabbitmq-env.conf out' >"$d/rabbitmq-env.conf"
  chown -R "$RABBITMQ_OS_USER:$RABBITMQ_OS_USER" "$d"
}

# epmd: started by us on loopback, remembered in $RABBITMQ_SANDBOX_DIR/epmd.pid. (A killed epmd may stay a
# zombie for a moment until init reaps it: zombies do not count.)
_rmq_live_epmd_pids() {
  local p
  for p in $(pgrep -x epmd || true); do
    [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] || echo "$p"
  done
  return 0
}

_rmq_epmd_pids() {
  local p
  for p in $(_rmq_live_epmd_pids); do
    grep -qz '^CCD_SANDBOX=rabbitmq$' "/proc/$p/environ" 2>/dev/null && echo "$p"
  done
  return 0
}

_rmq_epmd_up() {
  if [ -n "$(_rmq_epmd_pids)" ]; then return 0; fi
  if [ -n "$(_rmq_live_epmd_pids)" ]; then
    log "rabbitmq: using an epmd the sandbox did not start (it may listen beyond 127.0.0.1)"
    return 0
  fi
  _rmq_as 1 epmd -daemon
  wait_until 10 "epmd" _rmq_epmd_listening
  _rmq_epmd_pids | head -n1 >"$RABBITMQ_SANDBOX_DIR/epmd.pid"
}

_rmq_epmd_listening() { _rmq_as 1 epmd -names >/dev/null 2>&1; }

# Stops the epmd the sandbox (or a CLI call of the sandbox: the CLI starts one when none runs)
# started, unless nodes that are not ours are still registered with it.
_rmq_epmd_down() {
  local p names killed=""
  for p in $(_rmq_epmd_pids); do
    names=$(_rmq_as 1 epmd -names 2>/dev/null | grep '^name ' || true)
    if [ -n "$names" ]; then
      log "rabbitmq: leaving epmd $p running: nodes still registered: $(echo "$names" | tr '\n' ' ')"
      continue
    fi
    kill "$p" 2>/dev/null || true
    killed="$killed $p"
  done
  wait_until 10 "epmd to exit" _rmq_no_epmd
  for p in $killed; do _rmq_wait_reaped "$p"; done
  rm -f "$RABBITMQ_SANDBOX_DIR/epmd.pid"
}

_rmq_no_epmd() { [ -z "$(_rmq_epmd_pids)" ]; }

# _rmq_start_node N: launch node N's VM (returns before it has registered).
_rmq_start_node() {
  local n=$1 d; d=$(_rmq_dir "$n")
  log "rabbitmq: starting rabbit$n@$(_rmq_host)"
  rm -f "$d/rabbitmq.pid"
  echo "==== $(date '+%F %T') rabbitmq-server -detached" >>"$d/log/start.log"
  chown "$RABBITMQ_OS_USER:$RABBITMQ_OS_USER" "$d/log/start.log"
  _rmq_as "$n" "$RABBITMQ_BIN/rabbitmq-server" -detached </dev/null >>"$d/log/start.log" 2>&1 ||
    { _rmq_log_tail "$n"; die "rabbitmq: rabbitmq-server -detached failed for node $n"; }
}

# _rmq_await N SECONDS: retry `await_startup` until the app runs, then wait for the management API.
# Fails early when the VM has exited.
_rmq_await() {
  local n=$1 deadline=$(( $(date +%s) + $2 )) left started
  started=$(date +%s)
  while :; do
    left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 0 ] || { _rmq_log_tail "$n"; die "rabbitmq: timed out waiting for node $n to start"; }
    if _rmq_cli "$n" rabbitmqctl -q await_startup --timeout "$left" >/dev/null 2>&1; then break; fi
    if ! _rmq_alive "$n" && [ $(( $(date +%s) - started )) -ge 5 ]; then
      _rmq_log_tail "$n"; die "rabbitmq: node $n is not running (boot failed?)"
    fi
    sleep 1
  done
  left=$(( deadline - $(date +%s) )); [ "$left" -ge 10 ] || left=10
  wait_until "$left" "management API of node $n" _rmq_mgmt_up "$n"
}

# _rmq_await_all SECONDS N...: _rmq_await in parallel.
_rmq_await_all() {
  local t=$1 n pids=() rc=0; shift
  for n in "$@"; do _rmq_await "$n" "$t" & pids+=($!); done
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  [ "$rc" = 0 ] || die "rabbitmq: some nodes did not start"
}

# _rmq_stop_node N: clean stop, then TERM/KILL if it hangs.
_rmq_stop_node() {
  local n=$1 pid; pid=$(_rmq_pid "$n") || return 0
  log "rabbitmq: stopping rabbit$n@$(_rmq_host) (pid $pid)"
  _rmq_cli "$n" rabbitmqctl -q -t 60 stop "$(_rmq_dir "$n")/rabbitmq.pid" >/dev/null 2>&1 || true
  if kill -0 "$pid" 2>/dev/null; then
    log "rabbitmq: node $n did not stop cleanly: SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    local _i; for _i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(_rmq_dir "$n")/rabbitmq.pid"
  _rmq_wait_reaped "$pid"
}

# _rmq_wait_reaped PID: the daemons are children of init, which reaps them a moment after they
# exit; wait (up to 5 s) so that a `pgrep beam.smp` / `pgrep epmd` right after `down` is empty.
_rmq_wait_reaped() {
  local _i
  for _i in $(seq 1 50); do [ -e "/proc/$1" ] || return 0; sleep 0.1; done
  return 0
}

_rmq_cluster_members() { _rmq_api "$1" GET 'nodes?columns=name' | jq -r '.[].name'; }

# _rmq_join N: make node N a RAM member of node 1's cluster.
_rmq_join() {
  local n=$1 first; first=$(rabbitmq_nodename 1)
  log "rabbitmq: joining rabbit$n@$(_rmq_host) to $first as a RAM node"
  local step out
  # 3.10's CLI logs harmless feature-flag warnings and "tracked connection table" errors while a
  # node joins: show the output only when a step fails.
  for step in stop_app reset "join_cluster --ram $first" start_app; do
    # shellcheck disable=SC2086 # $step is a command and its arguments
    out=$(_rmq_cli "$n" rabbitmqctl -q $step 2>&1) || { echo "$out" >&2; die "rabbitmq: '$step' failed on node $n"; }
  done
}

_rmq_cluster_formed() {
  local c
  c=$(_rmq_api 1 GET 'nodes?columns=name,type,running' 2>/dev/null) || return 1
  [ "$(echo "$c" | jq '[.[] | select(.running)] | length')" = 3 ]
}

# _rmq_ensure_user: RABBITMQ_USER administrator with full permissions on /.
_rmq_ensure_user() {
  local who
  who=$(_rmq_api 1 GET whoami 2>/dev/null || true)
  if ! echo "$who" | jq -e '.tags | tostring | test("administrator")' >/dev/null 2>&1; then
    log "rabbitmq: (re)creating user $RABBITMQ_USER"
    _rmq_cli 1 rabbitmqctl -q add_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null 2>&1 ||
      _rmq_cli 1 rabbitmqctl -q change_password "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null
    _rmq_cli 1 rabbitmqctl -q set_user_tags "$RABBITMQ_USER" administrator >/dev/null
  fi
  _rmq_api 1 PUT "permissions/%2F/$RABBITMQ_USER" -o /dev/null \
    -d '{"configure":".*","write":".*","read":".*"}' || die "rabbitmq: cannot set permissions of $RABBITMQ_USER"
}

# What clustercheckd's AMQP probe (src/collectors/rabbitmq/probe.rs) does, and the permission each
# step needs on the vhost: declare a server-named exclusive queue (configure on `amq.gen-...`),
# consume from it (read on it), publish to it through the default exchange (write on
# `amq.default`). Clients cannot name a queue `amq.*` themselves, so these patterns match the
# probe's own queues and nothing an application created. The management API calls (overview,
# nodes, policies, alarms, queues) need the `monitoring` tag and no vhost permission.
RABBITMQ_MONITOR_CONFIGURE='^amq\.gen-'
RABBITMQ_MONITOR_WRITE='^amq\.default$'
RABBITMQ_MONITOR_READ='^amq\.gen-'

# _rmq_ensure_monitor_user: RABBITMQ_MONITOR_USER with the tag monitoring and the probe's
# permissions on /, whatever it had before (PUT replaces both; idempotent).
_rmq_ensure_monitor_user() {
  local body
  body=$(jq -nc --arg p "$RABBITMQ_MONITOR_PASSWORD" '{password: $p, tags: "monitoring"}')
  _rmq_api 1 PUT "users/$RABBITMQ_MONITOR_USER" -o /dev/null -d "$body" ||
    die "rabbitmq: cannot create user $RABBITMQ_MONITOR_USER"
  body=$(jq -nc --arg c "$RABBITMQ_MONITOR_CONFIGURE" --arg w "$RABBITMQ_MONITOR_WRITE" \
    --arg r "$RABBITMQ_MONITOR_READ" '{configure: $c, write: $w, read: $r}')
  _rmq_api 1 PUT "permissions/%2F/$RABBITMQ_MONITOR_USER" -o /dev/null -d "$body" ||
    die "rabbitmq: cannot set permissions of $RABBITMQ_MONITOR_USER"
}

_rmq_policy_present() {
  _rmq_api "$1" GET 'policies/%2F/ha-all' 2>/dev/null |
    jq -e '.pattern == "^" and .definition == {"ha-mode":"all"}' >/dev/null 2>&1
}

_rmq_put_policy() {
  # What `rabbitmqctl set_policy ha-all '^' '{"ha-mode":"all"}'` creates: priority 0, apply-to all.
  _rmq_api "$1" PUT 'policies/%2F/ha-all' -o /dev/null \
    -d '{"pattern":"^","definition":{"ha-mode":"all"},"priority":0,"apply-to":"all"}'
}

# ---------------------------------------------------------------------------------------------------
# up / down / status

rabbitmq_up() {
  local t0 n fresh=0 alive=() dead=() stopped_app=()
  t0=$(date +%s)
  _rmq_need
  mkdir -p "$RABBITMQ_SANDBOX_DIR"
  # Node 1 holds the only disc copy of the cluster: without it the other nodes are meaningless.
  if [ ! -d "$(_rmq_dir 1)/mnesia/rabbit1@$(_rmq_host)" ]; then
    fresh=1
    for n in 3 2 1; do _rmq_stop_node "$n"; done
    rm -rf "$(_rmq_dir 1)" "$(_rmq_dir 2)" "$(_rmq_dir 3)"
  fi
  for n in 1 2 3; do _rmq_write_config "$n"; done
  _rmq_epmd_up

  for n in 1 2 3; do
    if _rmq_alive "$n"; then alive+=("$n"); else dead+=("$n"); fi
  done

  if [ "$fresh" = 1 ]; then
    log "rabbitmq: creating the cluster in $RABBITMQ_SANDBOX_DIR"
    for n in 1 2 3; do _rmq_start_node "$n"; done
    _rmq_await_all 120 1 2 3
  elif [ ${#dead[@]} -gt 0 ]; then
    if [ ${#alive[@]} -eq 0 ]; then
      # All down: node 1 (the disc node) may not have been the last to stop; it is the only
      # node holding the cluster on disc, so boot it without waiting for the RAM nodes.
      _rmq_cli 1 rabbitmqctl -q force_boot >/dev/null
    fi
    if ! _rmq_alive 1; then _rmq_start_node 1; _rmq_await 1 120; fi
    local later=()
    for n in 2 3; do _rmq_alive "$n" || { _rmq_start_node "$n"; later+=("$n"); }; done
    [ ${#later[@]} -eq 0 ] || _rmq_await_all 120 "${later[@]}"
  fi

  # Nodes whose VM runs but whose app was stopped (stop_app), or that are still booting.
  for n in 1 2 3; do
    _rmq_mgmt_up "$n" && continue
    case "$(_rmq_boot_state "$n")" in
      stopped|stopping)
        wait_until 60 "node $n's app to stop" _rmq_boot_state_is "$n" stopped
        log "rabbitmq: start_app on rabbit$n@$(_rmq_host)"
        _rmq_cli "$n" rabbitmqctl -q start_app >/dev/null
        ;;
    esac
    stopped_app+=("$n") # ready, booting or just started: wait for it
  done
  [ ${#stopped_app[@]} -eq 0 ] || _rmq_await_all 120 "${stopped_app[@]}"

  # Membership: nodes 2 and 3 must be in node 1's cluster.
  _rmq_ensure_user
  local members view first; first=$(rabbitmq_nodename 1)
  members=$(_rmq_cluster_members 1) || die "rabbitmq: cannot list the cluster's nodes"
  for n in 2 3; do
    # Node N's own view: a node whose directory was wiped boots alone and does not know node 1.
    view=$(_rmq_cluster_members "$n") || die "rabbitmq: cannot list node $n's cluster"
    grep -qx "$first" <<<"$view" && continue
    if grep -qx "rabbit$n@$(_rmq_host)" <<<"$members"; then
      log "rabbitmq: node 1 still lists rabbit$n@$(_rmq_host), which lost its cluster: forgetting it"
      _rmq_cli 1 rabbitmqctl -q forget_cluster_node "rabbit$n@$(_rmq_host)" >/dev/null
    fi
    _rmq_join "$n"
  done
  wait_until 60 "3 running nodes in the cluster" _rmq_cluster_formed
  _rmq_ensure_monitor_user
  _rmq_policy_present 1 || _rmq_put_policy 1 || die "rabbitmq: cannot create the ha-all policy"
  log "rabbitmq: up ($(( $(date +%s) - t0 )) s): $(rabbitmq_status)"
}

rabbitmq_down() {
  local n left
  # The RAM nodes together, then node 1, the disc node, last: it is the node that can boot alone.
  _rmq_stop_node 3 & local p3=$!
  _rmq_stop_node 2 & local p2=$!
  wait "$p3" || true; wait "$p2" || true
  _rmq_stop_node 1
  _rmq_epmd_down
  left=$(pgrep -f -- "-ccd_sandbox $RABBITMQ_SANDBOX_DIR/node" || true)
  [ -z "$left" ] || die "rabbitmq: still running after down: $(echo "$left" | tr '\n' ' ')"
  log "rabbitmq: down"
}

rabbitmq_status() {
  local n pid state parts=() any="" nodes="" type rss alarm
  any=$(_rmq_any_running_node || true)
  [ -z "$any" ] || nodes=$(_rmq_api "$any" GET 'nodes?columns=name,type,running,mem_alarm,disk_free_alarm' 2>/dev/null || true)
  for n in 1 2 3; do
    if pid=$(_rmq_pid "$n"); then
      if _rmq_mgmt_up "$n"; then state=running; else state=app-stopped; fi
      rss=$(awk '/^VmRSS/ {printf "%dM", $2/1024}' "/proc/$pid/status" 2>/dev/null || true)
      state="$state pid=$pid rss=$rss"
    else
      state=down
    fi
    type=""; alarm=""
    if [ -n "$nodes" ]; then
      type=$(echo "$nodes" | jq -r --arg n "rabbit$n@$(_rmq_host)" '.[] | select(.name == $n) | .type' 2>/dev/null || true)
      alarm=$(echo "$nodes" | jq -r --arg n "rabbit$n@$(_rmq_host)" \
        '.[] | select(.name == $n) | [if .mem_alarm then "mem_alarm" else empty end, if .disk_free_alarm then "disk_alarm" else empty end] | join(",")' 2>/dev/null || true)
      [ -n "$type" ] || type="not-clustered"
    fi
    parts+=("rabbit$n $state${type:+ $type}${alarm:+ $alarm}")
  done
  local policy=""
  if [ -n "$any" ]; then
    if _rmq_policy_present "$any"; then policy="; policy ha-all ok"; else policy="; policy ha-all MISSING"; fi
  fi
  local IFS='|'
  echo "rabbitmq: ${parts[*]}$policy" | sed 's/|/ | /g'
}

# ---------------------------------------------------------------------------------------------------
# Verbs

rabbitmq_ctl() {
  _rmq_n "${1:-}"; local n=$1; shift
  _rmq_cli "$n" rabbitmqctl "$@"
}

rabbitmq_stop_app() {
  _rmq_n "${1:-}"
  _rmq_cli "$1" rabbitmqctl -q stop_app
}

rabbitmq_start_app() {
  _rmq_n "${1:-}"
  _rmq_cli "$1" rabbitmqctl -q start_app
  wait_until 30 "management API of node $1" _rmq_mgmt_up "$1"
}

rabbitmq_alarm() {
  _rmq_n "${1:-}"
  case "${2:-}" in
    on) _rmq_cli "$1" rabbitmqctl -q set_vm_memory_high_watermark 0.0001 ;;
    off) _rmq_cli "$1" rabbitmqctl -q set_vm_memory_high_watermark "$RABBITMQ_DEFAULT_WATERMARK" ;;
    *) die "usage: rabbitmq alarm N on|off" ;;
  esac
}

rabbitmq_wait_running() {
  _rmq_n "${1:-}"
  _rmq_await "$1" "${2:-60}"
}

rabbitmq_monitor_user() {
  _rmq_ensure_monitor_user
  echo "$RABBITMQ_MONITOR_USER"
}

rabbitmq_policy_restore() {
  local n; n=$(_rmq_any_running_node) || die "rabbitmq: no node is running"
  _rmq_put_policy "$n" || die "rabbitmq: cannot create the ha-all policy"
  log "rabbitmq: policy ha-all set (via node $n)"
}

# make_queues N COUNT [PREFIX]: definitions imports through node N (so N leads the queues:
# client-local placement), 1,000 queues a request. Names are PREFIX-00001 ... Existing queues are
# left as they are. Mirrored queues are slow to declare here: about 50 a second on 2 cores, so
# 10,000 take minutes (declaring without ha-all was 4 times faster; the mirroring is the cost).
rabbitmq_make_queues() {
  _rmq_n "${1:-}"
  local n=$1 count=${2:-} prefix=${3:-sandbox-q} f t0 from to chunk=1000
  [[ "$count" =~ ^[0-9]+$ ]] || die "usage: rabbitmq make_queues N COUNT [PREFIX]"
  f=$(mktemp)
  t0=$(date +%s%N)
  for ((from = 1; from <= count; from += chunk)); do
    to=$((from + chunk - 1)); [ "$to" -le "$count" ] || to=$count
    {
      printf '{"queues":['
      seq -f "$prefix-%05.0f" "$from" "$to" |
        awk '{ printf "%s{\"name\":\"%s\",\"vhost\":\"/\",\"durable\":true,\"auto_delete\":false,\"arguments\":{}}", (NR>1?",":""), $0 }'
      printf ']}'
    } >"$f"
    RMQ_API_TIMEOUT=600 _rmq_api "$n" POST definitions -o /dev/null --data-binary "@$f" ||
      { rm -f "$f"; die "rabbitmq: definitions import of queues $from..$to failed"; }
    [ "$count" -le "$chunk" ] || log "rabbitmq: $to/$count queues declared ($(( ($(date +%s%N) - t0) / 1000000000 )) s)"
  done
  rm -f "$f"
  log "rabbitmq: declared $count queues $prefix-* on node $n in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

# delete_queues PREFIX: list the queue names once, then DELETE them over a few kept-alive
# connections (curl --parallel).
rabbitmq_delete_queues() {
  local prefix=${1:-} n names cfg port codes bad total
  [ -n "$prefix" ] || die "usage: rabbitmq delete_queues PREFIX"
  n=$(_rmq_any_running_node) || die "rabbitmq: no node is running"
  port=$(_rmq_mgmt_port "$n")
  names=$(RMQ_API_TIMEOUT=120 _rmq_api "$n" GET 'queues/%2F?columns=name&disable_stats=true&enable_queue_totals=false' |
    jq -r --arg p "$prefix" '.[] | select(.name | startswith($p)) | .name | @uri') ||
    die "rabbitmq: cannot list queues"
  total=$(grep -c . <<<"$names" || true)
  if [ "$total" = 0 ]; then log "rabbitmq: no queue starts with '$prefix'"; return 0; fi
  cfg=$(mktemp)
  awk -v base="http://127.0.0.1:$port/api/queues/%2F/" '{ printf "url = \"%s%s\"\noutput = \"/dev/null\"\n", base, $0 }' \
    <<<"$names" >"$cfg"
  codes=$(curl -sS --no-progress-meter -Z --parallel-max 16 --max-time 60 -u "$RABBITMQ_USER:$RABBITMQ_PASSWORD" -X DELETE \
    -w '%{http_code}\n' -K "$cfg" || true)
  rm -f "$cfg"
  bad=$(grep -cv '^204$' <<<"$codes" || true)
  [ "$bad" = 0 ] || die "rabbitmq: $bad of $total deletions failed (codes: $(sort <<<"$codes" | uniq -c | tr '\n' ' '))"
  log "rabbitmq: deleted $total queues starting with '$prefix'"
}

# publish N QUEUE COUNT [PAYLOAD]: persistent messages to QUEUE through the default exchange of
# node N's management API (one curl, 4 kept-alive connections: about 250 messages a second).
rabbitmq_publish() {
  _rmq_n "${1:-}"
  local n=$1 queue=${2:-} count=${3:-} payload=${4:-sandbox message} body out routed
  if [ -z "$queue" ] || ! [[ "$count" =~ ^[1-9][0-9]*$ ]]; then
    die "usage: rabbitmq publish N QUEUE COUNT [PAYLOAD]"
  fi
  body=$(jq -cn --arg q "$queue" --arg p "$payload" \
    '{properties:{delivery_mode:2},routing_key:$q,payload:$p,payload_encoding:"string"}')
  out=$(curl -sS --no-progress-meter -Z --parallel-max 4 --max-time 600 -u "$RABBITMQ_USER:$RABBITMQ_PASSWORD" -H 'content-type: application/json' \
    -d "$body" -w '\n' "http://127.0.0.1:$(_rmq_mgmt_port "$n")/api/exchanges/%2F/amq.default/publish?seq=[1-$count]") ||
    die "rabbitmq: publishing to $queue failed"
  routed=$(grep -o '"routed":true' <<<"$out" | wc -l)
  [ "$routed" = "$count" ] ||
    die "rabbitmq: only $routed of $count messages were routed to '$queue' (does it exist?): $(head -n1 <<<"$out")"
  log "rabbitmq: published $count messages to $queue via node $n"
}

rabbitmq_disk_alarm() {
  _rmq_n "${1:-}"
  case "${2:-}" in
    # A limit far above any disk: the disk monitor raises the alarm at its next check (~1 s).
    on) _rmq_cli "$1" rabbitmqctl -q set_disk_free_limit 100000000000000000 ;;
    off) _rmq_cli "$1" rabbitmqctl -q set_disk_free_limit "$RABBITMQ_DISK_FREE_LIMIT" ;;
    *) die "usage: rabbitmq disk_alarm N on|off" ;;
  esac
}

rabbitmq_restart_node() {
  _rmq_n "${1:-}"
  _rmq_stop_node "$1"
  _rmq_start_node "$1"
  _rmq_await "$1" 120
  wait_until 60 "3 running nodes in the cluster" _rmq_cluster_formed
  log "rabbitmq: restarted node $1: $(rabbitmq_status)"
}

# partition N on|off|status. `on` first restarts (one at a time, the cluster stays up) any node
# whose VM predates the distribution source addresses. Only node-to-node distribution traffic is
# dropped: the CLI (from 127.0.0.1), AMQP, the management API and epmd keep working, so
# `rabbitmqctl -n rabbitN cluster_status` shows each side's view. Pair with a lowered
# net_ticktime (rabbitmqctl eval 'net_kernel:set_net_ticktime(10, 0).') to see the cut in seconds.
rabbitmq_partition() {
  _rmq_n "${1:-}"
  local n=$1 m others_src="" others_port="" me_src me_port
  case "${2:-}" in
    on)
      need nft nftables
      for m in 1 2 3; do
        _rmq_has_dist_source "$m" || { log "rabbitmq: node $m runs without a distribution source address: restarting it"; rabbitmq_restart_node "$m"; }
      done
      for m in 1 2 3; do
        [ "$m" = "$n" ] && continue
        others_src="$others_src${others_src:+, }$(_rmq_dist_source "$m")"
        others_port="$others_port${others_port:+, }$((RABBITMQ_DIST_PORT_BASE + m))"
      done
      me_src=$(_rmq_dist_source "$n"); me_port=$((RABBITMQ_DIST_PORT_BASE + n))
      nft delete table ip "$RABBITMQ_PARTITION_TABLE" 2>/dev/null || true
      nft -f - <<EOF || die "rabbitmq: cannot create the nft table $RABBITMQ_PARTITION_TABLE"
table ip $RABBITMQ_PARTITION_TABLE {
  chain out {
    type filter hook output priority 0; policy accept;
    # Connections the others opened to node $n, and node $n's answers.
    ip saddr { $others_src } tcp dport $me_port drop
    ip daddr { $others_src } tcp sport $me_port drop
    # Connections node $n opened to the others, and their answers.
    ip saddr $me_src tcp dport { $others_port } drop
    ip daddr $me_src tcp sport { $others_port } drop
  }
}
EOF
      log "rabbitmq: node $n cut off from the others (nft table $RABBITMQ_PARTITION_TABLE)"
      ;;
    off)
      if command -v nft >/dev/null && nft list table ip "$RABBITMQ_PARTITION_TABLE" >/dev/null 2>&1; then
        nft delete table ip "$RABBITMQ_PARTITION_TABLE"
        log "rabbitmq: partition rules deleted"
      fi
      ;;
    status)
      if command -v nft >/dev/null && nft list table ip "$RABBITMQ_PARTITION_TABLE" >/dev/null 2>&1; then
        echo "partition rules present"
      else
        echo "no partition rules"
      fi
      ;;
    *) die "usage: rabbitmq partition N on|off|status" ;;
  esac
}
