#!/usr/bin/env bash
# Offline Pacemaker scenarios for a three-controller cluster, made with the real tools only.
#
#   scripts/pacemaker-scenarios.sh OUTDIR
#
# Models the deployment: controller01..03, stonith-enabled=false, no-quorum-policy=ignore, `vip`
# (ocf:heartbeat:IPaddr2, ip=10.0.0.10: an example address inside an offline file, nothing is sent
# anywhere), `lb-haproxy-clone` (clone of systemd:haproxy, created with --force because the agent
# cannot run here), `order start vip then lb-haproxy-clone kind=Optional` and
# `colocation add lb-haproxy-clone with vip`.
#
# Nothing here needs a running cluster: every CIB starts from `cibadmin --empty`, is edited with
# `pcs -f`, `cibadmin`, `crm_attribute` and `crm_resource` (CIB_file=...), and is brought to a
# settled state with `crm_simulate -S` (-u node up, -d node down, -i injected operation result,
# -q quorum). For each scenario X it writes into OUTDIR:
#
#   X.xml                  the CIB (input for CIB_file=X.xml crm_mon ...)
#   X.crm_mon.xml          CIB_file=X.xml crm_mon -1 --output-as=xml
#   X.crm_mon-legacy.xml   CIB_file=X.xml crm_mon -1 --as-xml
#   X.constraints.xml      CIB_file=X.xml cibadmin --query --scope constraints
#   X.resources.xml        CIB_file=X.xml cibadmin --query --scope resources
#   X.crm_mon-inactive.xml CIB_file=X.xml crm_mon -1 -r --output-as=xml  (bundle-group-clone only)
#
# and checks with xmllint that each crm_mon output (both formats) shows what the name says; any
# failed command or check stops the script with a non-zero status. Runs in a few seconds (most of it
# is pcs's Python start-up). Timestamps (last-rc-change, last_update) are the time of the run, so
# outputs differ between runs only in those.
#
# Scenarios: healthy, vip-monitor-failed, node-down, vip-moved, vip-banned, quorum-lost,
# quorum-lost-stop, migration-threshold, standby, failed-stop-elsewhere, bundle-group-clone.
set -euo pipefail

