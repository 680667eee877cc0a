#!/usr/bin/env bash
# The demo: install what is missing, start the sandbox's real clusters with one clustercheckd per
# Galera node (as on three controllers), HAProxy in front, and print what to curl.
#
#   scripts/demo.sh          (as root)      start, or bring back, everything; prints the URLs
#   scripts/sandbox.sh down                 stop it all again
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=sandbox/env.sh
source scripts/sandbox/env.sh

scripts/install-deps.sh
cargo build --release
scripts/sandbox.sh up

cat <<TEXT

clustercheckd is running, one daemon per sandbox Galera node. Try:

  curl -i http://127.0.0.1:$((CHECK_PORT_BASE + 1))/          # node1's Galera check (200 / 503, one-line reason)
  curl -s http://127.0.0.1:$((CHECK_PORT_BASE + 2))/status    # node2's verdict and wsrep state as JSON
  curl -s http://127.0.0.1:$((CHECK_PORT_BASE + 3))/metrics   # node3's Prometheus metrics
  curl -i http://127.0.0.1:$((CHECK_PORT_BASE + 2))/rabbitmq  # node2's RabbitMQ check (node, partitions, alarms, AMQP probe)
  curl -i http://127.0.0.1:$((CHECK_PORT_BASE + 1))/pacemaker # Pacemaker quorum, node, failed resources (node1 watches it)
  curl -i http://127.0.0.1:$((CHECK_PORT_BASE + 1))/vip       # does this host hold the VIP, and does Pacemaker agree?
  for p in $((CHECK_PORT_BASE + 1)) $((CHECK_PORT_BASE + 2)) $((CHECK_PORT_BASE + 3)); do echo -n "\$p: "; curl -s http://127.0.0.1:\$p/writer; done
                                                              # /writer: 200 on exactly one node, the writer
  curl -s http://127.0.0.1:$((CHECK_PORT_BASE + 2))/cluster   # every node's verdict as its own daemon says, the writer
  open   http://127.0.0.1:$((CHECK_PORT_BASE + 1))/ui         # the status page for people

Disturb a node and watch the check follow within a second:

  scripts/sandbox.sh galera desync 1 on      # node1 -> 503 "not synced: Donor/Desynced"
  scripts/sandbox.sh galera desync 1 off
  scripts/sandbox.sh galera desync W on      # W the writer: it releases the lease, another node
  scripts/sandbox.sh galera desync W off     #   answers 200 on /writer after the 7 s handover gap
  scripts/sandbox.sh galera kill 2           # node2 -> 503 "database unreachable"
  scripts/sandbox.sh galera start 2
  scripts/sandbox.sh rabbitmq alarm 3 on     # a memory alarm: every /rabbitmq names it
  scripts/sandbox.sh rabbitmq alarm 3 off
  scripts/sandbox.sh pacemaker ban vip       # /vip -> 503
  scripts/sandbox.sh pacemaker clear vip

HAProxy (option httpchk against those daemons) serves Galera on 127.0.0.1:$HAPROXY_GALERA_PORT;
its stats page: http://127.0.0.1:$HAPROXY_STATS_PORT/stats
Status of everything: scripts/sandbox.sh status      Stop everything: scripts/sandbox.sh down
TEXT
if [ -f scripts/sandbox/prometheus.sh ]; then
  echo "Prometheus (alerts and rules loaded): http://127.0.0.1:$PROMETHEUS_PORT/alerts"
fi
