#!/usr/bin/env bash
# `make test`: lint, then the suite twice, at the same time: the production shape with the fast
# dispatch on, and the embedded shape with it off. Every test thus runs in both shapes and on
# both request paths (the shape lives below the HTTP layer and the dispatch above it, so the
# two never meet in one code path). A third run at the same time puts the hot-store suites on a
# Redis Cluster and runs the failover and the soak (see "The Redis Cluster run"). Every step
# runs even when an earlier one failed, so one run shows everything that is
# wrong; the exit status is non-zero if any step failed. A summary line per step closes the output.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.venv/bin
declare -a SUMMARY=()
FAILED=0
START_ALL=$SECONDS

step() { # label command...
    local label="$1" started=$SECONDS rc
    shift
    echo
    echo "==> $label"
    "$@"
    rc=$?
    local took=$((SECONDS - started))
    if ((rc == 0)); then
        SUMMARY+=("PASS  $label (${took}s)")
    else
        local why="exit $rc"
        # pytest exits 5 when it collected nothing: a suite that runs no test proves nothing.
        if [[ "$label" == pytest* ]]; then
            case "$rc" in
            5) why="no tests collected" ;;
            124 | 137) why="timed out after ${PYTEST_TIMEOUT}s" ;;
            esac
        fi
        SUMMARY+=("FAIL  $label (${took}s, $why)")
        FAILED=1
    fi
}

# A hung run must fail, not hold CI: each run gets PYTEST_TIMEOUT seconds, then SIGINT, so
# pytest still prints the failures so far. A hung test already fails alone after 300 s
# (pytest-timeout); this bound is for the run, well above its 13-14 minutes on 2 cores, so a
# slower machine is not mistaken for a hang.
PYTEST_TIMEOUT="${PYTEST_TIMEOUT:-1500}"
LOGS="${TMPDIR:-/tmp}/playerplatform-test-$$"
mkdir -p "$LOGS"

# Processes per run (pytest-xdist): most of a test's time is waiting on a server, so two
# processes per run keep the machine's cores busy. Each process is a session of its own, with
# its own database and hot-store prefix; a module's tests stay in one process.
PYTEST_PROCESSES="${PYTEST_PROCESSES:-2}"

# One run of the suite: a runtime shape, with the fast dispatch on or off (every route is
# then served by FastAPI's own path, and must answer the same). Output goes to its log.
suite() { # shape fast-dispatch
    PP_TEST_SHAPE="$1" PP_FAST_DISPATCH="$2" timeout --signal=INT --kill-after=30 \
        "$PYTEST_TIMEOUT" "$BIN/pytest" -o addopts="" -q -p no:cacheprovider \
        -m "not browser and not nodes" -n "$PYTEST_PROCESSES" --dist loadfile --durations=10 \
        >"$LOGS/$1-$2.log" 2>&1
}

RUNS=("production true" "embedded false")

# --- The Redis Cluster run: a third pytest run, at the same time as the two above -------------
# The production shape with the apps on the local Redis Cluster (scripts/services.sh, ports
# 7000-7005): the hot-store contract, auth and sessions, rate limits, leaderboards and realtime
# again, and tests/scale, which only this run collects: a master failover under load and the
# soak (PP_SOAK_OPERATIONS purchases and scores through random faults of every store).
CLUSTER_URL="${PP_TEST_REDIS_CLUSTER_URL:-redis://127.0.0.1:7000/0}"
CLUSTER_SUITES=(
    tests/kit/test_hotstore_contract.py tests/kit/test_ratelimit.py tests/kit/test_redis_scripts.py
    tests/auth/test_sessions.py tests/auth/test_device_and_tokens.py tests/auth/test_rate_limits.py
    tests/leaderboards/test_board_store.py tests/leaderboards/test_durability.py
    tests/leaderboards/test_board_requests.py tests/messaging/test_realtime.py tests/scale
)

cluster_run() { # in the background: the log and the exit status go to $LOGS/cluster.*
    local rc=0
    PP_TEST_SHAPE=production PP_FAST_DISPATCH=true PP_TEST_REDIS_CLUSTER_URL="$CLUSTER_URL" \
        PP_SOAK_OPERATIONS="${PP_SOAK_OPERATIONS:-10000}" PP_SOAK_REPORT="$LOGS/soak.txt" \
        timeout --signal=INT --kill-after=30 "$PYTEST_TIMEOUT" \
        "$BIN/pytest" -o addopts="" -q -p no:cacheprovider -m "not browser" "${CLUSTER_SUITES[@]}" \
        >"$LOGS/cluster.log" 2>&1 || rc=$?
    echo "$rc" >"$LOGS/cluster.rc"
}

