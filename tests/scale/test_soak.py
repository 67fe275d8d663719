"""The soak: thousands of purchases (currency grants and spends, each with an Idempotency-Key)
and score submissions while PostgreSQL, Redis and RabbitMQ are cut, silenced (a black hole)
or slowed at random, each through its fault proxy. The game clients retry every 5xx and every
dropped connection with the same key, as a game would. Then the count: every operation
answered, nothing granted or spent twice, every wallet's ledger balanced, every best score on
the board and in the database, and `leaderboards check` clean.

PP_SOAK_OPERATIONS sets the number of operations (10,000 in `make test`). Redis here is the
single node: a proxy in front of a cluster would be bypassed by its redirects (the failover
test covers the cluster)."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.commerce.models import LedgerEntry
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.durability import check_board
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from playerplatform.wiring import platform_wiring
from tests.conftest import REDIS_URL, asgi_client, fresh_database, running_app
from tests.jobs.support import create_vhost, delete_vhost
from tests.support.commerce import create_sku, ledger_consistent
from tests.support.db import rows
from tests.support.leaderboards import Boards
from tests.support.players import auth
from tests.support.proxy import TcpProxy

OPERATIONS = int(os.environ.get("PP_SOAK_OPERATIONS", "10000"))
REPORT = os.environ.get("PP_SOAK_REPORT")  # a file for the figures (scripts/test.sh shows it)
CLIENTS = 32  # game clients at once: the in-process app, its clients and proxies share a core
PLAYERS = 40
RETRYABLE = {500, 502, 503, 504}  # 500 is retried too, but counted: there must be none


def report(line: str) -> None:
    print(line)
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@dataclass
class Tally:
    granted: Counter[str] = field(default_factory=Counter)  # canonical id -> units
    spent: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)  # ledger entries each must have
    best: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, 0: no answer
    faults: Counter[str] = field(default_factory=Counter)
    refused_spends: int = 0


@asynccontextmanager
async def proxied_stores(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A migrated database, a RabbitMQ vhost and Redis of the soak's own, each behind a
    proxy: the URLs to give the platform, and the proxies."""
    vhost = f"pp_soak_{secrets.token_hex(4)}"
    broker_url = create_vhost(vhost)
    try:
        async with fresh_database(tmp_path, "production") as database_url:
            await migrate.upgrade_async(database_url)
            proxies = {
                "postgresql": await TcpProxy.in_front_of(database_url),
                "redis": await TcpProxy.in_front_of(REDIS_URL),
                "rabbitmq": await TcpProxy.in_front_of(broker_url),
            }
            try:
                yield {
                    "database_url": proxies["postgresql"].address(database_url),
                    "redis_url": proxies["redis"].address(REDIS_URL),
                    "redis_cluster": False,
                    "broker_url": proxies["rabbitmq"].address(broker_url),
                    "proxies": proxies,
                }
            finally:
                for proxy in proxies.values():
                    await proxy.close()
    finally:
        delete_vhost(vhost)


async def chaos(proxies: dict[str, TcpProxy], done: asyncio.Event, tally: Tally) -> None:
    """Until `done`: every 1.5-3.5 s, one store cut, silenced or slowed for 0.1-0.6 s."""
    rng = random.Random()
    while not done.is_set():
        await asyncio.sleep(rng.uniform(1.5, 3.5))
        name = rng.choice(sorted(proxies))
        kind = rng.choice(["cut", "silence", "delay"])
        proxy = proxies[name]
        if kind == "cut":
            proxy.cut()
        elif kind == "silence":
            proxy.silence()
        else:
            proxy.delay(rng.uniform(0.01, 0.1))
        tally.faults[f"{name} {kind}"] += 1
        await asyncio.sleep(rng.uniform(0.1, 0.6))
        proxy.restore()


def in_progress(response: httpx.Response) -> bool:
    """409 `idempotency_in_progress`: the first request with this key is still running."""
    return response.status_code == 409 and response.json().get("code") == "idempotency_in_progress"


