"""The database as the durable copy: scores cost no database work on the request path, are
written behind in batches, and a hot store that lost its boards is rebuilt with the same
ranks; `check` reports drift between the two."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from playerplatform.leaderboards import durability, repository
from playerplatform.leaderboards.boards import BoardEntry
from playerplatform.runtime import Runtime
from tests.conftest import SHAPE
from tests.support.leaderboards import Boards, ids
from tests.support.players import auth

_statements: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "statements", default=None
)


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


@pytest.fixture
def sql_seen(runtime: Runtime) -> Iterator[list[str]]:
    """Statements run on behalf of this test's own task (background work is not counted)."""

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        log = _statements.get()
        if log is not None:
            log.append(statement)

    engines = {runtime.db.write_engine.sync_engine, runtime.db.read_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    log: list[str] = []
    token = _statements.set(log)
    yield log
    _statements.reset(token)
    for engine in engines:
        event.remove(engine, "before_cursor_execute", seen)


async def test_a_score_costs_no_database_statement(boards: Boards, sql_seen: list[str]) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(3)
    await boards.scored(season, players[0], 1)  # warms this process's copy of the season
    sql_seen.clear()
    for n, player in enumerate(players * 5):
        await boards.scored(season, player, n)
    assert sql_seen == []
    await boards.write_behind(season)
    stored = await boards.stored(season)
    assert {cid: row.score for cid, row in stored.items()} == {
        cid: score for cid, score, _rank in await boards.ranking(season)
    }


async def test_the_flusher_writes_scores_behind_within_seconds(boards: Boards) -> None:
    season = (await boards.season(operator="latest"))["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 7, metadata={"lap": 3})
    # Seconds, not minutes: the flusher visits every open season of the suite's shared
    # database each tick, on a machine running two suites at once.
    deadline = asyncio.get_running_loop().time() + 30
    while not (stored := await boards.stored(season)):
        assert asyncio.get_running_loop().time() < deadline, "not written behind"
        await asyncio.sleep(0.1)
    (row,) = stored.values()
    assert row.score == 7 and row.meta == {"lap": 3}
    await boards.scored(season, player, 9)
    while (await boards.stored(season))[ids([player])[0]].score != 9:
        assert asyncio.get_running_loop().time() < deadline + 30
        await asyncio.sleep(0.1)


async def test_rebuild_after_losing_the_hot_store_gives_identical_ranks(boards: Boards) -> None:
    season = (await boards.season(type="regional"))["season_id"]
    players = await boards.players(8)
    for i, player in enumerate(players):
        await boards.scored(season, player, (i * 7) % 4, region="eu" if i % 2 else "na")
    moderator_view = await boards.ranking(season)
    regional = await boards.ranking(season, region="eu")
    await boards.write_behind(season)

    rules = await boards.runtime.leaderboards.season(season)
    await boards.runtime.leaderboards.boards.drop(
        rules.board
    )  # what FLUSHALL or a fresh replica does
    # The next score finds the board cold, waits for the rebuild, then ranks against it.
    again = await boards.scored(season, players[0], -1, region="na")
    assert again["improved"] is False
    assert again["rank"] == [cid for cid, _s, _r in moderator_view].index(ids(players)[0]) + 1
    assert await boards.ranking(season) == moderator_view
    assert await boards.ranking(season, region="eu") == regional


async def test_rebuild_on_demand_writes_waiting_scores_first(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(4)
    for score, player in enumerate(players):
        await boards.scored(season, player, score)
    before = await boards.ranking(season)
    loaded = await durability.rebuild_now(
        boards.runtime.db, boards.runtime.hot, boards.runtime.leaderboards.boards, season, batch=2
    )
    assert loaded == 4
    assert await boards.ranking(season) == before


async def test_check_reports_drift(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    players = await boards.players(3)
    for score, player in enumerate(players):
        await boards.scored(season, player, score)
    await boards.write_behind(season)
    async with boards.runtime.db.unit_of_work(write=False) as uow:
        row = await repository.get_season(uow, season)
    assert row is not None
    drift = await durability.check_board(
        boards.runtime.db, boards.runtime.hot, boards.runtime.leaderboards.boards, row
    )
    assert drift.clean and drift.database == 3 and drift.hot == 3

    rules = await boards.runtime.leaderboards.season(season)
    await boards.runtime.leaderboards.boards.load(
        rules.board, [BoardEntry("pghost0000000000000000000", 1.0, 1)]
    )
    drift = await durability.check_board(
        boards.runtime.db, boards.runtime.hot, boards.runtime.leaderboards.boards, row
    )
    assert not drift.clean and drift.only_in_hot == ["pghost0000000000000000000"]


async def test_check_and_rebuild_commands(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 3)
    settings = boards.runtime.settings
    env = {
        **os.environ,
        "PP_DATABASE_URL": settings.database_url,
        "PP_REDIS_URL": settings.redis_url or "",
        "PP_REDIS_CLUSTER": str(settings.redis_cluster).lower(),
        "PP_REDIS_PREFIX": settings.redis_prefix,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "playerplatform.cli", "leaderboards", *args, "--season", season],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    if SHAPE == "embedded":
        # The boards live in the server's memory: a separate process must refuse, not report
        # an empty store as drift or "rebuild" a private copy nobody reads.
        for command in ("rebuild", "check"):
            refused = await asyncio.to_thread(run, command)
            assert refused.returncode == 1
            assert "embedded shape" in refused.stderr
        return
    rebuilt = await asyncio.to_thread(run, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"{season}: 1 entries loaded" in rebuilt.stdout
    checked = await asyncio.to_thread(run, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{season}: ok database=1 hot=1" in checked.stdout
    assert (await boards.ranking(season))[0][:2] == (ids([player])[0], 3)
    assert (
        await boards.client.get(f"/api/v1/leaderboards/{season}/me", headers=auth(player))
    ).status_code == 200
