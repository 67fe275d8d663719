#!/usr/bin/env bash
# `make test`: lint, then the suite once per runtime shape. Every step runs even when an earlier
# one failed, so one run shows everything that is wrong; the exit status is non-zero if any
# step failed. A summary line per step closes the output.
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

# A hung run must fail, not hold CI: each shape gets PYTEST_TIMEOUT seconds, then SIGINT, so
# pytest still prints the failures so far. Both shapes together should stay well under 15 min.
PYTEST_TIMEOUT="${PYTEST_TIMEOUT:-600}"

pytest_shape() { # shape
    PP_TEST_SHAPE="$1" timeout --signal=INT --kill-after=30 "$PYTEST_TIMEOUT" \
        "$BIN/pytest" -o addopts="" -q -p no:cacheprovider
}

step "ruff check" "$BIN/ruff" check .
step "ruff format --check" "$BIN/ruff" format --check .
step "mypy" "$BIN/mypy"
step "pytest (production shape)" pytest_shape production
step "pytest (embedded shape)" pytest_shape embedded

echo
echo "==> summary ($((SECONDS - START_ALL))s)"
printf '  %s\n' "${SUMMARY[@]}"
if ((FAILED)); then
    echo "make test: FAILED"
    exit 1
fi
echo "make test: all steps passed"
