"""Redis down or silent, through a TCP proxy the test controls: what needs Redis answers
503 `unavailable` with `Retry-After` at once (a breaker, not a socket timeout per request),
what does not keeps working, and everything recovers when Redis answers again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from playerplatform.kit.settings import Settings
from tests.conftest import REDIS_URL, asgi_client, running_app
from tests.support.commerce import create_sku, owned
from tests.support.leaderboards import Boards
from tests.support.players import auth
from tests.support.proxy import TcpProxy

Player = dict[str, Any]

TIMEOUT = 0.5  # PP_REDIS_TIMEOUT_SECONDS for these apps


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    target = urlparse(REDIS_URL)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    yield proxy
    await proxy.close()


async def sign_in(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/api/v1/auth/device/login", json={"device_id": f"d-{time.time()}"})


async def assert_unavailable_quickly(boards: Boards, season: str, player: Player) -> None:
    # The first requests may each wait out the timeout; once the breaker opens, none waits.
    for _ in range(4):
        await boards.submit(season, player, 1)
    for score in range(20):
        started = time.monotonic()
        response = await boards.submit(season, player, score)
        # Within a second each, well under the hot store's socket timeout (2 s): none waited
        # on a socket (bounded per refusal, not in total, so a loaded machine is not a fault).
        assert time.monotonic() - started < 1.0
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) >= 1


async def assert_what_needs_no_redis_works(
    client: httpx.AsyncClient, player: Player, sku_id: str
) -> None:
    for path in ("/healthz", "/.well-known/jwks.json", "/api/v1/users/me"):
        response = await client.get(path, headers=auth(player))
        assert response.status_code == 200, (path, response.text)
    assert await owned(client, player, sku_id) is False  # entitlement checks
    assert (await sign_in(client)).status_code == 200  # sessions live in the database
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["hot_store"] != "ok"
    assert ready.json()["checks"]["database"] == "ok"


@pytest.mark.parametrize("failure", ["silent", "cut"])
async def test_redis_down_answers_503_quickly_and_recovers(
    make_settings: Callable[..., Settings], proxy: TcpProxy, failure: str
) -> None:
    settings = make_settings(redis_url=proxy.url, redis_timeout_seconds=TIMEOUT)
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        boards = await Boards.open(client, runtime)
        season = (await boards.season())["season_id"]
        (player,) = await boards.players(1)
        await boards.scored(season, player, 1)
        sku = await create_sku(client, boards.admin)
        proxy.silence() if failure == "silent" else proxy.cut()

        await assert_unavailable_quickly(boards, season, player)
        await assert_what_needs_no_redis_works(client, player, sku["sku_id"])

        proxy.restore()
        deadline = time.monotonic() + 10
        while (response := await boards.submit(season, player, 2)).status_code != 200:
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "no recovery"
            await asyncio.sleep(0.2)
        assert (await client.get("/readyz")).status_code == 200
