# Pacemaker sandbox: a live single-node Corosync/Pacemaker cluster modelled on the deployment.
# Sourced by scripts/sandbox.sh (which sources env.sh and common.sh first).
#
#   scripts/sandbox.sh up pacemaker            start (idempotent), about 10 s from nothing
#   scripts/sandbox.sh down pacemaker          stop everything, delete the veth and namespace, restore
#   scripts/sandbox.sh status pacemaker        one line
#   scripts/sandbox.sh pacemaker <verb> [args]:
#     node_name                   the cluster's name for this node (`crm_node -n`); clustercheckd's
#                                 node_name must be set to it
#     crm_mon [ARGS]              crm_mon -1 --output-as=xml ARGS (what clustercheckd reads)
#     ban RESOURCE [NODE]         crm_resource --ban (single node: the resource stops, nowhere to run)
#     clear RESOURCE              crm_resource --clear (removes ban/move constraints)
#     move RESOURCE [NODE]        crm_resource --move (no NODE on one node = a ban from this node)
#     stop_resource RESOURCE      target-role=Stopped (like `pcs resource disable`)
#     start_resource RESOURCE     remove target-role (like `pcs resource enable`)
#     standby [NODE] / unstandby [NODE]    node standby on/off (default: this node)
#     fail_dummy [inject]         make `dummy` fail: delete its state file so its 5 s monitor finds it
#                                 not running (default; failure "dummy_monitor_5000", rc 7), or with
#                                 `inject` crm_resource --fail (failure "dummy_asyncmon_0", rc 1);
#                                 waits until crm_mon lists the failed action. Pacemaker restarts
#                                 dummy; the failure stays until cleanup.
#     cleanup [RESOURCE]          crm_resource --cleanup and wait until no failed action is listed
#     wait_idle [SECONDS]         crm_resource --wait (no pending actions), default 60 s
#     capture DIR                 record live-*.crm_mon*.xml / live-*.constraints.xml samples into DIR
#                                 (healthy, dummy failed, vip banned, crm_mon run as `nobody`)
#     capture_stopped DIR         record crm_mon's output with the cluster down (live-stopped.*)
#
# What runs: `corosync -f` and `pacemakerd -f` (which starts pacemaker-based, -fenced, -execd, -attrd,
# -schedulerd, -controld), in their own sessions, logs under $SANDBOX_DIR/pacemaker. Corosync reads
# /etc/corosync/corosync.conf and /etc/corosync/authkey and Pacemaker keeps its CIB in
# /var/lib/pacemaker/cib (both paths are compiled in): any existing files there are moved to
# $SANDBOX_DIR/pacemaker/backup on the first `up` and put back by `down`.
#
# Cluster: one node named after `uname -n` (written as the node's `name` in corosync.conf, which is
# what `crm_node -n` reports), ring0_addr 127.0.0.1, knet, crypto none; stonith-enabled=false,
# no-quorum-policy=ignore, dc-deadtime=2s (seeded into the first CIB: with the default 20 s the node
# needs ~25 s to become DC). Resources as in the deployment, with stand-ins where systemd is needed:
#   vip               ocf:heartbeat:IPaddr2 ip=$PACEMAKER_VIP cidr_netmask=32 nic=$PACEMAKER_VETH
#   lb-haproxy-clone  clone of lb-haproxy, ocf:pacemaker:Dummy (systemd:haproxy needs systemd)
#   order start vip then lb-haproxy-clone kind=Optional; colocation lb-haproxy-clone with vip
#   dummy             ocf:pacemaker:Dummy, monitor every 5 s: the resource to make fail
# $PACEMAKER_VETH is one end of a veth pair whose other end ($PACEMAKER_VETH_PEER,
# $PACEMAKER_VETH_PEER_ADDR) lives in the namespace $PACEMAKER_NETNS, so the VIP goes nowhere else.
# The cluster traffic is corosync on 127.0.0.1 only.

