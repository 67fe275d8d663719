#!/usr/bin/env bash
# `make run`: the embedded shape on 127.0.0.1:8080 (SQLite under ./var, in-process hot store,
# jobs from the database, objects under ./var/objects), with a bootstrap admin to sign in with.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

HOST="${RUN_HOST:-127.0.0.1}"
PORT="${RUN_PORT:-8080}"
BASE="http://$HOST:$PORT"
PASSWORD_FILE=var/bootstrap-admin-password
DEFAULT_ADMIN_EMAIL=admin@localhost.test

mkdir -p var

if [[ -z "${PP_BOOTSTRAP_ADMIN_EMAIL:-}" ]]; then
    if [[ ! -s "$PASSWORD_FILE" ]]; then
        # Generated once, so the admin keeps the same password across restarts.
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))' \
            >"$PASSWORD_FILE")
    fi
    chmod 600 "$PASSWORD_FILE"
    PP_BOOTSTRAP_ADMIN_EMAIL="$DEFAULT_ADMIN_EMAIL"
    PP_BOOTSTRAP_ADMIN_PASSWORD="$(<"$PASSWORD_FILE")"
    export PP_BOOTSTRAP_ADMIN_EMAIL PP_BOOTSTRAP_ADMIN_PASSWORD
    password_hint="the contents of $PASSWORD_FILE"
    password_expr="\$(cat $PASSWORD_FILE)"
else
    password_hint="the value of PP_BOOTSTRAP_ADMIN_PASSWORD"
    password_expr="\$PP_BOOTSTRAP_ADMIN_PASSWORD"
fi

# The console is listed only once the application serves it.
has_console="$(
    timeout 20 .venv/bin/python - 2>/dev/null <<'PY' || true
from playerplatform.app import create_app

paths = {getattr(route, "path", "") for route in create_app().routes}
print("yes" if any(p == "/admin" or p.startswith("/admin/") for p in paths) else "no")
PY
)"

shape=embedded
if env | grep -qE '^PP_(DATABASE|REDIS|BROKER)_URL='; then
    shape="as configured by the PP_* service URLs in your environment"
fi

cat <<INFO

Player Platform ($shape)
  API          $BASE
  API docs     $BASE/docs
  OpenAPI      $BASE/openapi.json
  health       $BASE/healthz   (readiness: $BASE/readyz)
INFO
if [[ "$has_console" == "yes" ]]; then
    echo "  console      $BASE/admin"
fi
cat <<INFO

Bootstrap admin (created at start when no admin exists)
  email        $PP_BOOTSTRAP_ADMIN_EMAIL
  password     $password_hint
  sign in      curl -s $BASE/api/v1/auth/email/login -H 'Content-Type: application/json' \\
                 -d "{\"email\": \"$PP_BOOTSTRAP_ADMIN_EMAIL\", \"password\": \"$password_expr\"}"

INFO

exec .venv/bin/playerplatform serve --host "$HOST" --port "$PORT"
