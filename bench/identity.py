"""Identity benchmark (issue 2): `.venv/bin/python bench/identity.py`.

Serves the production shape (PostgreSQL + Redis, two workers) on 127.0.0.1:18080 against a fresh
database, measures `GET /healthz`, guest device logins (a new device on every request) and
`GET /api/v1/users/me`, prints the results and records them in BENCHMARKS.md. The server, the
database and the Redis keys of the run are removed at the end, also when it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path

TITLE = "Identity (issue 2)"
DATABASE = "pp_bench_identity"
PORT = 18080
BASE = f"http://127.0.0.1:{PORT}"
REDIS_PREFIX = "ppbench:"
UNLIMITED = "100000000/minute"
LOG = wrk.ROOT / "bench" / "results" / "identity-server.log"

SETUP = f"""
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{DATABASE}` on
127.0.0.1:5432, Redis 127.0.0.1:6379 under prefix `{REDIS_PREFIX}`, jobs in-process, access log
off, rate limits raised out of the way). Device login sends a device id never seen before on
every request, so each one creates a guest, an identity, an account-link record, a session,
a refresh token and an audit row (one statement on PostgreSQL), then signs an access token.
`GET /api/v1/users/me` uses one bearer token from a device login made before the run. It runs
on the hot path (below FastAPI's dependency system): one Redis round trip reads the session and
ban state and the cached user object and counts the per-user rate limit; the database is read
only when the cached object was dropped by a change.
Run with `.venv/bin/python bench/identity.py`.

Reference, from the issue: Nakama 3.40 on this same 2-core machine created 2,740 accounts/s
through its device authenticate, and served `/healthz` at 13-14k req/s. Targets: device login
at least Nakama's; `users/me` at least 0.60 of `/healthz`.

Where the time goes (profiles of a worker under this load, the machine saturated with about
40% of it in the kernel): besides the HTTP exchange, a new device login makes 4 round trips (the
rate-limit hit, the account lookup, the one-statement write of account + identity + link +
session + refresh token + audit row, the session publish to Redis) and spends roughly 3 ms of
worker CPU in FastAPI, SQLAlchemy and asyncpg. `users/me` went from 0.05 to about 0.3 of
`/healthz` with the hot path, the cached user object and one Redis round trip instead of two
(a pipeline holding redis-py Script objects asked `SCRIPT EXISTS` before every call); what is
left is the HTTP exchange, the Redis round trip in redis-py and the response. The targets
(Nakama's 2,740 logins/s; `users/me` at 0.60 of `/healthz`) are not met.
"""


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAtc", sql],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )


def drop_database() -> None:
    psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def forget_redis_keys() -> None:
    keys = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "--scan", "--pattern", f"{REDIS_PREFIX}*"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for start in range(0, len(keys), 500):
        subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "UNLINK", *keys[start : start + 500]],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def server_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PP_")}
    env.update(
        # Loopback: no TLS to the database (asyncpg would otherwise negotiate it).
        PP_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}?ssl=disable",
        PP_REDIS_URL="redis://127.0.0.1:6379/0",
        PP_REDIS_PREFIX=REDIS_PREFIX,
        PP_ACCESS_LOG="false",
        PP_LOG_LEVEL="warning",
        PP_PUBLIC_URL=BASE,
        PP_RATE_LIMIT_FAILED_LOGIN=UNLIMITED,
        PP_RATE_LIMIT_AUTH=UNLIMITED,
        PP_RATE_LIMIT_WRITE=UNLIMITED,
        PP_RATE_LIMIT_READ=UNLIMITED,
        PP_RATE_LIMIT_WEBHOOK=UNLIMITED,
    )
    return env


def wait_until_ready(server: subprocess.Popen[bytes], timeout_seconds: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise wrk.BenchError(f"the server exited with {server.returncode}; see {LOG}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{BASE}/readyz", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    raise wrk.BenchError(f"{BASE}/readyz did not answer 200 within {timeout_seconds:.0f}s")


@contextlib.contextmanager
def running_server() -> Iterator[None]:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("wb") as log:
        server = subprocess.Popen(
            [
                str(wrk.ROOT / ".venv" / "bin" / "playerplatform"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORT),
                "--workers",
                "2",
            ],
            cwd=wrk.ROOT,
            env=server_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its workers
        )
        try:
            wait_until_ready(server)
            yield
        finally:
            stop(server)


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


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
    drop_database()
    psql(f'CREATE DATABASE "{DATABASE}"')
    forget_redis_keys()
    try:
        with running_server():
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
        drop_database()
        forget_redis_keys()
    return 0


if __name__ == "__main__":
    sys.exit(main())
