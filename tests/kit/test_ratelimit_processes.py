"""The per-user limit holds across processes: two API processes (each with its own local counter)
sharing one Redis let a player through at most 5% over the limit in any interval of one
window wherever it starts, even when the player bursts at the end of one fixed window and goes
on into the next. Once with two runtimes in this process (as two processes run them), once
with two `playerplatform serve` processes over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import (
    REDIS_URL,
    RUN_ID,
    UNLIMITED,
    asgi_client,
    fresh_database,
    running_app,
)
from tests.support.players import auth, device_login
from tests.support.servers import free_port

LIMIT, WINDOW = 100, 2.0
# The client sees a verdict a little after the server made it: intervals are measured this
# much shorter than the window.
MARGIN = 0.25


def most_in_any_window(passed: list[float], span: float) -> int:
    passed = sorted(passed)
    return max(sum(1 for at in passed[i:] if at < start + span) for i, start in enumerate(passed))


async def test_two_processes_keep_the_read_limit_within_five_percent(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        redis_url=REDIS_URL, rate_limit_read=f"{LIMIT} per {int(WINDOW)} seconds"
    )
    async with (
        running_app(settings) as (first_app, _first),
        running_app(settings) as (second_app, _second),
        asgi_client(first_app) as first,
        asgi_client(second_app) as second,
    ):
        player = await device_login(first)
        headers = auth(player)
        # Start half a second before a fixed window ends (Redis and this test share a clock).
        await asyncio.sleep((WINDOW - 0.5 - time.time() % WINDOW) % WINDOW)
        passed: list[float] = []
        statuses: set[int] = set()
        stop = time.monotonic() + 2.5 * WINDOW

        async def hammer(client: httpx.AsyncClient) -> None:
            while time.monotonic() < stop:
                response = await client.get("/api/v1/users/me", headers=headers)
                statuses.add(response.status_code)
                if response.status_code == 200:
                    passed.append(time.monotonic())

        await asyncio.gather(*(hammer(c) for c in (first, second) for _ in range(6)))
    assert statuses == {200, 429}
    assert len(passed) >= LIMIT  # the limit is reachable
    assert most_in_any_window(passed, WINDOW - MARGIN) <= LIMIT * 1.05


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], port: int) -> AsyncIterator[str]:
    """`playerplatform serve` in a process of its own, until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "playerplatform.cli", "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=2.0) as probe:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("serve did not start")
        yield base
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)


async def test_two_server_processes_keep_the_read_limit_within_five_percent(
    tmp_path: Path,
) -> None:
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        env = {
            **os.environ,
            "PP_DATABASE_URL": url,
            "PP_REDIS_URL": REDIS_URL,
            "PP_REDIS_PREFIX": f"pptest:{RUN_ID}:{secrets.token_hex(3)}:",
            "PP_STORAGE_URL": f"file://{tmp_path / 'objects'}",
            "PP_RATE_LIMIT_READ": f"{LIMIT} per {int(WINDOW)} seconds",
            "PP_RATE_LIMIT_AUTH": UNLIMITED,
            "PP_RATE_LIMIT_WRITE": UNLIMITED,
            "PP_METRICS_PORT": "0",
            "PP_ACCESS_LOG": "false",
            "PP_LOG_LEVEL": "warning",
        }
        async with (
            serving(env, free_port()) as first_url,
            serving(env, free_port()) as second_url,
            httpx.AsyncClient(base_url=first_url, timeout=10.0) as first,
            httpx.AsyncClient(base_url=second_url, timeout=10.0) as second,
        ):
            player = await device_login(first)
            headers = auth(player)
            await asyncio.sleep((WINDOW - 0.5 - time.time() % WINDOW) % WINDOW)
            passed: list[float] = []
            statuses: set[int] = set()
            stop = time.monotonic() + 2.5 * WINDOW

            async def hammer(client: httpx.AsyncClient) -> None:
                while time.monotonic() < stop:
                    response = await client.get("/api/v1/users/me", headers=headers)
                    statuses.add(response.status_code)
                    if response.status_code == 200:
                        passed.append(time.monotonic())

            await asyncio.gather(*(hammer(c) for c in (first, second) for _ in range(6)))
    assert statuses == {200, 429}
    assert len(passed) >= LIMIT
    assert most_in_any_window(passed, WINDOW - MARGIN) <= LIMIT * 1.05
