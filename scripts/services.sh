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

TEST_SERVICES=(postgres redis rabbitmq clamd)

# Seconds to wait for a service after starting it.
declare -A SERVICE_TIMEOUT=([postgres]=60 [redis]=30 [rabbitmq]=120 [clamd]=60)

tcp_open() { # host port
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# --- PostgreSQL (127.0.0.1:5432, trust auth for user postgres) --------------------------------
postgres_ready() {
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2
}
postgres_start() {
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

# --- Redis (127.0.0.1:6379, nothing kept on disk) ---------------------------------------------
redis_ready() {
    [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]
}
redis_start() {
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
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
