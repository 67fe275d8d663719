"""Live configuration benchmark: `.venv/bin/python bench/config.py` (`--smoke`: a few
seconds per route, nothing recorded).

Serves the production shape (PostgreSQL + Redis, two workers) on 127.0.0.1:18090 against a
fresh database, sets a config document (with an override), a 50% rollout flag and a running
experiment, then measures `GET /api/v1/config` for a signed-in player next to the same
player's `GET /api/v1/users/me`, then their ratio in pairs of short runs back to back (see
`paired_ratio`), prints the results and records them in BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
import urllib.error
import urllib.request
from typing import Any

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path
from _server import BenchServer

TITLE = "Live configuration"
ADMIN_EMAIL = "bench-admin@studio.test"
ADMIN_PASSWORD = secrets.token_urlsafe(18)
SERVER = BenchServer(
    "config",
    port=18090,
    env={
        "PP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "PP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PP_METRICS_PORT": "0",  # no listener of its own: another server may hold the port
    },
)
BASE = SERVER.base

SETUP = f"""
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{SERVER.database}`,
Redis under prefix `{SERVER.redis_prefix}`, access log off, rate limits out of the way). The
live configuration holds 20 values, an override for device players, a flag rolled out to 50%
and a running experiment with two variants; one device player's token is used for both
routes. `GET /api/v1/config` is resolved from the worker's in-process snapshot: no database
or Redis round trip while nothing changes (the change counter's copy is read in memory).
Run with `.venv/bin/python bench/config.py`.

Reference: Nakama 3.40's own-account read on this machine class, 2,277 req/s
with both servers up, 0.96x of our own `GET /users/me` in the same run. Target: at least that.
"""


def call(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{BASE}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"{method} {path} answered {failure.code}: {failure.read()!r}")


def seed() -> str:
    """The live rules, and a player's bearer token."""
    admin = call(
        "POST", "/api/v1/auth/email/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    staff = {"Authorization": f"Bearer {admin['access_token']}"}
    values = {f"key_{i}": {"value": i, "label": f"setting {i}"} for i in range(20)}
    call(
        "PUT",
        "/api/v1/admin/config",
        {
            "values": values,
            "overrides": [{"segment": {"platforms": ["device"]}, "values": {"key_0": 0}}],
            "reason": "benchmark",
        },
        {**staff, "If-Match": '"0"'},
    )
    call("PUT", "/api/v1/admin/flags/new_shop", {"enabled": True, "rollout_percent": 50}, staff)
    now = dt.datetime.now(dt.UTC)
    call(
        "PUT",
        "/api/v1/admin/experiments/price_test",
        {
            "variants": [
                {"name": "control", "weight": 1, "values": {}},
                {"name": "cheap", "weight": 1, "values": {"key_1": 0}},
            ],
            "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
            "ends_at": (now + dt.timedelta(days=1)).isoformat(),
        },
        staff,
    )
    player = call(
        "POST", "/api/v1/auth/device/login", {"device_id": f"bench-cfg-{secrets.token_hex(8)}"}
    )
    token: str = player["access_token"]
    return token


def paired_ratio(headers: list[str], *, rounds: int, seconds: int) -> str:
    """The two routes' throughput ratio measured in pairs of short runs back to back, the
    order alternating: on a machine whose load moves, two long runs one after the other
    compare two different machines, and a pair of short ones compares the routes."""
    ratios = []
    for n in range(rounds):
        order = ("/api/v1/users/me", "/api/v1/config")[:: 1 if n % 2 == 0 else -1]
        rate = {
            path: wrk.run_wrk(f"{BASE}{path}", headers=headers, duration_seconds=seconds)
            for path in order
        }
        ratios.append(
            rate["/api/v1/config"].requests_per_second
            / rate["/api/v1/users/me"].requests_per_second
        )
    ratios.sort()
    middle = ratios[len(ratios) // 2]
    text = (
        f"median {middle:.3f} over {rounds} pairs of {seconds} s runs"
        f" (lowest {ratios[0]:.3f}, highest {ratios[-1]:.3f}; load average"
        f" {wrk.load_average()})"
    )
    print(f"GET /api/v1/config / GET /api/v1/users/me, paired: {text}", flush=True)
    return text


def main() -> int:
    smoke = "--smoke" in sys.argv[1:]
    seconds = 3 if smoke else wrk.DURATION_SECONDS
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    SERVER.reset()
    try:
        with SERVER.running():
            headers = [f"Authorization: Bearer {seed()}"]
            me = wrk.run_scenario(
                "GET /api/v1/users/me",
                f"{BASE}/api/v1/users/me",
                headers=headers,
                duration_seconds=seconds,
                warm_up=not smoke,
            )
            config = wrk.run_scenario(
                "GET /api/v1/config",
                f"{BASE}/api/v1/config",
                baseline=me.result,
                headers=headers,
                duration_seconds=seconds,
                warm_up=not smoke,
            )
            ratio = paired_ratio(headers, rounds=3 if smoke else 6, seconds=3)
        if not smoke:
            wrk.record_section(
                TITLE,
                [me, config],
                baseline=me.result,
                setup=SETUP + f"\nPaired ratio, config / users/me: {ratio}.\n",
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
