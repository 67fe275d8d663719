"""A Redis Cluster master fails over under load (`CLUSTER FAILOVER` on its replica, then back):
players keep signing in and submitting scores throughout, the platform follows the new
topology without a restart, every request succeeds or is refused as retryable (503, never a
500), and nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
from redis.crc import key_slot

from playerplatform.kit.settings import Settings
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.boards import Board
from playerplatform.leaderboards.durability import check_board
from playerplatform.runtime import Runtime
from tests.conftest import REDIS_CLUSTER_URL, asgi_client, running_app
from tests.support.leaderboards import Boards
from tests.support.players import auth

WORKERS = 6  # concurrent game clients
RETRYABLE = {502, 503, 504}
MANUAL_FAILOVER_TIMEOUT = 6.0  # Redis's own is 5 seconds


async def node(address: str) -> aioredis.Redis:
    host, port = address.split(":")
    return aioredis.Redis(host=host, port=int(port), decode_responses=True)


async def shard_of(slot: int) -> tuple[str, str]:
    """(master, one of its replicas) serving `slot`, as `host:port`."""
    assert REDIS_CLUSTER_URL
    seed = urlsplit(REDIS_CLUSTER_URL)
    client = await node(f"{seed.hostname}:{seed.port}")
    try:
        nodes: dict[str, Any] = await client.execute_command("CLUSTER NODES")  # parsed
    finally:
        await client.aclose()
    by_id = {info["node_id"]: address.split("@")[0] for address, info in nodes.items()}
    for address, info in nodes.items():
        served = [(int(r[0]), int(r[-1])) for r in info["slots"]]
        if "master" in info["flags"] and any(low <= slot <= high for low, high in served):
            replicas = [i for i in nodes.values() if i["master_id"] == info["node_id"]]
            assert replicas, f"{address} has no replica"
            return address.split("@")[0], by_id[replicas[0]["node_id"]]
    raise AssertionError(f"no master serves slot {slot}")


async def role(address: str) -> str:
    client = await node(address)
    try:
        return str((await client.execute_command("ROLE"))[0])
    finally:
        await client.aclose()


async def fail_over_to(replica: str, timeout: float = 30.0) -> None:
    """`CLUSTER FAILOVER` on `replica` (coordinated: no write is lost), then wait for it to
    be a master. Redis gives up a manual failover that its master has not joined within
    5 seconds (now and then one asked for just after the previous switch); it is asked for
    again then."""
    deadline = time.monotonic() + timeout
    while await role(replica) != "master":
        client = await node(replica)
        try:
            await client.execute_command("CLUSTER FAILOVER")
        finally:
            await client.aclose()
        given_up = time.monotonic() + MANUAL_FAILOVER_TIMEOUT
        while time.monotonic() < given_up and await role(replica) != "master":
            assert time.monotonic() < deadline, f"{replica} did not take over"
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def same_topology_after(master: str, replica: str) -> AsyncIterator[None]:
    """Whatever happens inside, `master` is the master again afterwards (later tests and
    runs see the topology scripts/services.sh made)."""
    try:
        yield
    finally:
        if await role(master) != "master":
            await fail_over_to(master)


class Load:
    """Game clients: each signs a player in now and then and submits ever higher scores,
    retrying what answers 5xx as a game would, and records what was acknowledged."""

    def __init__(self, client: httpx.AsyncClient, boards: Boards, season: str) -> None:
        self.client = client
        self.boards = boards
        self.season = season
        self.stop = asyncio.Event()
        self.acknowledged: dict[str, float] = {}  # canonical id -> last score answered 200
        self.tokens: list[dict[str, Any]] = []
        self.statuses: dict[int, int] = {}
        self.last_ok = 0.0

    def _seen(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.last_ok = time.monotonic()

    async def _until_answered(self, send: Callable[[], Any]) -> httpx.Response:
        while True:
            try:
                response: httpx.Response = await send()
            except httpx.TransportError:
                self._seen(0)
            else:
                self._seen(response.status_code)
                if response.status_code not in RETRYABLE:
                    return response
            await asyncio.sleep(0.05)

    async def client_loop(self, player: dict[str, Any]) -> None:
        canonical = player["user"]["canonical_id"]
        score = 0.0
        while not self.stop.is_set():
            score += 1
            response = await self._until_answered(
                lambda s=score: self.boards.submit(self.season, player, s)
            )
            assert response.status_code == 200, response.text
            self.acknowledged[canonical] = score
            if score % 5 == 0:
                signed = await self._until_answered(
                    lambda: self.client.post(
                        "/api/v1/auth/device/login", json={"device_id": f"fo-{canonical}"}
                    )
                )
                assert signed.status_code == 200, signed.text
                self.tokens.append(signed.json())


async def test_a_master_fails_over_under_load_and_nothing_is_lost(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    assert settings.redis_cluster
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        boards = await Boards.open(client, runtime)
        season = (await boards.season())["season_id"]
        players = await boards.players(WORKERS)
        slot = key_slot(runtime.hot.key(Board(season, True).entries).encode())
        master, replica = await shard_of(slot)

        load = Load(client, boards, season)
        clients = [asyncio.create_task(load.client_loop(p)) for p in players]
        try:
            async with same_topology_after(master, replica):
                await asyncio.sleep(1.5)
                before = sum(load.acknowledged.values())
                assert before > 0, load.statuses
                failed_over = time.monotonic()
                await fail_over_to(replica)
                await asyncio.sleep(2.0)
                assert load.last_ok > failed_over, "no score accepted after the failover"
                middle = sum(load.acknowledged.values())
                assert middle > before
                await fail_over_to(master)  # and back, under the same load
                failed_back = time.monotonic()
                await asyncio.sleep(1.5)
                assert load.last_ok > failed_back, "no score accepted after failing back"
        finally:
            load.stop.set()
            await asyncio.gather(*clients)

        # Every request succeeded or was refused as retryable (503 while the cluster client
        # reads the new topology); none failed (an error let through fails the load above).
        assert load.statuses.get(500, 0) == 0, load.statuses
        # Every acknowledged score is on the board, exactly (a coordinated failover loses
        # no write), and every session opened meanwhile works.
        for player in players:
            canonical = player["user"]["canonical_id"]
            response = await boards.submit(season, player, 0)  # a lower score: no change
            assert response.status_code == 200, response.text
            assert response.json()["score"] == load.acknowledged[canonical], response.json()
        for token in load.tokens[-10:]:
            assert (await client.get("/api/v1/users/me", headers=auth(token))).status_code == 200
        await assert_board_matches_database(runtime, boards, season)


async def assert_board_matches_database(runtime: Runtime, boards: Boards, season: str) -> None:
    await boards.write_behind(season)
    async with runtime.db.unit_of_work(write=False) as uow:
        row = await repository.get_season(uow, season)
    assert row is not None
    drift = await check_board(runtime.db, runtime.hot, runtime.leaderboards.boards, row)
    assert drift.clean, drift
