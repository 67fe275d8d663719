"""Identity benchmark: `.venv/bin/python bench/identity.py`.

Serves the production shape (PostgreSQL + Redis, two workers) on 127.0.0.1:18080 against a fresh
database, measures `GET /healthz`, guest device logins (a new device on every request) and
`GET /api/v1/users/me`, prints the results and records them in BENCHMARKS.md. The server, the
database and the Redis keys of the run are removed at the end, also when it fails.
"""

from __future__ import annotations

import json
import secrets
import sys
import urllib.error
import urllib.request

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path
from _server import BenchServer

TITLE = "Identity"
SERVER = BenchServer("identity", port=18080)
BASE = SERVER.base

SETUP = f"""
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{SERVER.database}` on
127.0.0.1:5432, Redis 127.0.0.1:6379 under prefix `{SERVER.redis_prefix}`, both over TCP, jobs
in-process, access log off, rate limits raised out of the way). Device login sends a device id
never seen before on every request, so each one creates a guest, an identity, an account-link
record, a session, a refresh token and an audit row, then signs an access token.
`GET /api/v1/users/me` uses one bearer token from a device login made before the run.
Run with `.venv/bin/python bench/identity.py`.

Reference: Nakama 3.40 on this same 2-core machine created 2,740 accounts/s
through its device authenticate, and served `/healthz` at 13-14k req/s. Targets: device login
at least Nakama's; `users/me` at least 0.60 of `/healthz`.

How the two routes run: both are hot paths, served below FastAPI's dependency system. A new
device's login writes its rows in one guarded statement on an asyncpg connection, below the
ORM; the logins that arrive while one such statement is under way in a worker go together in
the next (one statement for all of them, arrays unnested; the guard probes the identities'
index once per login), and the sessions they open reach Redis in one script call.
`users/me` serves the caller's state and the cached user object from the worker's own copies
(kept coherent by Redis client-side-caching invalidations), and a token let in before on the
same state is not checked again. Both are fixed-path hot routes: the gateway hands them
straight to their route, past the exception middleware and the route search (`HotLane`).
Access tokens are signed with libsodium's Ed25519 (PyNaCl). Every response leaves in one
write (`kit/serving.py`).

Where the time goes in device login (CPU per login under this load, read from /proc, on 2
cores shared with wrk and Redis): about 0.34 ms in the API workers and 0.16 ms in
PostgreSQL (before libsodium signing: 0.36-0.50 and 0.15-0.21 ms, the spread being the
machine's own from run to run). The worker's share is the HTTP exchange, the Ed25519
signature (about 16 us here alone, 25 us inside a request), the rows and the answer;
PostgreSQL's is mostly per row (28 index entries and 5 foreign-key checks per new player).
This machine's speed varies by a third between runs (see the leaderboards section's
`redis-benchmark` figure): compare device login across runs with that in mind.
"""


def device_login_token() -> str:
    body = json.dumps({"device_id": f"bench-me-{secrets.token_hex(8)}"}).encode()
    request = urllib.request.Request(
        f"{BASE}/api/v1/auth/device/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            token: str = json.load(response)["access_token"]
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"device login answered {failure.code}: {failure.read()!r}")
    return token


def main() -> int:
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    SERVER.reset()
    try:
        with SERVER.running():
            wrk.run_wrk(f"{BASE}/healthz", duration_seconds=3)  # warm-up, not recorded
            healthz = wrk.run_scenario("GET /healthz", f"{BASE}/healthz")
            baseline = healthz.result
            token = device_login_token()
            scenarios = [
                healthz,
                wrk.run_scenario(
                    "POST /api/v1/auth/device/login (new device)",
                    f"{BASE}/api/v1/auth/device/login",
                    baseline=baseline,
                    script=wrk.LUA_DIR / "device_login.lua",
                    script_args=[f"bench-{secrets.token_hex(8)}"],
                ),
                wrk.run_scenario(
                    "GET /api/v1/users/me",
                    f"{BASE}/api/v1/users/me",
                    baseline=baseline,
                    headers=[f"Authorization: Bearer {token}"],
                ),
            ]
        wrk.record_section(
            TITLE,
            scenarios,
            baseline=baseline,
            setup=SETUP,
            load_at_start=load_at_start,
        )
    except wrk.BenchError as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        SERVER.clean()
    return 0


if __name__ == "__main__":
    sys.exit(main())