async def answered(tally: Tally, send: Callable[[], Any]) -> httpx.Response:
    """`send()` until it answers something other than a 5xx, backing off a little."""
    pause = 0.05
    while True:
        try:
            response: httpx.Response = await send()
        except httpx.TransportError:
            tally.statuses[0] += 1
        else:
            tally.statuses[response.status_code] += 1
            if response.status_code not in RETRYABLE and not in_progress(response):
                return response
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, 0.5)


class Game:
    def __init__(
        self, client: httpx.AsyncClient, admin: dict[str, Any], coins: str, season: str
    ) -> None:
        self.client = client
        self.admin = admin
        self.coins = coins
        self.season = season
        self.tally = Tally()

    async def sign_in(self) -> dict[str, Any]:
        device = f"soak-{secrets.token_hex(8)}"
        response = await answered(
            self.tally,
            lambda: self.client.post("/api/v1/auth/device/login", json={"device_id": device}),
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def grant(self, player: dict[str, Any], units: int) -> None:
        canonical = player["user"]["canonical_id"]
        key = secrets.token_hex(8)
        response = await answered(
            self.tally,
            lambda: self.client.post(
                f"/api/v1/admin/users/{canonical}/grants",
                json={"sku_id": self.coins, "quantity": units, "reason": "soak"},
                headers={**auth(self.admin), "Idempotency-Key": key},
            ),
        )
        assert response.status_code == 200, response.text
        self.tally.granted[canonical] += units
        self.tally.entries[canonical] += 1

    async def spend(self, player: dict[str, Any], units: int) -> None:
        canonical = player["user"]["canonical_id"]
        key = secrets.token_hex(8)
        response = await answered(
            self.tally,
            lambda: self.client.post(
                "/api/v1/commerce/wallet/spend",
                json={"sku_id": self.coins, "quantity": units, "reason": "shop"},
                headers={**auth(player), "Idempotency-Key": key},
            ),
        )
        if response.status_code == 409 and response.json()["code"] == "insufficient_funds":
            self.tally.refused_spends += 1
            return
        assert response.status_code == 200, response.text
        self.tally.spent[canonical] += units
        self.tally.entries[canonical] += 1

    async def score(self, player: dict[str, Any], value: float) -> None:
        canonical = player["user"]["canonical_id"]
        response = await answered(
            self.tally,
            lambda: self.client.post(
                f"/api/v1/leaderboards/{self.season}/scores",
                json={"score": value},
                headers=auth(player),
            ),
        )
        assert response.status_code == 200, response.text
        self.tally.best[canonical] = max(self.tally.best.get(canonical, value), value)

    async def play(self, players: list[dict[str, Any]], operations: int) -> None:
        left = iter(range(operations))
        rng = random.Random()

        async def one_client() -> None:
            for _ in left:
                player = rng.choice(players)
                roll = rng.random()
                if roll < 0.3:
                    await self.grant(player, rng.randint(1, 5))
                elif roll < 0.5:
                    await self.spend(player, rng.randint(1, 3))
                else:
                    await self.score(player, rng.randint(0, 1_000_000))

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))


@asynccontextmanager
async def worker(settings: Settings) -> AsyncIterator[Runtime]:
    """A `playerplatform worker` process's runtime, in this process."""
    runtime = Runtime.build(settings, platform_wiring())
    await runtime.start()
    await runtime.jobs.run_worker(runtime)
    try:
        yield runtime
    finally:
        await runtime.close()


