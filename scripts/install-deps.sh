#!/usr/bin/env bash
# Install the Debian 12 packages the project needs (the sandbox clusters, load and browser tools).
# Idempotent; run as root. Only packages that are missing are installed, and `apt-get update` runs
# only when something is missing. Exits non-zero, loudly, when an install fails.
#
# Debian's package scripts may try to start the default services (mariadb on 3306, rabbitmq on 5672,
# haproxy from /etc/haproxy). Without systemd they normally do not, but anything such a service
# started *during this run* is stopped again: the sandbox runs its own instances on other ports.
# Processes that were already running before this script started are left alone.
#
# The Rust toolchain is not installed here (the machine has it).
set -euo pipefail

PACKAGES=(
  mariadb-server mariadb-client mariadb-backup galera-4 rsync
  haproxy socat
  rabbitmq-server
  pacemaker pacemaker-cli-utils pcs corosync resource-agents
  prometheus
  iproute2 procps psmisc nftables strace
  wrk curl jq chromium
)

say() { echo "install-deps: $*" >&2; }
fail() { echo "install-deps: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it calls apt-get)"
command -v dpkg-query >/dev/null || fail "dpkg-query not found: this script is for Debian"

installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done

if [ ${#missing[@]} -eq 0 ]; then
  say "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

# Wait for another apt/dpkg run (e.g. one started at boot) instead of failing on its lock.
for _ in $(seq 1 360); do
  pgrep -x apt-get >/dev/null || pgrep -x dpkg >/dev/null || break
  sleep 5
done

# Default-service processes present before the install: these are not ours to stop.
service_pids() { pgrep -x 'mariadbd|mysqld|haproxy|beam.smp' 2>/dev/null | sort || true; }
before=$(service_pids)

say "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || fail "apt-get update failed"
if ! apt-get install -y -q "${missing[@]}"; then
  fail "apt-get install failed for: ${missing[*]}"
fi
for p in "${missing[@]}"; do installed "$p" || fail "package $p is still not installed"; done

# Stop default services that the package scripts started during this run. A sandbox instance
# (its command line names /var/tmp/clustercheckd-sandbox or $SANDBOX_DIR) is never touched.
sandbox_dir=${SANDBOX_DIR:-/var/tmp/clustercheckd-sandbox}
for pid in $(comm -13 <(echo "$before") <(service_pids)); do
  args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case "$args" in *"$sandbox_dir"*|*clustercheckd-sandbox*) continue ;; esac
  say "stopping default service started by the package scripts: pid $pid: $args"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
done
say "done"
