"""Leaderboard helpers for tests: seasons made through the admin API, scores through the
player API, and the write-behind and season worker run on demand as their jobs run them."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from playerplatform.leaderboards import durability, repository
from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


class Boards:
    """One admin and helpers around the leaderboard routes."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]):
        self.client = client
        self.runtime = runtime
        self.admin = admin

    @classmethod
    async def open(cls, client: httpx.AsyncClient, runtime: Runtime) -> Boards:
        return cls(client, runtime, await staff_login(client, runtime, "admin"))

    async def season(self, **fields: Any) -> dict[str, Any]:
        body = {"season_id": f"s-{secrets.token_hex(5)}", "name": "Test season", **fields}
        response = await self.client.post(
            "/api/v1/admin/seasons", json=body, headers=auth(self.admin)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def players(self, count: int, *, named: str | None = None) -> list[dict[str, Any]]:
        out = list(await asyncio.gather(*(device_login(self.client) for _ in range(count))))
        if named:
            for i, player in enumerate(out):
                await self.client.patch(
                    "/api/v1/users/me", json={"display_name": f"{named}{i}"}, headers=auth(player)
                )
        return out

    async def submit(
        self, season_id: str, player: dict[str, Any] | str, score: float, **extra: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/leaderboards/{season_id}/scores",
            json={"score": score, **extra},
            headers=auth(player),
        )

    async def scored(
        self, season_id: str, player: dict[str, Any], score: float, **extra: Any
    ) -> dict[str, Any]:
        response = await self.submit(season_id, player, score, **extra)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def top(self, season_id: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/leaderboards/{season_id}", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def ranking(self, season_id: str, **params: Any) -> list[tuple[str, float, int]]:
        """(canonical id, score, rank) from the top of the board."""
        page = await self.top(season_id, limit=100, **params)
        return [(i["user"]["canonical_id"], i["score"], i["rank"]) for i in page["items"]]

    async def close(self, season_id: str) -> dict[str, Any]:
        """Close now through the admin route and wait for the season worker."""
        response = await self.client.post(
            f"/api/v1/admin/seasons/{season_id}/close", headers=auth(self.admin)
        )
        assert response.status_code == 200, response.text
        return await self.wait_closed(season_id)

    async def wait_closed(self, season_id: str, timeout: float = 30.0) -> dict[str, Any]:
        # The flusher's tick visits every open season of the suite's shared database, on a
        # machine running two suites at once: a due close can wait several ticks.
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(
                f"/api/v1/admin/seasons/{season_id}", headers=auth(self.admin)
            )
            body = dict(response.json())
            if body["state"] == "closed":
                return body
            assert asyncio.get_running_loop().time() < deadline, body
            await asyncio.sleep(0.05)

    async def write_behind(self, season_id: str) -> int:
        """Run the write-behind for a season now, as its job does."""
        async with self.runtime.db.unit_of_work() as uow:
            season = await repository.get_season(uow, season_id)
            assert season is not None
            return await durability.flush_season(
                uow, self.runtime.leaderboards.boards, season, batch=500
            )

    async def stored(self, season_id: str) -> dict[str, Any]:
        """The season's rows in the database, by canonical id."""
        async with self.runtime.db.unit_of_work(write=False) as uow:
            season = await repository.get_season(uow, season_id)
            assert season is not None
            rows = await repository.all_entries(uow, season.id, after=None, limit=100_000)
        return {cid: row for row, cid in rows}


def ids(players: list[dict[str, Any]]) -> list[str]:
    return [p["user"]["canonical_id"] for p in players]