die() { echo "pacemaker-scenarios: ERROR: $*" >&2; exit 1; }
say() { echo "pacemaker-scenarios: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is missing: run scripts/install-deps.sh (package $2)"; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUT=$1
for t in cibadmin:pacemaker-cli-utils crm_simulate:pacemaker-cli-utils crm_mon:pacemaker-cli-utils \
         crm_attribute:pacemaker-cli-utils crm_resource:pacemaker-cli-utils pcs:pcs \
         xmllint:libxml2-utils; do
  need "${t%%:*}" "${t#*:}"
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/scenarios.log
: >"$LOG"

NODES=(controller01 controller02 controller03)

# run CMD...: log the command, run it with its output in the log; on failure show the log tail.
run() {
  echo "+ ${CIB_file:+CIB_file=$CIB_file }$*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    die "command failed: $*"
  fi
}
# on FILE CMD...: run CMD against the offline CIB FILE (CIB_file is how the tools read a file).
on() { local f=$1; shift; CIB_file=$f run "$@"; }

# settle FILE: run the simulated cluster until the scheduler has nothing left to do.
settle() {
  local f=$1 i
  for i in 1 2 3; do
    crm_simulate -R -x "$f" --output-as=xml >"$f.plan" 2>>"$LOG" || die "crm_simulate -R -x $f failed"
    if [ "$(xp "$f.plan" 'count(/pacemaker-result/actions/*[not(@blocked="true")])')" != 0 ]; then
      run crm_simulate -Q -x "$f" -S -O "$f.next"
      mv "$f.next" "$f"
    else
      rm -f "$f.plan"; return 0
    fi
  done
  rm -f "$f.plan"; crm_simulate -R -x "$f" >>"$LOG" 2>&1 || true
  die "$f does not settle: the scheduler still wants actions (see $LOG)"
}

# xp FILE XPATH: evaluate an XPath expression (string result) on FILE.
xp() { xmllint --xpath "$2" "$1" 2>/dev/null || true; }
# check X XPATH DESCRIPTION: XPATH must be true in both crm_mon outputs of scenario X.
check() {
  local x=$1 expr=$2 what=$3 f
  for f in "$OUT/$x.crm_mon.xml" "$OUT/$x.crm_mon-legacy.xml"; do
    [ "$(xp "$f" "boolean($expr)")" = true ] || die "$x: expected $what; false in $f: $expr"
  done
}
# check_constraints X XPATH DESCRIPTION
check_constraints() {
  [ "$(xp "$OUT/$1.constraints.xml" "boolean($2)")" = true ] \
    || die "$1: expected $3 in $1.constraints.xml: $2"
}

# capture X: record the outputs of the real tools for scenario X and check the common shape.
capture() {
  local x=$1 f=$OUT/$1.xml
  CIB_file=$f crm_mon -1 --output-as=xml >"$OUT/$x.crm_mon.xml" 2>>"$LOG" || die "$x: crm_mon --output-as=xml failed"
  CIB_file=$f crm_mon -1 --as-xml >"$OUT/$x.crm_mon-legacy.xml" 2>>"$LOG" || die "$x: crm_mon --as-xml failed"
  CIB_file=$f cibadmin --query --scope constraints >"$OUT/$x.constraints.xml" 2>>"$LOG" \
    || die "$x: cibadmin --query --scope constraints failed"
  CIB_file=$f cibadmin --query --scope resources >"$OUT/$x.resources.xml" 2>>"$LOG" \
    || die "$x: cibadmin --query --scope resources failed"
  [ "$(xp "$OUT/$x.crm_mon.xml" 'string(/pacemaker-result/status/@code)')" = 0 ] \
    || die "$x: crm_mon --output-as=xml did not report status code 0"
  [ "$(xp "$OUT/$x.crm_mon-legacy.xml" 'name(/*)')" = crm_mon ] \
    || die "$x: crm_mon --as-xml root element is not <crm_mon>"
  check "$x" "/*/summary/current_dc[@present='true'][@name='controller01']" "controller01 as DC"
  check "$x" "count(/*/nodes/node[@type='member']) = 3" "three member nodes"
}

# Expressions reused by the checks.
vip_on() { echo "/*/resources/resource[@id='vip'][@role='Started'][@active='true']/node[@name='$1']"; }
online() { echo "/*/nodes/node[@name='$1'][@online='$2']"; }
haproxy_started_on() { echo "/*/resources/clone[@id='lb-haproxy-clone']/resource[@id='lb-haproxy'][@role='Started']/node[@name='$1']"; }

t0=$(date +%s%N)
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- base configuration (no status yet) ------------------------------------------------------------
base=$WORK/base.xml
cibadmin --empty >"$base" || die "cibadmin --empty failed"
# Real clusters number corosync nodes 1..N; crm_simulate -u would otherwise invent id=uname nodes.
for i in 1 2 3; do
  on "$base" cibadmin --create --scope nodes --xml-text "<node id=\"$i\" uname=\"controller0$i\"/>"
done
# What a running cluster's controller records: DC, quorum, stack and version (crm_mon's summary).
on "$base" cibadmin --modify --xml-text '<cib dc-uuid="1" have-quorum="1"/>'
version=$(pacemakerd --features 2>/dev/null | sed -n 's/^Pacemaker \([^ ]*\) (Build: \([^)]*\)).*/\1-\2/p')
[ -n "$version" ] || die "cannot read the Pacemaker version from pacemakerd --features"
feature_set=$(xp "$base" 'string(/cib/@crm_feature_set)')
on "$base" crm_attribute --type crm_config --name cluster-infrastructure --update corosync
on "$base" crm_attribute --type crm_config --name cluster-name --update overcloud
on "$base" crm_attribute --type crm_config --name dc-version --update "$version"
run pcs -f "$base" property set stonith-enabled=false no-quorum-policy=ignore
run pcs -f "$base" resource create vip ocf:heartbeat:IPaddr2 ip=10.0.0.10 cidr_netmask=32 \
  op monitor interval=10s
# systemd:haproxy has no metadata without systemd: --force, exactly as the brief allows.
run pcs -f "$base" resource create lb-haproxy systemd:haproxy clone --force
run pcs -f "$base" constraint order start vip 'then' lb-haproxy-clone kind=Optional
run pcs -f "$base" constraint colocation add lb-haproxy-clone with vip

# --- bundle-group-clone: a cloned group and a podman bundle with guest nodes --------------------------
# Independent of healthy.xml, so it runs in the background next to the others (pcs is the slow part).
bundle_group_clone() {
  local f=$OUT/bundle-group-clone.xml i n
  : >"$LOG"
  cp "$base" "$f"
  for n in "${NODES[@]}"; do
    on "$f" crm_attribute --type nodes --node "$n" --name galera-role --update true
  done
  run pcs -f "$f" resource create galera-svc systemd:mariadb --force --group galera-grp
  run pcs -f "$f" resource create galera-check systemd:clustercheck --force --group galera-grp
  run pcs -f "$f" resource clone galera-grp
  run pcs -f "$f" constraint location galera-grp-clone rule resource-discovery=exclusive score=0 galera-role eq true
  run pcs -f "$f" resource bundle create rabbitmq-bundle container podman \
    image=cluster.common.tag/rabbitmq:pcmklatest replicas=3 network control-port=3122 --force
  run pcs -f "$f" resource create rabbitmq ocf:heartbeat:rabbitmq-cluster set_policy='ha-all ^(?!amq\.).* {"ha-mode":"all"}' \
    bundle rabbitmq-bundle --force
  run crm_simulate -Q -x "$f" -u controller01 -u controller02 -u controller03 -S -O "$f"
  for n in "${NODES[@]}"; do
    on "$f" crm_attribute --node "$n" --lifetime reboot --name '#feature-set' --update "$feature_set"
  done
  # The bundle's guest nodes come online once their containers and remote connections run (the run
  # above started those; crm_simulate then waits for the guests, which only -u brings up).
  run crm_simulate -Q -x "$f" -u rabbitmq-bundle-0 -u rabbitmq-bundle-1 -u rabbitmq-bundle-2 -S -O "$f"
  # crm_simulate -u records a guest like a cluster node (a <nodes> entry, so crm_mon says
  # type="member"); a real cluster has no <nodes> entry for a guest and marks its node_state
  # remote_node="true" (crm_mon: type="remote", "GuestOnline").
  for i in 0 1 2; do
    on "$f" cibadmin --delete --scope nodes --xml-text "<node id=\"rabbitmq-bundle-$i\"/>"
    on "$f" cibadmin --modify --scope status --xml-text "<node_state id=\"rabbitmq-bundle-$i\" remote_node=\"true\"/>"
  done
  settle "$f"
  capture bundle-group-clone
  CIB_file=$f crm_mon -1 -r --output-as=xml >"$OUT/bundle-group-clone.crm_mon-inactive.xml" 2>>"$LOG" \
    || die "bundle-group-clone: crm_mon -r failed"
  check bundle-group-clone "count(/*/resources/clone[@id='galera-grp-clone']/group/resource[@role='Started']) = 6" "galera-grp Started (2 members) on 3 nodes"
  check bundle-group-clone "count(/*/resources/bundle[@id='rabbitmq-bundle']/replica) = 3" "three bundle replicas"
  check bundle-group-clone "count(/*/resources/bundle/replica/resource[@id='rabbitmq'][@role='Started']) = 3" "rabbitmq Started in each replica"
  check bundle-group-clone "count(/*/nodes/node[@type='remote'][@online='true']) = 3" "three guest nodes online"
  check bundle-group-clone "/*/node_attributes/node[@name='controller01']/attribute[@name='galera-role'][@value='true']" "the node attribute"
  check bundle-group-clone "count(/*/resources/clone[@id='lb-haproxy-clone']/resource[@role='Stopped']) > 0" "stopped clone instances listed"
  [ "$(xp "$OUT/bundle-group-clone.crm_mon-inactive.xml" 'count(/*/resources/clone[@id="lb-haproxy-clone"]/resource[@role="Stopped"]) > 0')" = true ] \
    || die "bundle-group-clone: -r output lacks the stopped clone instances"
}

LOG=$OUT/scenarios-bundle.log bundle_group_clone >/dev/null 2>"$OUT/scenarios-bundle.err" &
bundle_pid=$!
trap 'kill "$bundle_pid" 2>/dev/null; rm -rf "$WORK"' EXIT

# --- healthy --------------------------------------------------------------------------------------
h=$OUT/healthy.xml
run crm_simulate -Q -x "$base" -u controller01 -u controller02 -u controller03 -S -O "$h"
# The controller of each node publishes its feature set as a transient attribute (crm_mon shows it
# as node/@feature_set); crm_simulate does not.
for n in "${NODES[@]}"; do
  on "$h" crm_attribute --node "$n" --lifetime reboot --name '#feature-set' --update "$feature_set"
done
settle "$h"
capture healthy
check healthy "count(/*/nodes/node[@online='true']) = 3" "three nodes online"
check healthy "/*/summary/current_dc[@with_quorum='true']" "quorum"
check healthy "$(vip_on controller01)" "vip Started on controller01"
check healthy "$(haproxy_started_on controller01)" "lb-haproxy Started on controller01 (with vip)"
check healthy "count(/*/resources/clone[@id='lb-haproxy-clone']/resource[@role='Stopped']) = 2" \
  "the two other clone instances Stopped (colocation with vip)"
check healthy "not(/*/failures/failure)" "no failed actions"
check healthy "not(/*/bans/ban)" "no bans"
check_constraints healthy "/constraints/rsc_order[@first='vip'][@then='lb-haproxy-clone'][@kind='Optional']" "the order"
check_constraints healthy "/constraints/rsc_colocation[@rsc='lb-haproxy-clone'][@with-rsc='vip'][@score='INFINITY']" "the colocation"

# derive NAME: start scenario NAME from a copy of healthy.xml; prints its path.
derive() { cp "$h" "$OUT/$1.xml"; echo "$OUT/$1.xml"; }

# --- vip-monitor-failed: vip's recurring monitor found it not running; recovered in place -----------
f=$(derive vip-monitor-failed)
run crm_simulate -Q -x "$f" -i vip_monitor_10000@controller01=7 -S -O "$f"
settle "$f"
capture vip-monitor-failed
check vip-monitor-failed "/*/failures/failure[@op_key='vip_monitor_10000'][@node='controller01'][@exitcode='7'][@task='monitor']" "a failed vip monitor on controller01"
check vip-monitor-failed "/*/node_history/node[@name='controller01']/resource_history[@id='vip'][@fail-count='1']" "fail-count 1 for vip on controller01"
check vip-monitor-failed "$(vip_on controller01)" "vip recovered on controller01"

# --- node-down: controller02 left the cluster cleanly ------------------------------------------------
f=$(derive node-down)
run crm_simulate -Q -x "$f" -d controller02 -S -O "$f"
settle "$f"
capture node-down
check node-down "$(online controller02 false)" "controller02 offline"
check node-down "count(/*/nodes/node[@online='true']) = 2" "two nodes online"
check node-down "/*/summary/current_dc[@with_quorum='true']" "quorum kept (2 of 3)"
check node-down "$(vip_on controller01)" "vip still on controller01"

# --- vip-moved: `crm_resource --move` (what `pcs resource move` does) to controller02 -------------
f=$(derive vip-moved)
on "$f" crm_resource --move --resource vip --node controller02
settle "$f"
capture vip-moved
check vip-moved "$(vip_on controller02)" "vip Started on controller02"
check vip-moved "$(haproxy_started_on controller02)" "lb-haproxy followed vip to controller02"
check vip-moved "not(/*/bans/ban)" "no bans (a move is a positive preference)"
check_constraints vip-moved "/constraints/rsc_location[@id='cli-prefer-vip'][@node='controller02'][@score='INFINITY']" "the cli-prefer constraint"

# --- vip-banned: `crm_resource --ban` from controller01 ------------------------------------------
f=$(derive vip-banned)
on "$f" crm_resource --ban --resource vip --node controller01
settle "$f"
capture vip-banned
check vip-banned "/*/bans/ban[@resource='vip'][@node='controller01'][@id='cli-ban-vip-on-controller01']" "a ban of vip on controller01"
check vip-banned "/*/resources/resource[@id='vip'][@role='Started'] and not($(vip_on controller01))" "vip Started elsewhere"
check_constraints vip-banned "/constraints/rsc_location[@id='cli-ban-vip-on-controller01'][@score='-INFINITY']" "the cli-ban constraint"

# --- quorum-lost: controller01's view after controller02 and 03 vanished (policy ignore) ----------
f=$(derive quorum-lost)
run crm_simulate -Q -x "$f" -d controller02 -d controller03 -q 0 -S -O "$f"
settle "$f"
capture quorum-lost
check quorum-lost "/*/summary/current_dc[@with_quorum='false']" "no quorum"
check quorum-lost "count(/*/nodes/node[@online='true']) = 1" "one node online"
check quorum-lost "/*/summary/cluster_options[@no-quorum-policy='ignore']" "no-quorum-policy ignore"
check quorum-lost "$(vip_on controller01)" "vip kept running (policy ignore)"

# --- quorum-lost-stop: the same with no-quorum-policy=stop (Pacemaker's default) ---------------------
f=$(derive quorum-lost-stop)
run pcs -f "$f" property set no-quorum-policy=stop
run crm_simulate -Q -x "$f" -d controller02 -d controller03 -q 0 -S -O "$f"
settle "$f"
capture quorum-lost-stop
check quorum-lost-stop "/*/summary/current_dc[@with_quorum='false']" "no quorum"
check quorum-lost-stop "/*/summary/cluster_options[@no-quorum-policy='stop']" "no-quorum-policy stop"
check quorum-lost-stop "/*/resources/resource[@id='vip'][@role='Stopped'][@active='false']" "vip Stopped"
check quorum-lost-stop "not(/*/resources/clone/resource[@role='Started'])" "no lb-haproxy instance Started"

# --- migration-threshold: vip fails once with migration-threshold=1 and is pushed off its node -----
f=$(derive migration-threshold)
run pcs -f "$f" resource meta vip migration-threshold=1
settle "$f"
run crm_simulate -Q -x "$f" -i vip_monitor_10000@controller01=1 -S -O "$f"
settle "$f"
capture migration-threshold
check migration-threshold "/*/node_history/node[@name='controller01']/resource_history[@id='vip'][@migration-threshold='1'][@fail-count='1']" "fail-count 1 reaching migration-threshold 1"
check migration-threshold "/*/failures/failure[@op_key='vip_monitor_10000'][@node='controller01'][@exitcode='1']" "the failed monitor"
check migration-threshold "/*/resources/resource[@id='vip'][@role='Started'] and not($(vip_on controller01))" "vip moved away from controller01"

# --- standby: controller01 put in standby -------------------------------------------------------------
f=$(derive standby)
run pcs -f "$f" node standby controller01
settle "$f"
capture standby
check standby "/*/nodes/node[@name='controller01'][@standby='true'][@online='true']" "controller01 online but standby"
check standby "/*/nodes/node[@name='controller01'][@resources_running='0']" "nothing running on controller01"
check standby "/*/resources/resource[@id='vip'][@role='Started'] and not($(vip_on controller01))" "vip moved away from controller01"

# --- failed-stop-elsewhere: an unrelated resource's stop failed on controller02 ---------------------
# Its monitor found it not running, the recovery's stop failed: with stonith disabled it stays
# FAILED (blocked, unmanaged) on controller02 until someone cleans it up. The VIP is untouched.
f=$(derive failed-stop-elsewhere)
run pcs -f "$f" resource create unrelated ocf:pacemaker:Dummy op monitor interval=10s
on "$f" crm_resource --move --resource unrelated --node controller02
settle "$f"
on "$f" crm_resource --clear --resource unrelated
settle "$f"
run crm_simulate -Q -x "$f" -i unrelated_monitor_10000@controller02=7 -i unrelated_stop_0@controller02=1 -S -O "$f"
settle "$f"
capture failed-stop-elsewhere
check failed-stop-elsewhere "/*/resources/resource[@id='unrelated'][@failed='true'][@blocked='true']/node[@name='controller02']" "unrelated FAILED (blocked) on controller02"
check failed-stop-elsewhere "/*/failures/failure[@op_key='unrelated_stop_0'][@node='controller02'][@task='stop']" "the failed stop"
check failed-stop-elsewhere "$(vip_on controller01)" "vip still on controller01"
check failed-stop-elsewhere "count(/*/resources//resource[@failed='true']) = 1" "nothing else failed"

wait "$bundle_pid" || { cat "$OUT/scenarios-bundle.err" >&2; die "bundle-group-clone failed: see $OUT/scenarios-bundle.log"; }
rm -f "$OUT/scenarios-bundle.err"
trap 'rm -rf "$WORK"' EXIT
say "wrote $(find "$OUT" -maxdepth 1 -name '*.crm_mon.xml' | wc -l) scenarios to $OUT in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