PACEMAKER_DIR=$SANDBOX_DIR/pacemaker
PACEMAKER_VETH_PEER_ADDR=${PACEMAKER_VETH_PEER_ADDR:-192.0.2.1/24}
PACEMAKER_CLUSTER_NAME=${PACEMAKER_CLUSTER_NAME:-ccdsandbox}
_PM_MARK="# clustercheckd sandbox (scripts/sandbox/pacemaker.sh)"
_PM_COROSYNC_CONF=/etc/corosync/corosync.conf
_PM_AUTHKEY=/etc/corosync/authkey
_PM_CIB_DIR=/var/lib/pacemaker/cib
_PM_PE_DIR=/var/lib/pacemaker/pengine

_pm_need() {
  need corosync corosync; need corosync-keygen corosync; need corosync-cfgtool corosync
  need pacemakerd pacemaker
  local t; for t in crm_mon crm_node crm_attribute crm_resource cibadmin; do need "$t" pacemaker-cli-utils; done
  need pcs pcs; need ip iproute2; need xmllint libxml2-utils; need pgrep procps
  [ -x /usr/lib/ocf/resource.d/heartbeat/IPaddr2 ] || die "IPaddr2 agent missing: run scripts/install-deps.sh (package resource-agents)"
  [ -x /usr/lib/ocf/resource.d/pacemaker/Dummy ] || die "Dummy agent missing: run scripts/install-deps.sh (package pacemaker)"
  [ "$(id -u)" -eq 0 ] || die "the pacemaker sandbox must run as root"
}

# --- processes ---------------------------------------------------------------------------------------
_pm_pid_of() {  # _pm_pid_of NAME: pid from our pid file when it still names NAME
  local f=$PACEMAKER_DIR/$1.pid
  [ -s "$f" ] && [ "$(ps -o comm= -p "$(cat "$f")" 2>/dev/null)" = "$1" ] && cat "$f"
}
_pm_children() { pgrep -f '^/usr/lib/pacemaker/pacemaker-' || true; }   # based, fenced, execd, ...
_pm_corosync_running() { pgrep -x corosync >/dev/null; }
_pm_pacemaker_running() { pgrep -x pacemakerd >/dev/null || [ -n "$(_pm_children)" ]; }
_pm_ours() { [ -f "$_PM_COROSYNC_CONF" ] && [ "$(head -n1 "$_PM_COROSYNC_CONF")" = "$_PM_MARK" ]; }

