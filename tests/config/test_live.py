"""The in-process layer: a change reaches another API process within a second, and a process
that missed the message catches up by version."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

import httpx

from playerplatform.config.live import CHANGES_KEY
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.config.test_config import put_config
from tests.conftest import REDIS_URL, asgi_client, running_app
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def test_a_change_reaches_another_process_within_a_second(
    client: httpx.AsyncClient, runtime: Runtime, make_settings: Callable[..., Settings]
) -> None:
    """Two API processes on one Redis (either test shape); the other one never polls (its
    catch-up is an hour away): only the change message can tell it."""
    admin = await staff_login(client, runtime)
    quiet = {"redis_url": REDIS_URL, "config_catch_up_seconds": 3600}
    async with (
        running_app(make_settings(**quiet)) as (here_app, _),
        running_app(make_settings(**quiet)) as (there_app, there),
        asgi_client(here_app) as here,
        asgi_client(there_app) as elsewhere,
    ):
        player = await device_login(elsewhere)
        before = await elsewhere.get("/api/v1/config", headers=auth(player))  # starts listening
        async with asyncio.timeout(5):
            await there.hot.near.wait_live()  # type: ignore[attr-defined]
        marker = secrets.token_hex(4)
        assert before.json()["values"].get("marker") != marker
        loaded = there.config.snapshot
        for _ in range(3):  # served from memory: no reload while nothing changes
            again = await elsewhere.get("/api/v1/config", headers=auth(player))
            assert again.json() == before.json()
        assert there.config.snapshot is loaded
        # ...and the change counter is read from the process's own copy, not from Redis.
        assert CHANGES_KEY in there.hot.near._entries  # type: ignore[attr-defined]
        assert (await put_config(here, admin, {"values": {"marker": marker}})).is_success
        started = time.monotonic()
        while (await elsewhere.get("/api/v1/config", headers=auth(player))).json()["values"].get(
            "marker"
        ) != marker:
            assert time.monotonic() - started < 1.0, "the change did not reach the other process"
            await asyncio.sleep(0.01)


async def test_a_process_that_missed_the_message_catches_up_by_version(
    client: httpx.AsyncClient, runtime: Runtime, make_settings: Callable[..., Settings]
) -> None:
    """A process whose hot store never hears of the change (another Redis namespace stands
    for a lost connection): it reads the state version and reloads within its catch-up."""
    admin = await staff_login(client, runtime)
    deaf = make_settings(
        redis_url=REDIS_URL,
        redis_prefix=f"pptest:deaf:{secrets.token_hex(4)}:",
        config_catch_up_seconds=0.2,
    )
    async with running_app(deaf) as (app, other), asgi_client(app) as elsewhere:
        player = await device_login(client)
        marker = secrets.token_hex(4)
        assert (await put_config(client, admin, {"values": {"marker": marker}})).is_success
        started = time.monotonic()
        while (await elsewhere.get("/api/v1/config", headers=auth(player))).json()["values"].get(
            "marker"
        ) != marker:
            # Catch-up runs every 0.2 s here; the bound leaves room for a loaded machine
            # (three suites on two cores starve a loop), not for a process that never reads.
            assert time.monotonic() - started < 3.0, "the process did not catch up"
            await asyncio.sleep(0.02)
        assert other.config.snapshot.version == runtime.config.snapshot.version
