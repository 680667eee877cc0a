# Helpers shared by the sandbox components.
die() { echo "sandbox: $*" >&2; exit 1; }
log() { echo "sandbox: $*" >&2; }

# wait_until SECONDS DESCRIPTION CMD...: retry CMD every 0.5 s; fail loudly with DESCRIPTION.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.5
  done
}

# pid_alive PIDFILE: true when the pid file names a running process.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# need CMD PACKAGE: fail loudly when a tool is missing (scripts/install-deps.sh installs them).
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is missing: run scripts/install-deps.sh (package $2)"; }