# _pm_stop_pids SECONDS WHAT PID...: SIGTERM, wait, then SIGKILL what is left (loudly).
_pm_stop_pids() {
  local secs=$1 what=$2 p left; shift 2
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local deadline=$(( $(date +%s) + secs ))
  while :; do
    left=(); for p in "$@"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
    [ ${#left[@]} -gt 0 ] || return 0
    [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 0.2
  done
  log "$what did not stop within ${secs}s: SIGKILL ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
  sleep 0.5
}

# --- files Corosync and Pacemaker read from fixed places -----------------------------------------
# _pm_claim_file PATH NAME OURS_CMD: before the sandbox writes PATH, keep the original (once) in
# backup/NAME, or note backup/NAME.absent; a PATH the sandbox wrote itself (OURS_CMD true) is no original.
_pm_claim_file() {
  local path=$1 name=$2 ours=$3 b=$PACEMAKER_DIR/backup
  mkdir -p "$b"
  if [ -e "$b/$name" ] || [ -e "$b/$name.absent" ]; then return 0; fi
  if [ -e "$path" ] && ! $ours; then cp -a "$path" "$b/$name"; else : >"$b/$name.absent"; fi
}
_pm_restore_file() {
  local path=$1 name=$2 b=$PACEMAKER_DIR/backup
  if [ -e "$b/$name" ]; then mv -f "$b/$name" "$path"
  elif [ -e "$b/$name.absent" ]; then rm -f "$path" "$b/$name.absent"
  fi
}
_pm_authkey_ours() { [ -s "$PACEMAKER_DIR/authkey.written" ]; }
_pm_claim_dir() {   # keep the directory (owner/mode are Pacemaker's), move its content aside
  local dir=$1 name=$2 b=$PACEMAKER_DIR/backup
  [ -d "$b/$name" ] && return 0
  mkdir -p "$b/$name"
  if [ -d "$dir" ]; then find "$dir" -mindepth 1 -maxdepth 1 -exec mv -t "$b/$name" {} +; fi
}
_pm_restore_dir() {
  local dir=$1 name=$2 b=$PACEMAKER_DIR/backup
  [ -d "$b/$name" ] || return 0
  [ -d "$dir" ] && find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  find "$b/$name" -mindepth 1 -maxdepth 1 -exec mv -t "$dir" {} +
  rmdir "$b/$name"
}

_pm_write_corosync_conf() {
  _pm_claim_file "$_PM_COROSYNC_CONF" corosync.conf _pm_ours
  _pm_claim_file "$_PM_AUTHKEY" authkey _pm_authkey_ours
  mkdir -p /etc/corosync
  cat >"$_PM_COROSYNC_CONF.tmp" <<EOF
$_PM_MARK
# One node on loopback; the original file (if any) is in $PACEMAKER_DIR/backup until \`down\`.
totem {
    version: 2
    cluster_name: $PACEMAKER_CLUSTER_NAME
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        name: $(uname -n)
        nodeid: 1
        ring0_addr: 127.0.0.1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_stderr: no
    to_syslog: no
    to_logfile: yes
    logfile: $PACEMAKER_DIR/corosync.log
    timestamp: on
}
EOF
  mv -f "$_PM_COROSYNC_CONF.tmp" "$_PM_COROSYNC_CONF"
  if ! _pm_authkey_ours; then
    rm -f "$_PM_AUTHKEY"
    corosync-keygen -l -k "$_PM_AUTHKEY" >/dev/null 2>&1 || die "corosync-keygen failed"
    echo "$_PM_AUTHKEY" >"$PACEMAKER_DIR/authkey.written"
  fi
}

# The first CIB: stonith off, quorum ignored and a short dc-deadtime so the lone node is DC in ~3 s.
_pm_seed_cib() {
  _pm_claim_dir "$_PM_CIB_DIR" cib
  _pm_claim_dir "$_PM_PE_DIR" pengine
  install -d -o hacluster -g haclient -m 750 "$_PM_CIB_DIR" "$_PM_PE_DIR"
  local seed=$PACEMAKER_DIR/cib-seed.xml
  cibadmin --empty >"$seed" || die "cibadmin --empty failed"
  CIB_file=$seed crm_attribute --type crm_config --name dc-deadtime --update 2s
  CIB_file=$seed crm_attribute --type crm_config --name stonith-enabled --update false
  CIB_file=$seed crm_attribute --type crm_config --name no-quorum-policy --update ignore
  install -o hacluster -g haclient -m 600 "$seed" "$_PM_CIB_DIR/cib.xml"
}

# --- network: veth pair into our namespace ------------------------------------------------------------
_pm_netns_exists() { ip netns list | awk -v n="$PACEMAKER_NETNS" '$1 == n { f = 1 } END { exit !f }'; }
_pm_net_up() {
  _pm_netns_exists || ip netns add "$PACEMAKER_NETNS"
  if ! ip link show dev "$PACEMAKER_VETH" >/dev/null 2>&1; then
    ip link add "$PACEMAKER_VETH" type veth peer name "$PACEMAKER_VETH_PEER"
    ip link set "$PACEMAKER_VETH_PEER" netns "$PACEMAKER_NETNS"
  fi
  ip -n "$PACEMAKER_NETNS" link show dev "$PACEMAKER_VETH_PEER" >/dev/null 2>&1 \
    || die "$PACEMAKER_VETH exists but its peer $PACEMAKER_VETH_PEER is not in namespace $PACEMAKER_NETNS"
  ip -n "$PACEMAKER_NETNS" -br addr show dev "$PACEMAKER_VETH_PEER" | grep -F " ${PACEMAKER_VETH_PEER_ADDR%%/*}/" >/dev/null \
    || ip -n "$PACEMAKER_NETNS" addr add "$PACEMAKER_VETH_PEER_ADDR" dev "$PACEMAKER_VETH_PEER"
  ip -n "$PACEMAKER_NETNS" link set lo up
  ip -n "$PACEMAKER_NETNS" link set "$PACEMAKER_VETH_PEER" up
  ip link set "$PACEMAKER_VETH" up
}
_pm_net_down() {
  ip link show dev "$PACEMAKER_VETH" >/dev/null 2>&1 && ip link del "$PACEMAKER_VETH"
  _pm_netns_exists && ip netns del "$PACEMAKER_NETNS"
  return 0
}
# shellcheck disable=SC2153  # PACEMAKER_VIP comes from env.sh
_pm_vip_on_veth() { ip -br addr show dev "$PACEMAKER_VETH" 2>/dev/null | grep -F " $PACEMAKER_VIP/32" >/dev/null; }

# --- cluster state (crm_mon XML) ---------------------------------------------------------------------
_pm_xml() { crm_mon -1 --output-as=xml 2>/dev/null; }
# _pm_true XPATH [XMLFILE]: the XPath is true in the current crm_mon XML (or in XMLFILE).
_pm_true() {
  local x
  if [ -n "${2:-}" ]; then x=$(xmllint --xpath "boolean($1)" "$2" 2>/dev/null)
  else x=$(_pm_xml | xmllint --xpath "boolean($1)" - 2>/dev/null); fi
  [ "$x" = true ]
}
_pm_node() { crm_node -n 2>/dev/null || uname -n; }
_pm_is_dc() { _pm_true "/*/nodes/node[@name='$(uname -n)'][@online='true'][@is_dc='true'] and /*/summary/current_dc[@with_quorum='true']"; }
_pm_started() { _pm_true "/*/resources//resource[@id='$1'][@role='Started'][@active='true']"; }
_pm_exists() { crm_resource --resource "$1" --query-xml >/dev/null 2>&1; }
_pm_cib_has() { cibadmin --query --xpath "$1" >/dev/null 2>&1; }

# _pm_run CMD...: run a cluster tool quietly; on failure show its output and stop.
_pm_run() {
  local out
  out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; die "failed: $*"; }
}

pacemaker_wait_idle() {
  local secs=${1:-60}
  crm_resource --wait --timeout="${secs}s" >/dev/null || die "the cluster did not settle within ${secs}s"
}

_pm_configure() {
  local node; node=$(_pm_node)
  crm_attribute --type crm_config --name stonith-enabled --update false
  crm_attribute --type crm_config --name no-quorum-policy --update ignore
  mkdir -p "$PACEMAKER_DIR/state"
  _pm_exists vip || _pm_run pcs resource create vip ocf:heartbeat:IPaddr2 ip="$PACEMAKER_VIP" \
      cidr_netmask=32 nic="$PACEMAKER_VETH" op monitor interval=10s
  _pm_exists lb-haproxy-clone || _pm_run pcs resource create lb-haproxy ocf:pacemaker:Dummy \
      state="$PACEMAKER_DIR/state/lb-haproxy.state" op monitor interval=10s clone
  _pm_exists dummy || _pm_run pcs resource create dummy ocf:pacemaker:Dummy \
      state="$PACEMAKER_DIR/state/dummy.state" op monitor interval=5s
  _pm_cib_has "//rsc_order[@first='vip'][@then='lb-haproxy-clone']" \
    || _pm_run pcs constraint order start vip 'then' lb-haproxy-clone kind=Optional
  _pm_cib_has "//rsc_colocation[@rsc='lb-haproxy-clone'][@with-rsc='vip']" \
    || _pm_run pcs constraint colocation add lb-haproxy-clone with vip
  # Undo what the verbs may have left behind, so `up` always ends healthy.
  local r
  for r in vip dummy lb-haproxy lb-haproxy-clone; do
    if _pm_cib_has "//rsc_location[@rsc='$r'][starts-with(@id,'cli-')]"; then
      crm_resource --clear --resource "$r" >/dev/null 2>&1 || true
    fi
    if _pm_cib_has "//*[@id='$r']/meta_attributes/nvpair[@name='target-role']"; then
      crm_resource --resource "$r" --meta --delete-parameter target-role >/dev/null 2>&1 || true
    fi
  done
  if [ "$(crm_attribute --node "$node" --name standby --query --quiet 2>/dev/null)" = on ]; then
    crm_attribute --node "$node" --name standby --update off
  fi
}

pacemaker_up() {
  _pm_need
  mkdir -p "$PACEMAKER_DIR"
  local t0; t0=$(date +%s)
  _pm_net_up

  if _pm_corosync_running; then
    _pm_ours || die "a corosync not started by the sandbox is running (no sandbox $_PM_COROSYNC_CONF)"
  else
    _pm_pacemaker_running && die "Pacemaker daemons run without corosync: run \`scripts/sandbox.sh down pacemaker\`"
    _pm_write_corosync_conf
    log "starting corosync (log $PACEMAKER_DIR/corosync.log)"
    setsid corosync -f </dev/null >>"$PACEMAKER_DIR/corosync.out" 2>&1 &
    echo $! >"$PACEMAKER_DIR/corosync.pid"
    wait_until 30 "corosync to start (see $PACEMAKER_DIR/corosync.log)" corosync-cfgtool -s
  fi

  if ! pgrep -x pacemakerd >/dev/null; then
    _pm_seed_cib
    local plog=$PACEMAKER_DIR/pacemaker.log
    touch "$plog"; chown hacluster:haclient "$plog"; chmod 660 "$plog"
    log "starting pacemakerd (log $plog)"
    PCMK_logfile=$plog setsid pacemakerd -f </dev/null >>"$PACEMAKER_DIR/pacemakerd.out" 2>&1 &
    echo $! >"$PACEMAKER_DIR/pacemakerd.pid"
  fi
  wait_until 90 "$(uname -n) to be Online and DC with quorum (see $PACEMAKER_DIR/pacemaker.log)" _pm_is_dc
  [ "$(crm_node -n)" = "$(uname -n)" ] || die "crm_node -n says '$(crm_node -n)', expected '$(uname -n)'"

  _pm_configure
  wait_until 60 "vip, dummy and lb-haproxy to be Started" \
    eval '_pm_started vip && _pm_started dummy && _pm_started lb-haproxy'
  wait_until 30 "$PACEMAKER_VIP on $PACEMAKER_VETH" _pm_vip_on_veth
  pacemaker_wait_idle 60
  log "pacemaker up in $(( $(date +%s) - t0 ))s: node $(crm_node -n), vip $PACEMAKER_VIP on $PACEMAKER_VETH"
}

pacemaker_down() {
  local pid kids
  if pgrep -x pacemakerd >/dev/null || [ -n "$(_pm_children)" ]; then
    pid=$(_pm_pid_of pacemakerd || pgrep -x pacemakerd || true)
    kids=$(_pm_children)
    log "stopping pacemakerd (resources are stopped first)"
    # pacemakerd stops the resources, then its children, then itself.
    # shellcheck disable=SC2086
    _pm_stop_pids 90 "Pacemaker" $pid
    # shellcheck disable=SC2086,SC2046
    _pm_stop_pids 15 "Pacemaker daemons" $kids $(_pm_children)
  fi
  if _pm_corosync_running; then
    pid=$(_pm_pid_of corosync || true)
    if [ -z "$pid" ] && _pm_ours; then pid=$(pgrep -x corosync); fi
    [ -n "$pid" ] || die "a corosync not started by the sandbox is running: not stopping it"
    log "stopping corosync"
    # shellcheck disable=SC2086
    _pm_stop_pids 30 corosync $pid
  fi
  rm -f "$PACEMAKER_DIR/pacemakerd.pid" "$PACEMAKER_DIR/corosync.pid"
  _pm_net_down
  if [ -d "$PACEMAKER_DIR/backup" ]; then
    _pm_restore_file "$_PM_COROSYNC_CONF" corosync.conf
    _pm_restore_file "$_PM_AUTHKEY" authkey
    _pm_restore_dir "$_PM_CIB_DIR" cib
    _pm_restore_dir "$_PM_PE_DIR" pengine
    rmdir "$PACEMAKER_DIR/backup" 2>/dev/null || log "left over in $PACEMAKER_DIR/backup: $(ls -A "$PACEMAKER_DIR/backup")"
  fi
  rm -rf "$PACEMAKER_DIR/state" "$PACEMAKER_DIR/authkey.written" "$PACEMAKER_DIR/cib-seed.xml"
  local left; left=$(pgrep -x corosync; pgrep -x pacemakerd; _pm_children)
  [ -z "$left" ] || die "still running after down: pids $(echo "$left" | tr '\n' ' ')"
  ! ip link show dev "$PACEMAKER_VETH" >/dev/null 2>&1 || die "$PACEMAKER_VETH still exists"
  log "pacemaker down"
}

pacemaker_status() {
  if ! pgrep -x pacemakerd >/dev/null; then
    if _pm_corosync_running; then echo "pacemaker: corosync running, pacemakerd stopped"
    else echo "pacemaker: stopped"; fi
    return 0
  fi
  local x; x=$(mktemp); _pm_xml >"$x" || true
  if ! _pm_true "/pacemaker-result/summary" "$x"; then
    echo "pacemaker: pacemakerd running, crm_mon not answering yet"; rm -f "$x"; return 0
  fi
  local q dc vip fails bans
  q=$(xmllint --xpath 'string(/*/summary/current_dc/@with_quorum)' "$x" 2>/dev/null)
  dc=$(xmllint --xpath 'string(/*/summary/current_dc/@name)' "$x" 2>/dev/null)
  vip=$(xmllint --xpath "string(/*/resources/resource[@id='vip']/@role)" "$x" 2>/dev/null)
  fails=$(xmllint --xpath 'count(/*/failures/failure)' "$x" 2>/dev/null)
  bans=$(xmllint --xpath 'count(/*/bans/ban)' "$x" 2>/dev/null)
  rm -f "$x"
  local addr="not on $PACEMAKER_VETH"; _pm_vip_on_veth && addr="on $PACEMAKER_VETH"
  echo "pacemaker: running, node $(_pm_node), DC ${dc:-none}, quorum ${q:-?}, vip ${vip:-absent} ($PACEMAKER_VIP $addr), failed actions ${fails:-?}, bans ${bans:-?}"
}

pacemaker_node_name() { crm_node -n; }
pacemaker_crm_mon() { crm_mon -1 --output-as=xml "$@"; }

pacemaker_ban() {
  [ -n "${1:-}" ] || die "usage: pacemaker ban RESOURCE [NODE]"
  _pm_run crm_resource --ban --resource "$1" --node "${2:-$(_pm_node)}"
  pacemaker_wait_idle
}
pacemaker_clear() {
  [ -n "${1:-}" ] || die "usage: pacemaker clear RESOURCE"
  _pm_run crm_resource --clear --resource "$1"
  pacemaker_wait_idle
}
pacemaker_move() {
  [ -n "${1:-}" ] || die "usage: pacemaker move RESOURCE [NODE]"
  if [ -n "${2:-}" ]; then _pm_run crm_resource --move --resource "$1" --node "$2"
  else _pm_run crm_resource --move --resource "$1"; fi
  pacemaker_wait_idle
}
pacemaker_stop_resource() {
  [ -n "${1:-}" ] || die "usage: pacemaker stop_resource RESOURCE"
  _pm_run crm_resource --resource "$1" --meta --set-parameter target-role --parameter-value Stopped
  pacemaker_wait_idle
}
pacemaker_start_resource() {
  [ -n "${1:-}" ] || die "usage: pacemaker start_resource RESOURCE"
  crm_resource --resource "$1" --meta --delete-parameter target-role >/dev/null 2>&1 || true
  pacemaker_wait_idle
}
pacemaker_standby() {
  _pm_run crm_attribute --node "${1:-$(_pm_node)}" --name standby --update on
  pacemaker_wait_idle
}
pacemaker_unstandby() {
  _pm_run crm_attribute --node "${1:-$(_pm_node)}" --name standby --update off
  pacemaker_wait_idle
}

_pm_has_failure() { _pm_true "/*/failures/failure[starts-with(@op_key,'$1_')]"; }
pacemaker_fail_dummy() {
  _pm_started dummy || die "dummy is not Started"
  case "${1:-state}" in
    state)  rm -f "$PACEMAKER_DIR/state/dummy.state" ;;
    inject) _pm_run crm_resource --fail --resource dummy --node "$(_pm_node)" ;;
    *) die "usage: pacemaker fail_dummy [state|inject]" ;;
  esac
  wait_until 30 "a failed action for dummy in crm_mon" _pm_has_failure dummy
  pacemaker_wait_idle
}

