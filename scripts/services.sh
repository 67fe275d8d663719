#!/usr/bin/env bash
# Local services the test suite (and the benchmarks) talk to, over real connections.
#
#   scripts/services.sh                 ensure every service the tests need is up
#   scripts/services.sh redis postgres  ensure only these
#
# Each service NAME has two functions: NAME_ready (answers now?) and NAME_start (start it the way
# the machine starts it). ensure_service starts what does not answer and waits for it, with a
# timeout and a clear message. To add a service, write its two functions and list it in
# TEST_SERVICES (clamd and the S3 test server slot in here).
set -euo pipefail

TEST_SERVICES=(postgres postgres_replica redis redis_cluster rabbitmq clamd nginx)

# Seconds to wait for a service after starting it.
declare -A SERVICE_TIMEOUT=([postgres]=60 [postgres_replica]=30 [redis]=30 [redis_cluster]=60 [rabbitmq]=120 [clamd]=60 [nginx]=5)

tcp_open() { # host port
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# --- PostgreSQL (127.0.0.1:5432, trust auth for user postgres) --------------------------------
# The suites run at once, each with its servers and workers: more connections than the default
# 100. A server that allows fewer is raised to this (ALTER SYSTEM) and restarted, once.
PG_MAX_CONNECTIONS=300
postgres_answers() {
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2
}
postgres_connections() {
    psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW max_connections' 2>/dev/null || echo 0
}
postgres_ready() {
    postgres_answers && (($(postgres_connections) >= PG_MAX_CONNECTIONS))
}
postgres_start() {
    local version waited=0
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    if ! postgres_answers; then
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        until postgres_answers; do
            ((waited++ < 60)) || return 1
            sleep 1
        done
    fi
    if (($(postgres_connections) < PG_MAX_CONNECTIONS)); then
        echo "services: raising PostgreSQL's max_connections to $PG_MAX_CONNECTIONS (a restart)"
        psql -h 127.0.0.1 -U postgres -d postgres -qc \
            "ALTER SYSTEM SET max_connections = $PG_MAX_CONNECTIONS" &&
            pg_ctlcluster --skip-systemctl-redirect "$version" main restart
    fi
}

# --- PostgreSQL streaming replica (127.0.0.1:5433, hot standby of :5432) ----------------------
# A second cluster of the same version, "replica", made by `pg_basebackup -R` from the primary
# through a physical replication slot (the primary keeps the WAL it still needs, at most
# max_slot_wal_keep_size). Ready: it accepts connections, is in recovery and its WAL receiver
# is streaming. A replica that cannot become ready (its slot lost, its data dir broken) is
# dropped and made again: it holds nothing of its own. The test databases, created on the
# primary per run, reach it by replication.
REPLICA_PORT=5433
REPLICA_CLUSTER=replica
REPLICA_SLOT=pp_replica

replica_psql() { # sql
    psql -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -XAtqc "$1" 2>/dev/null
}
primary_psql() { # sql
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -XAtqc "$1"
}
postgres_replica_ready() {
    pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT" -t 2 &&
        [[ "$(replica_psql "SELECT pg_is_in_recovery() AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')")" == "t" ]]
}
postgres_replica_primary_setup() {
    # Replication connections from 127.0.0.1 (trust, as the test databases' own entry).
    local version hba changed=0
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    hba="$(primary_psql "SHOW hba_file")"
    if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        echo "host replication all 127.0.0.1/32 trust" >>"$hba"
        changed=1
    fi
    if [[ "$(primary_psql "SHOW max_slot_wal_keep_size")" == "-1" ]]; then
        primary_psql "ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'" >/dev/null
        changed=1
    fi
    if ((changed)); then primary_psql "SELECT pg_reload_conf()" >/dev/null; fi
    # wal_level=replica and max_wal_senders>0 are PostgreSQL's defaults; a primary without
    # them needs a restart, which this script does not do behind anyone's back.
    if [[ "$(primary_psql "SHOW wal_level")" == "minimal" ]] || [[ "$(primary_psql "SHOW max_wal_senders")" == "0" ]]; then
        echo "services: the primary needs wal_level=replica and max_wal_senders>0 (then a restart)" >&2
        return 1
    fi
    echo "$version"
}
postgres_replica_wait() { # seconds
    local waited=0
    until postgres_replica_ready; do
        ((waited >= $1)) && return 1
        sleep 1
        waited=$((waited + 1))
    done
}
postgres_replica_create() { # version
    local version="$1" data="/var/lib/postgresql/$1/$REPLICA_CLUSTER"
    echo "services: making the replica: pg_basebackup -R from 127.0.0.1:5432 into $data"
    pg_dropcluster --stop "$version" "$REPLICA_CLUSTER" 2>/dev/null || true
    primary_psql "SELECT pg_drop_replication_slot('$REPLICA_SLOT') FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT' AND NOT active" >/dev/null
    pg_createcluster "$version" "$REPLICA_CLUSTER" --port "$REPLICA_PORT" -- --auth=trust >/dev/null
    rm -rf "${data:?}"/*
    local slot_args=(-C -S "$REPLICA_SLOT")
    if [[ "$(primary_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'")" != "0" ]]; then
        slot_args=(-S "$REPLICA_SLOT")
    fi
    su postgres -c "pg_basebackup -h 127.0.0.1 -p 5432 -U postgres -D '$data' -R -X stream -c fast ${slot_args[*]}"
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' \
        >"/etc/postgresql/$version/$REPLICA_CLUSTER/pg_hba.conf"
    cat >>"/etc/postgresql/$version/$REPLICA_CLUSTER/postgresql.conf" <<CONF
# Player Platform test replica (scripts/services.sh)
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 5s
wal_receiver_status_interval = 1s
CONF
    pg_ctlcluster --skip-systemctl-redirect "$version" "$REPLICA_CLUSTER" start
}
postgres_replica_start() {
    local version
    version="$(postgres_replica_primary_setup)" || return 1
    if pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $REPLICA_CLUSTER"; then
        # A replica paused by a test that died resumes here.
        pg_ctlcluster --skip-systemctl-redirect "$version" "$REPLICA_CLUSTER" start 2>/dev/null || true
        replica_psql "SELECT pg_wal_replay_resume() WHERE pg_is_wal_replay_paused()" >/dev/null || true
        postgres_replica_wait 15 && return 0
        echo "services: the replica is not streaming; making it again"
    fi
    postgres_replica_create "$version"
}

# --- Redis (127.0.0.1:6379, nothing kept on disk) ---------------------------------------------
redis_ready() {
    [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]
}
redis_start() {
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

# --- Redis Cluster (127.0.0.1:7000-7005: 3 masters, 3 replicas, nothing kept on disk) --------
# The hot-store suites run against it a second time (scripts/test.sh). Ready means every node
# says `cluster_state:ok`, knows all six and sees three replicas (a failover needs them).
# Starting replaces only the nodes this script started (their pid files), never another Redis:
# a half-formed cluster is started over, fresh.
REDIS_CLUSTER_PORTS=(7000 7001 7002 7003 7004 7005)
# Machine-wide, like the ports: every checkout's tests find the same cluster.
REDIS_CLUSTER_DIR=/tmp/playerplatform-redis-cluster

redis_cluster_ready() {
    local port info replicas
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do
        info="$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null)" || return 1
        grep -q '^cluster_state:ok' <<<"$info" || return 1
        grep -q "^cluster_known_nodes:${#REDIS_CLUSTER_PORTS[@]}" <<<"$info" || return 1
        replicas="$(redis-cli -h 127.0.0.1 -p "$port" cluster nodes | awk '$3 ~ /slave/' | wc -l)"
        ((replicas == 3)) || return 1
    done
}
redis_cluster_stop() {
    local pidfile pid
    for pidfile in "$REDIS_CLUSTER_DIR"/*/redis.pid; do
        [[ -f "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        if kill "$pid" 2>/dev/null; then
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
    done
    rm -rf "$REDIS_CLUSTER_DIR"
}
redis_cluster_start() {
    local port waited nodes=()
    redis_cluster_stop
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do
        mkdir -p "$REDIS_CLUSTER_DIR/$port"
        # --cluster-node-timeout: a master that stops answering is failed over within seconds.
        redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
            --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 3000 \
            --dir "$REDIS_CLUSTER_DIR/$port" --pidfile "$REDIS_CLUSTER_DIR/$port/redis.pid" \
            --logfile "$REDIS_CLUSTER_DIR/$port/redis.log" || return 1
        nodes+=("127.0.0.1:$port")
    done
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do
        waited=0
        until [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; do
            ((waited++ < 100)) || return 1
            sleep 0.1
        done
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
}

# --- RabbitMQ (127.0.0.1:5672, guest/guest) ---------------------------------------------------
rabbitmq_ready() {
    tcp_open 127.0.0.1 5672
}
rabbitmq_start() {
    rabbitmq-server -detached
}

# --- clamd (127.0.0.1:3310, only the project's test signatures) -------------------------------
# Debian's clamav-daemon is installed when clamd is missing; clamd runs with a config generated
# under var/clamd/ and a database folder holding only scripts/clamav/*.hdb|*.ndb. Nothing is
# downloaded: freshclam never runs.
CLAMD_PORT=3310
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLAMD_DIR="$ROOT_DIR/var/clamd"
# Machine-wide, like the port: tests in any checkout find the same clamd on both transports.
CLAMD_SOCKET=/tmp/playerplatform-clamd.sock

clamd_ready() {
    [[ -S "$CLAMD_SOCKET" ]] &&
        [[ "$( (exec 3<>/dev/tcp/127.0.0.1/$CLAMD_PORT && printf 'zPING\0' >&3 && timeout 2 head -c 4 <&3) 2>/dev/null)" == "PONG" ]]
}
clamd_install() {
    command -v clamd >/dev/null 2>&1 || [[ -x /usr/sbin/clamd ]] && return 0
    echo "services: installing Debian's clamav-daemon"
    # A fresh machine may have no package lists yet: read them once, then try again.
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clamav-daemon ||
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clamav-daemon; }
}
clamd_start() {
    clamd_install
    local clamd_bin
    clamd_bin="$(command -v clamd || echo /usr/sbin/clamd)"
    # A clamd this project started earlier without the shared socket holds the port: replace it.
    if pkill -f -- '--config-file=.*/var/clamd/clamd.conf'; then sleep 1; fi
    mkdir -p "$CLAMD_DIR/db"
    rm -f "$CLAMD_DIR"/db/*
    cp "$ROOT_DIR"/scripts/clamav/*.hdb "$ROOT_DIR"/scripts/clamav/*.ndb "$CLAMD_DIR/db/"
    cat >"$CLAMD_DIR/clamd.conf" <<CONF
Foreground no
LogFile $CLAMD_DIR/clamd.log
PidFile $CLAMD_DIR/clamd.pid
DatabaseDirectory $CLAMD_DIR/db
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
LocalSocket $CLAMD_SOCKET
StreamMaxLength 1100M
MaxFileSize 1100M
MaxScanSize 2000M
MaxThreads 4
SelfCheck 0
CONF
    "$clamd_bin" --config-file="$CLAMD_DIR/clamd.conf"
}

# --- nginx (the load balancer of the many-nodes test) -------------------------------------------
# Only installed here (Debian's package, when missing); nothing is started. The test that runs
# several API nodes writes its own config under var/ and runs nginx itself, in the foreground,
# on ports of its own (tests/ops/test_many_nodes.py).
nginx_ready() {
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]
}
nginx_start() {
    echo "services: installing Debian's nginx"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx ||
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx; }
}

# ----------------------------------------------------------------------------------------------
ensure_service() { # name
    local name="$1" timeout="${SERVICE_TIMEOUT[$1]:-60}" waited=0
    if ! declare -F "${name}_ready" >/dev/null; then
        echo "services: unknown service '$name'" >&2
        return 2
    fi
    if "${name}_ready"; then
        echo "services: $name is up"
        return 0
    fi
    echo "services: $name is not answering; starting it"
    if ! "${name}_start"; then
        echo "services: FAILED to start $name (see the output above)" >&2
        return 1
    fi
    until "${name}_ready"; do
        if ((waited >= timeout)); then
            echo "services: $name did not answer within ${timeout}s after starting" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "services: $name is up (after ${waited}s)"
}

ensure_services() { # names...
    local name failed=0
    for name in "$@"; do
        ensure_service "$name" || failed=1
    done
    return "$failed"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    if (($# == 0)); then
        set -- "${TEST_SERVICES[@]}"
    fi
    ensure_services "$@"
fi
