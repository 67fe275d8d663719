#!/usr/bin/env bash
# `make run`: the embedded shape on 127.0.0.1:8080 (SQLite under ./var, in-process hot store,
# jobs from the database, objects under ./var/objects), with a bootstrap admin to sign in with.
# `serve` prints the addresses, and the admin's sign-in once it has checked that it works.
# Nothing here imports the application: a restart costs only the server's own start-up.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

HOST="${RUN_HOST:-127.0.0.1}"
PORT="${RUN_PORT:-8080}"
PASSWORD_FILE=var/bootstrap-admin-password
DEFAULT_ADMIN_EMAIL=admin@localhost.test

mkdir -p var

password_hint='$PP_BOOTSTRAP_ADMIN_PASSWORD'
if [[ -z "${PP_BOOTSTRAP_ADMIN_EMAIL:-}" ]]; then
    if [[ ! -s "$PASSWORD_FILE" ]]; then
        # Generated once, so the admin keeps the same password across restarts.
        (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$PASSWORD_FILE")
    fi
    chmod 600 "$PASSWORD_FILE"
    PP_BOOTSTRAP_ADMIN_EMAIL="$DEFAULT_ADMIN_EMAIL"
    PP_BOOTSTRAP_ADMIN_PASSWORD="$(<"$PASSWORD_FILE")"
    export PP_BOOTSTRAP_ADMIN_EMAIL PP_BOOTSTRAP_ADMIN_PASSWORD
    password_hint="\$(cat $PASSWORD_FILE)"
fi

exec .venv/bin/playerplatform serve --host "$HOST" --port "$PORT" --password-hint "$password_hint"
