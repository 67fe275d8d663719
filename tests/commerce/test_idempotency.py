"""Idempotency-Key: answers are kept in the database, the hot store only speeds them up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from playerplatform.kit.idempotency import RUNNING, _cache_key
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.conftest import asgi_client, running_app
from tests.support.commerce import balance, create_sku, spend
from tests.support.players import auth, device_login


async def _funded_player(
    client: httpx.AsyncClient, admin: dict[str, Any], units: int
) -> tuple[dict[str, Any], str]:
    coins = await create_sku(client, admin, type="consumable", quantity=1)
    player = await device_login(client)
    response = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": coins["sku_id"], "quantity": units, "reason": "test"},
        headers=auth(admin),
    )
    assert response.status_code == 200
    return player, coins["sku_id"]


async def test_replay_survives_a_hot_store_that_lost_its_copy(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]
) -> None:
    player, coins = await _funded_player(client, admin, 5)
    first = await spend(client, player, coins, 2, key="durable-key")
    assert first.status_code == 200
    await runtime.hot.delete(_cache_key(f"{player['user']['canonical_id']}", "durable-key"))
    replay = await spend(client, player, coins, 2, key="durable-key")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert await balance(client, player, coins) == 3
    # Keys are scoped to the caller: another player's identical key is a new request.
    other, other_coins = await _funded_player(client, admin, 5)
    mine = await spend(client, other, other_coins, 1, key="durable-key")
    assert mine.status_code == 200 and "Idempotent-Replayed" not in mine.headers


async def test_a_repeat_waits_for_the_first_request(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]
) -> None:
    player, coins = await _funded_player(client, admin, 5)
    # Another process holds the key (its request is running) for a short while.
    held = _cache_key(player["user"]["canonical_id"], "busy-key")
    await runtime.hot.set_if_absent(held, RUNNING + "someone-else", ttl=0.4)
    started = time.monotonic()
    response = await spend(client, player, coins, 1, key="busy-key")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert await balance(client, player, coins) == 4


async def test_failed_requests_are_not_recorded(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    player, coins = await _funded_player(client, admin, 1)
    short = await spend(client, player, coins, 3, key="retry-me")
    assert short.status_code == 409 and short.json()["code"] == "insufficient_funds"
    await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": coins, "quantity": 5, "reason": "top-up"},
        headers=auth(admin),
    )
    retried = await spend(client, player, coins, 3, key="retry-me")
    assert retried.status_code == 200 and retried.json()["balance_after"] == 3


async def test_a_lock_left_behind_holds_a_retry_only_for_the_wait(
    make_settings: Callable[..., Settings], admin: dict[str, Any]
) -> None:
    # The first request took the hot-store lock, then could not release it (Redis went away
    # as it ended) and its transaction rolled back: the retry waits `wait`, then the
    # database's claim decides, instead of the lock's 30 seconds.
    settings = make_settings(commerce_idempotency_wait_seconds=0.5)
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        player, coins = await _funded_player(client, admin, 5)
        lock = _cache_key(player["user"]["canonical_id"], "orphan-key")
        assert await runtime.hot.set_if_absent(lock, RUNNING + "gone", ttl=30)
        started = time.monotonic()
        response = await spend(client, player, coins, 2, key="orphan-key")
        assert response.status_code == 200, response.text
        assert 0.4 <= time.monotonic() - started < 5
        replay = await spend(client, player, coins, 2, key="orphan-key")
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
        assert await balance(client, player, coins) == 3