pacemaker_cleanup() {
  if [ -n "${1:-}" ]; then
    _pm_run crm_resource --cleanup --resource "$1"
    wait_until 30 "the failed actions of $1 to go" eval "! _pm_has_failure '$1'"
  else
    _pm_run crm_resource --cleanup
    wait_until 30 "the failed actions to go" eval "! _pm_true '/*/failures/failure'"
  fi
  pacemaker_wait_idle
}

# capture DIR: the live samples for the parser's tests (outputs of the real tools, unedited).
pacemaker_capture() {
  local dir=${1:-}; [ -n "$dir" ] || die "usage: pacemaker capture DIR"
  mkdir -p "$dir"
  _pm_grab() {
    crm_mon -1 --output-as=xml >"$dir/$1.crm_mon.xml" || die "crm_mon --output-as=xml failed"
    crm_mon -1 --as-xml >"$dir/$1.crm_mon-legacy.xml" || die "crm_mon --as-xml failed"
    cibadmin --query --scope constraints >"$dir/$1.constraints.xml" || die "cibadmin --query failed"
  }
  pacemaker_cleanup
  _pm_true "/*/resources/resource[@id='vip'][@role='Started']" || die "vip is not Started: run up first"
  _pm_grab live-healthy
  pacemaker_fail_dummy state
  _pm_grab live-dummy-failed
  _pm_true "/*/failures/failure[@op_key='dummy_monitor_5000']" "$dir/live-dummy-failed.crm_mon.xml" \
    || die "live-dummy-failed: no failed dummy monitor recorded"
  pacemaker_cleanup dummy
  pacemaker_ban vip
  _pm_vip_on_veth && die "vip banned but $PACEMAKER_VIP still on $PACEMAKER_VETH"
  _pm_grab live-vip-banned
  pacemaker_clear vip
  wait_until 30 "$PACEMAKER_VIP back on $PACEMAKER_VETH" _pm_vip_on_veth
  # What a user outside the haclient group gets (exit status 4, CRM_EX_INSUFFICIENT_PRIV).
  local rc=0
  runuser -u nobody -- crm_mon -1 --output-as=xml >"$dir/live-no-permission.crm_mon.xml" 2>/dev/null || rc=$?
  [ "$rc" = 4 ] || die "crm_mon as nobody exited $rc, expected 4"
  rc=0; runuser -u nobody -- crm_mon -1 --as-xml >"$dir/live-no-permission.crm_mon-legacy.xml" 2>/dev/null || rc=$?
  [ "$rc" = 4 ] || die "crm_mon --as-xml as nobody exited $rc, expected 4"
  log "captured live-healthy, live-dummy-failed, live-vip-banned, live-no-permission into $dir"
}

# capture_stopped DIR: what crm_mon says when the cluster is not running (run after `down`).
pacemaker_capture_stopped() {
  local dir=${1:-} rc; [ -n "$dir" ] || die "usage: pacemaker capture_stopped DIR"
  if _pm_corosync_running || _pm_pacemaker_running; then die "the cluster is running: run down first"; fi
  mkdir -p "$dir"
  rc=0; crm_mon -1 --output-as=xml >"$dir/live-stopped.crm_mon.xml" 2>/dev/null || rc=$?
  log "crm_mon -1 --output-as=xml exited $rc"
  rc=0; crm_mon -1 --as-xml >"$dir/live-stopped.crm_mon-legacy.xml" 2>/dev/null || rc=$?
  log "crm_mon -1 --as-xml exited $rc"
}
