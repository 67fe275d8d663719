#!/usr/bin/env bash
# Make sure .venv exists and matches requirements-dev.lock and pyproject.toml: the development
# environment (the platform, its tests and tools). Installing the platform alone takes
# requirements.lock, the runtime dependencies only.
# The installed state is remembered as a hash of both files in .venv/.pp-install-stamp,
# so an unchanged checkout costs no pip run at all.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
STAMP="$VENV/.pp-install-stamp"

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "venv: $PYTHON not found; Player Platform needs Python 3.11" >&2
        exit 1
    fi
    echo "venv: creating $VENV with $PYTHON"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# The project's own modules compiled ahead (only what changed since): with
# PYTHONDONTWRITEBYTECODE set, as on many CI machines, every process (each `serve`, worker and
# command, each restart of `make run`) would otherwise compile the whole source tree again.
# On an unchanged tree one process is quickest: a pool of them costs more to start than the
# files cost to check (`make run` pays it on every restart).
compile_sources() {
    "$VENV/bin/python" -m compileall -q "$@" src >/dev/null
}

wanted="$(cat requirements-dev.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    compile_sources
    exit 0
fi

echo "venv: installing requirements-dev.lock and the project (editable)"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
# The machine's pip configuration may list local indexes that do not exist; their warnings are noise.
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
quiet "${pip[@]}" install -q -r requirements-dev.lock
quiet "${pip[@]}" install -q --no-deps -e .
compile_sources -j 0
echo "$wanted" >"$STAMP"
echo "venv: ready"
