# Ports and paths of the local sandbox. Sourced by scripts/sandbox.sh, the demo and (parsed by) the
# tests, so keep it to plain `NAME=${NAME:-value}` lines.
# Everything listens on 127.0.0.1 only.
SANDBOX_DIR=${SANDBOX_DIR:-/var/tmp/clustercheckd-sandbox}

# MariaDB Galera, node N in 1..3: SQL port 1330N, Galera group port 1456N, IST 1457N, SST 1458N.
GALERA_SQL_PORT_BASE=${GALERA_SQL_PORT_BASE:-13300}
GALERA_GCOMM_PORT_BASE=${GALERA_GCOMM_PORT_BASE:-14560}
GALERA_IST_PORT_BASE=${GALERA_IST_PORT_BASE:-14570}
GALERA_SST_PORT_BASE=${GALERA_SST_PORT_BASE:-14580}
GALERA_CLUSTER_NAME=${GALERA_CLUSTER_NAME:-sandbox_galera}
# The check user has only PROCESS (see docs/README): what clustercheckd needs.
GALERA_CHECK_USER=${GALERA_CHECK_USER:-clustercheck}
GALERA_CHECK_PASSWORD=${GALERA_CHECK_PASSWORD:-sandbox-check-pw}
# The writer lease's user (docs/writer.md): SELECT, UPDATE on clustercheckd.writer_lease only.
GALERA_WRITER_USER=${GALERA_WRITER_USER:-clustercheckd_writer}
GALERA_WRITER_PASSWORD=${GALERA_WRITER_PASSWORD:-sandbox-writer-pw}

# RabbitMQ, node N in 1..3 named rabbitN@<short host name>: AMQP 568N, distribution 2568N,
# management 1568N, prometheus 1569N.
RABBITMQ_AMQP_PORT_BASE=${RABBITMQ_AMQP_PORT_BASE:-5680}
RABBITMQ_DIST_PORT_BASE=${RABBITMQ_DIST_PORT_BASE:-25680}
RABBITMQ_MGMT_PORT_BASE=${RABBITMQ_MGMT_PORT_BASE:-15680}
RABBITMQ_PROM_PORT_BASE=${RABBITMQ_PROM_PORT_BASE:-15690}
# Node N's outgoing distribution connections come from RABBITMQ_DIST_SOURCE_NET.N (it still
# listens on 127.0.0.1), so nft rules can cut one node off from the others (rabbitmq partition).
RABBITMQ_DIST_SOURCE_NET=${RABBITMQ_DIST_SOURCE_NET:-127.0.2}
RABBITMQ_USER=${RABBITMQ_USER:-openstack}
RABBITMQ_PASSWORD=${RABBITMQ_PASSWORD:-sandbox-rabbit-pw}
# The least-privilege user clustercheckd needs (README "Least privilege"): tag `monitoring` only,
# and on the vhost / only the permissions of the AMQP probe (scripts/sandbox/rabbitmq.sh).
RABBITMQ_MONITOR_USER=${RABBITMQ_MONITOR_USER:-clustercheckd}
RABBITMQ_MONITOR_PASSWORD=${RABBITMQ_MONITOR_PASSWORD:-sandbox-monitor-pw}

# Pacemaker (live single node) and its VIP on a veth pair into a namespace the sandbox creates.
PACEMAKER_VETH=${PACEMAKER_VETH:-ccdvip0}
PACEMAKER_VETH_PEER=${PACEMAKER_VETH_PEER:-ccdvip1}
PACEMAKER_NETNS=${PACEMAKER_NETNS:-ccd-vipnet}
PACEMAKER_VIP=${PACEMAKER_VIP:-192.0.2.10}
# The veth peer's address inside PACEMAKER_NETNS; the cluster name in corosync.conf.
PACEMAKER_VETH_PEER_ADDR=${PACEMAKER_VETH_PEER_ADDR:-192.0.2.1/24}
PACEMAKER_CLUSTER_NAME=${PACEMAKER_CLUSTER_NAME:-ccdsandbox}

# HAProxy in front of Galera as in the deployment; the clustercheckd demo daemons listen on 1920N.
HAPROXY_GALERA_PORT=${HAPROXY_GALERA_PORT:-13306}
HAPROXY_STATS_PORT=${HAPROXY_STATS_PORT:-18404}
CHECK_PORT_BASE=${CHECK_PORT_BASE:-19200}

# Prometheus scraping the demo daemons and HAProxy.
PROMETHEUS_PORT=${PROMETHEUS_PORT:-19090}