@pytest.mark.timeout(900)  # ten thousand operations through faults: minutes, not seconds
async def test_purchases_and_scores_through_random_faults_lose_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with proxied_stores(tmp_path) as stores:
        proxies = stores.pop("proxies")
        settings = make_settings(
            **stores,
            redis_prefix=f"ppsoak:{secrets.token_hex(4)}:",
            redis_timeout_seconds=0.5,
            database_timeout_seconds=2.0,
            leaderboard_flush_seconds=0.5,
            job_relay_sweep_seconds=0.5,
            # A job published into a connection the proxy then cut is published again (in
            # production after an hour; the soak cannot wait that long).
            job_redeliver_after_seconds=10.0,
        )
        async with (
            running_app(settings) as (app, runtime),
            worker(settings),
            asgi_client(app) as client,
        ):
            boards = await Boards.open(client, runtime)
            season = (await boards.season())["season_id"]
            coins = (await create_sku(client, boards.admin, type="consumable", quantity=1))[
                "sku_id"
            ]
            game = Game(client, boards.admin, coins, season)
            players = list(await asyncio.gather(*(game.sign_in() for _ in range(PLAYERS))))

            done = asyncio.Event()
            faults = asyncio.create_task(chaos(proxies, done, game.tally))
            started = time.monotonic()
            try:
                await game.play(players, OPERATIONS)
            finally:
                done.set()
                await faults
                for proxy in proxies.values():
                    proxy.restore()
            took = time.monotonic() - started
            tally = game.tally
            report(
                f"soak: {OPERATIONS} operations in {took:.0f}s, answers {dict(tally.statuses)},"
                f" faults {dict(sorted(tally.faults.items()))},"
                f" spends refused {tally.refused_spends}"
            )
            assert sum(tally.faults.values()) >= 3, "too few faults to mean anything"
            assert tally.statuses[500] == 0, tally.statuses

            await use_every_pooled_connection(runtime)
            await assert_ledgers_balanced(runtime, players, coins, tally)
            await assert_scores_kept(runtime, boards, season, tally)


async def use_every_pooled_connection(runtime: Runtime) -> None:
    """A connection the last fault cut stays in the pool until it is next used, and that use
    fails (a request answers 503 and the connection is discarded): the platform recovers by
    itself, one failed use per dead connection. Use each once, so that the counts below read
    the database rather than a connection the soak killed. The pool hands out its oldest idle
    connection first, so as many successes in a row as it holds have used them all."""
    pooled = 2 * runtime.settings.database_pool_size  # the pool and its overflow
    deadline = time.monotonic() + 30
    in_a_row = 0
    while in_a_row < pooled:
        try:
            await rows(runtime, sa.select(1))
            in_a_row += 1
        except sa.exc.DBAPIError:
            in_a_row = 0
            assert time.monotonic() < deadline, "the database never answered again"


async def assert_ledgers_balanced(
    runtime: Runtime, players: list[dict[str, Any]], coins: str, tally: Tally
) -> None:
    canonical_ids = [p["user"]["canonical_id"] for p in players]
    ids = {
        r[0]: r[1]
        for r in await rows(
            runtime,
            sa.select(User.canonical_id, User.id).where(User.canonical_id.in_(canonical_ids)),
        )
    }
    counts = {
        r[0]: r[1]
        for r in await rows(
            runtime,
            sa.select(LedgerEntry.user_id, sa.func.count())
            .where(LedgerEntry.sku_id == coins)
            .group_by(LedgerEntry.user_id),
        )
    }
    for canonical, user_id in ids.items():
        expected = tally.granted[canonical] - tally.spent[canonical]
        assert expected >= 0
        stored, total, newest = await ledger_consistent(runtime, user_id, coins)
        assert (stored, total, newest) == (expected, expected, expected), canonical
        # One entry per acknowledged grant or spend: none lost, none applied twice.
        assert counts.get(user_id, 0) == tally.entries[canonical], canonical


async def assert_scores_kept(runtime: Runtime, boards: Boards, season: str, tally: Tally) -> None:
    started = time.monotonic()
    while True:  # the write-behind catches up by itself once the stores answer
        async with runtime.db.unit_of_work(write=False) as uow:
            row = await repository.get_season(uow, season)
        assert row is not None
        drift = await check_board(runtime.db, runtime.hot, runtime.leaderboards.boards, row)
        if drift.clean and drift.waiting == 0:
            break
        assert time.monotonic() < started + 90, drift
        await asyncio.sleep(0.5)
    report(f"soak: the write-behind caught up {time.monotonic() - started:.1f}s after the faults")
    stored = await boards.stored(season)
    assert {cid: entry.score for cid, entry in stored.items()} == tally.best
