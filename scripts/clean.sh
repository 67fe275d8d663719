#!/usr/bin/env bash
# `make clean`: delete the embedded shape's data (./var: the database, stored objects, the
# bootstrap admin's password) and build and tool caches. Says what it deletes and asks first,
# unless FORCE=1. Keeps .venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

caches=(.mypy_cache .ruff_cache .pytest_cache .hypothesis build dist bench/results)
present=()
for path in "${caches[@]}"; do
    [[ -e "$path" ]] && present+=("$path")
done

if [[ -e var ]]; then
    echo "make clean deletes ALL local data in var/ ($(du -sh var 2>/dev/null | cut -f1)):"
    [[ -e var/playerplatform.db ]] && echo "  var/playerplatform.db   the embedded database: every player, order, score and UGC item"
    [[ -e var/objects ]] && echo "  var/objects/            stored objects (uploaded UGC files)"
    [[ -e var/bootstrap-admin-password ]] && echo "  var/bootstrap-admin-password"
    [[ -e var/clamd ]] && echo "  var/clamd/              the test clamd's configuration (made again by make services)"
    echo "and caches: ${present[*]:-none} and __pycache__ folders (keeps .venv)."
    if [[ "${FORCE:-0}" != 1 ]]; then
        if [[ ! -t 0 ]]; then
            echo "make clean: not deleting without confirmation; run 'make clean FORCE=1'" >&2
            exit 1
        fi
        read -r -p "Delete them? [y/N] " answer
        if [[ "$answer" != [yY] && "$answer" != [yY][eE][sS] ]]; then
            echo "make clean: nothing deleted"
            exit 1
        fi
    fi
else
    echo "make clean: no var/ (no local data); deleting caches: ${present[*]:-none} and __pycache__ folders"
fi

rm -rf var "${caches[@]}"
find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +
echo "make clean: done"
