"""Commerce benchmark: `.venv/bin/python bench/commerce.py [--duration 15]`.

Serves the production shape (PostgreSQL + Redis, two workers) on 127.0.0.1:18080 against a
fresh database, with the Steam emulator on 127.0.0.1:18091. Creates 10,000 players with coins
and a SKU catalog, then measures `GET /healthz`, `GET /commerce/entitlements/check` (the hot
path), `POST /commerce/wallet/spend` with a fresh Idempotency-Key per request, and
`POST /commerce/verify-receipt` replays of one verified Steam order. Records the results in
BENCHMARKS.md when run with the full duration. Server, emulator, database and Redis keys of
the run are removed at the end, also when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import wrk
from _server import BenchServer, psql, stop

TITLE = "Commerce"
STEAM_PORT = 18091
STEAM_URL = f"http://127.0.0.1:{STEAM_PORT}"
STEAM_APP_ID = "480"
STEAM_KEY = "bench-publisher-key"
ADMIN_EMAIL = "bench-admin@localhost.test"
ADMIN_PASSWORD = "correct-horse-staple-" + secrets.token_hex(6)
PLAYERS = 10_000
LOG = wrk.ROOT / "bench" / "results" / "commerce-steam.log"
SERVER = BenchServer(
    "commerce",
    port=18082,
    env={
        "PP_STEAM_API_URL": STEAM_URL,
        "PP_STEAM_APP_ID": STEAM_APP_ID,
        "PP_STEAM_PUBLISHER_KEY": STEAM_KEY,
        "PP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "PP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    },
)
BASE = SERVER.base

SETUP = f"""
`playerplatform serve --workers 2` (production shape: PostgreSQL database `{SERVER.database}` on
127.0.0.1:5432, Redis 127.0.0.1:6379, jobs in-process, access log off, rate limits raised out
of the way) and `playerplatform emulate steam`. {PLAYERS:,} device-login players, each
granted 1,000,000 coins; every request takes the next player's token. The entitlement check
runs on the hot path: the token's verification, the session and ban state and the cached
ownership answer are read from the process's copies (kept coherent by Redis client-side
tracking), a token let in before on the same state is not checked again, and the rate limit
is counted through the process's rate-limit counter, so a warm check waits on nothing. The gateway hands
the check straight to its route, past the exception middleware and the route search
(`HotLane`; `/healthz` takes the usual way). Before any
scenario the database is vacuumed and analysed after the players' creation; the check scenario runs once unmeasured first (15 s, same load), since each of
the 10,000 tokens' first use in each worker verifies its signature and fills the copies from
Redis or PostgreSQL. A spend locks the player's balance row, appends a ledger
entry and records the Idempotency-Key answer, all in one transaction, with a fresh key per
request; the verify-receipt replay repeats one verified order's request with its key, served
from the Redis copy of the recorded answer. Run with `.venv/bin/python bench/commerce.py`.
Target: the entitlement check at least 0.70 of `/healthz`.
"""


def call(method: str, path: str, body: Any = None, token: str | None = None, **headers: str) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as failure:
        raise wrk.BenchError(f"{method} {path} answered {failure.code}: {failure.read()!r}")


def steam_emulator_call(path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{STEAM_URL}{path}", data=json.dumps(body or {}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextlib.contextmanager
def steam_emulator() -> Iterator[None]:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("wb") as log:
        emulator = subprocess.Popen(
            [
                str(wrk.ROOT / ".venv" / "bin" / "playerplatform"),
                "emulate",
                "steam",
                "--port",
                str(STEAM_PORT),
                "--app-id",
                STEAM_APP_ID,
                "--publisher-key",
                STEAM_KEY,
            ],
            cwd=wrk.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            for _ in range(120):
                with contextlib.suppress(OSError):
                    steam_emulator_call("/emulator/tickets", {"steamid": "76561198000000001"})
                    break
                if emulator.poll() is not None:
                    raise wrk.BenchError(f"the Steam emulator exited; see {LOG}")
                time.sleep(0.25)
            yield
        finally:
            stop(emulator)


def prepare(tokens_file: Path) -> tuple[str, dict[str, Any]]:
    """Catalog, players with coins, one verified Steam order. Returns (cape sku, replay)."""
    admin = call(
        "POST", "/api/v1/auth/email/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    admin_token = admin["access_token"]
    cape = {
        "sku_id": "bench-cape",
        "type": "durable",
        "name": "Cape",
        "metadata": {"steam": {"itemid": "9001", "amount": 199}},
    }
    coins = {"sku_id": "bench-coins", "type": "consumable", "name": "Coins", "quantity": 1000}
    for sku in (cape, coins):
        call("POST", "/api/v1/admin/skus", sku, admin_token)

    def player(n: int) -> str:
        login = call("POST", "/api/v1/auth/device/login", {"device_id": f"bench-player-{n:06d}"})
        call(
            "POST",
            f"/api/v1/admin/users/{login['user']['canonical_id']}/grants",
            {"sku_id": "bench-coins", "quantity": 1000, "reason": "bench"},
            admin_token,
        )
        if n % 2 == 0:
            call(
                "POST",
                f"/api/v1/admin/users/{login['user']['canonical_id']}/grants",
                {"sku_id": "bench-cape", "reason": "bench"},
                admin_token,
            )
        return str(login["access_token"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        tokens = list(pool.map(player, range(PLAYERS)))
    tokens_file.write_text("\n".join(tokens) + "\n")

    ticket = steam_emulator_call("/emulator/tickets", {"steamid": "76561198000000042"})["ticket"]
    buyer = call("POST", "/api/v1/auth/steam/login", {"ticket": ticket})
    order = call(
        "POST", "/api/v1/commerce/steam/orders", {"sku_id": "bench-cape"}, buyer["access_token"]
    )
    steam_emulator_call(f"/emulator/microtxn/{order['provider_order_id']}/approve")
    replay = {"provider": "steam", "order_id": order["order_id"]}
    call(
        "POST",
        "/api/v1/commerce/verify-receipt",
        replay,
        buyer["access_token"],
        Idempotency_Key="bench-replay",
    )
    return "bench-cape", {"token": buyer["access_token"], "body": replay}


def main(duration: int) -> int:
    wrk.ensure_wrk()
    load_at_start = wrk.warn_if_busy()
    SERVER.reset()
    lua = wrk.LUA_DIR / "commerce.lua"
    try:
        with (
            steam_emulator(),
            SERVER.running(),
            tempfile.TemporaryDirectory() as scratch,
        ):
            tokens_file = Path(scratch) / "tokens.txt"
            print(f"bench: preparing {PLAYERS:,} players", flush=True)
            cape, replay = prepare(tokens_file)
            # Settle before measuring: the 10,000 players' writes are vacuumed and analysed
            # (as autovacuum would soon), so no scenario, /healthz included, runs beside it.
            psql("VACUUM ANALYZE", SERVER.database)
            time.sleep(5)
            wrk.run_wrk(f"{BASE}/healthz", duration_seconds=min(3, duration))  # warm-up
            healthz = wrk.run_scenario("GET /healthz", f"{BASE}/healthz", duration_seconds=duration)
            baseline = healthz.result
            replay_script = Path(scratch) / "replay.lua"
            replay_script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(json.dumps(replay['body']))}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            scenarios = [
                healthz,
                wrk.run_scenario(
                    "GET /api/v1/commerce/entitlements/check",
                    f"{BASE}/api/v1/commerce/entitlements/check",
                    baseline=baseline,
                    script=lua,
                    script_args=["check", str(tokens_file), cape, "check"],
                    duration_seconds=duration,
                    warm_up=True,
                ),
                wrk.run_scenario(
                    "POST /api/v1/commerce/wallet/spend (fresh key)",
                    f"{BASE}/api/v1/commerce/wallet/spend",
                    baseline=baseline,
                    script=lua,
                    script_args=["spend", str(tokens_file), "bench-coins", secrets.token_hex(6)],
                    duration_seconds=duration,
                ),
                wrk.run_scenario(
                    "POST /api/v1/commerce/verify-receipt (replay)",
                    f"{BASE}/api/v1/commerce/verify-receipt",
                    baseline=baseline,
                    script=replay_script,
                    headers=[
                        f"Authorization: Bearer {replay['token']}",
                        "Idempotency-Key: bench-replay",
                    ],
                    duration_seconds=duration,
                ),
            ]
        if duration == wrk.DURATION_SECONDS:
            wrk.record_section(
                TITLE, scenarios, baseline=baseline, setup=SETUP, load_at_start=load_at_start
            )
        else:
            print(
                f"bench: {duration} s per scenario: not recorded (full runs are {wrk.DURATION_SECONDS} s)"
            )
    except wrk.BenchError as failure:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        SERVER.clean()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=wrk.DURATION_SECONDS)
    arguments = parser.parse_args()
    for name in list(os.environ):
        if name.startswith("PP_"):
            del os.environ[name]
    sys.exit(main(arguments.duration))