cluster_report() {
    local rc
    rc="$(cat "$LOGS/cluster.rc" 2>/dev/null || echo 1)"
    tail -n 1 "$LOGS/cluster.log" | sed "s/^/  Redis Cluster: /"
    sed 's/^/  /' "$LOGS/soak.txt" 2>/dev/null
    if [[ "$rc" != 0 ]]; then
        echo
        echo "==> failures: Redis Cluster run"
        sed -n '/= FAILURES =/,$p;/= ERRORS =/,$p' "$LOGS/cluster.log" | tail -n 400
        SUMMARY+=("FAIL  pytest (production shape on the Redis Cluster, exit $rc)")
        FAILED=1
    else
        SUMMARY+=("PASS  pytest (production shape on the Redis Cluster, failover, soak)")
    fi
}

# A step run once (not per shape), in the background: its log and exit status go to $LOGS.
once() { # name command...
    local name="$1" rc=0
    shift
    timeout --signal=INT --kill-after=30 600 "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$LOGS/$name.rc"
}

once_report() { # name label
    local rc
    rc="$(cat "$LOGS/$1.rc" 2>/dev/null || echo 1)"
    tail -n 1 "$LOGS/$1.log" | sed "s/^/  $1: /"
    if [[ "$rc" != 0 ]]; then
        echo
        echo "==> failures: $2"
        tail -n 200 "$LOGS/$1.log"
        SUMMARY+=("FAIL  $2 (exit $rc)")
        FAILED=1
    else
        SUMMARY+=("PASS  $2")
    fi
}

pytest_all() {
    local started=$SECONDS run shape dispatch rc why
    local -a pids=()
    echo
    echo "==> pytest: production shape with the fast dispatch, embedded shape without (logs in $LOGS)"
    # Both at once: each is mostly waiting on the servers it talks to, so the two share the
    # machine's cores well; each run has its own database and Redis prefix.
    for run in "${RUNS[@]}"; do
        read -r shape dispatch <<<"$run"
        (
            rc=0
            suite "$shape" "$dispatch" || rc=$?
            echo "$rc" >"$LOGS/$shape-$dispatch.rc"
        ) &
        pids+=($!)
    done
    # The third run, then the steps that run once, one after another beside the two suites
    # (the cluster run is the shortest of the three).
    (
        cluster_run
        once "nodes" "$BIN/pytest" -o addopts="" -q -p no:cacheprovider -m nodes \
            tests/ops/test_many_nodes.py
        once "browser" bash -c 'scripts/browser.sh && "$0" -o addopts="" -q -p no:cacheprovider -m browser tests/console' "$BIN/pytest"
    ) &
    pids+=($!)
    wait "${pids[@]}"
    cluster_report
    once_report "nodes" "pytest: many nodes behind nginx (two API nodes, two workers)"
    once_report "browser" "pytest: browser (console and account pages)"
    for run in "${RUNS[@]}"; do
        read -r shape dispatch <<<"$run"
        rc="$(cat "$LOGS/$shape-$dispatch.rc" 2>/dev/null || echo 1)"
        tail -n 1 "$LOGS/$shape-$dispatch.log" | sed "s/^/  $shape, fast dispatch $dispatch: /"
        # The slowest tests, so a run that grows shows where.
        sed -n '/slowest 10 durations/,/^$/p' "$LOGS/$shape-$dispatch.log" | sed '1d;$d;s/^/    /'
        if [[ "$rc" != 0 ]]; then
            case "$rc" in
            5) why="no tests collected" ;;
            124 | 137) why="timed out after ${PYTEST_TIMEOUT}s" ;;
            *) why="exit $rc" ;;
            esac
            echo
            echo "==> failures: $shape shape, fast dispatch $dispatch"
            sed -n '/= FAILURES =/,$p;/= ERRORS =/,$p' "$LOGS/$shape-$dispatch.log" | tail -n 400
            SUMMARY+=("FAIL  pytest ($shape shape, fast dispatch $dispatch, $why)")
            FAILED=1
        else
            SUMMARY+=("PASS  pytest ($shape shape, fast dispatch $dispatch)")
        fi
    done
    SUMMARY+=("      pytest took $((SECONDS - started))s for every run")
}

step "ruff check" "$BIN/ruff" check .
step "ruff format --check" "$BIN/ruff" format --check .
step "mypy" "$BIN/mypy"
# pytest_all also runs, once each: many nodes (two API nodes with two workers each and two job
# workers behind nginx, on the production shape: the test starts its own processes) and the
# console and mail-link pages in a real browser (Debian's chromium, installed when missing).
pytest_all

echo
echo "==> summary ($((SECONDS - START_ALL))s)"
printf '  %s\n' "${SUMMARY[@]}"
if ((FAILED)); then
    echo "make test: FAILED"
    exit 1
fi
echo "make test: all steps passed"
