"""Poison entries: an entry the database refuses is parked, the rest of the season is saved,
the write-behind does not retry it forever, a season with one still closes, `check` says so,
and a close that stopped is visible and resumable."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.jobs import parked
from playerplatform.jobs.models import Job
from playerplatform.kit.settings import Settings
from playerplatform.leaderboards import durability, repository, seasons
from playerplatform.leaderboards.boards import Submission
from playerplatform.leaderboards.live import FLUSHER_LOCK
from playerplatform.leaderboards.models import Season
from playerplatform.runtime import Runtime
from tests.conftest import RUN_ID, SHAPE, asgi_client, running_app
from tests.support.leaderboards import Boards, ids


@pytest.fixture
async def boards(client: httpx.AsyncClient, runtime: Runtime) -> Boards:
    return await Boards.open(client, runtime)


# What a hot entry may hold that the database cannot take: metadata that is not JSON (both
# shapes), and on PostgreSQL a NUL inside a JSON string (jsonb refuses it).
POISONS = ["{not json", *(['{"n": "x\\u0000y"}'] if SHAPE == "production" else [])]


async def _poison(boards: Boards, season_id: str, player: dict[str, object], metadata: str) -> None:
    """An entry in the hot store as a submission leaves it, holding `metadata` as given."""
    rules = await boards.runtime.leaderboards.season(season_id)
    member = ids([player])[0]
    at = int(time.time() * 1_000_000)
    await boards.runtime.leaderboards.ensure_loaded(rules)
    submitted = await boards.runtime.leaderboards.boards.submit(
        rules.board, Submission(member, 50.0, at, "best", metadata=metadata)
    )
    assert submitted.status == "applied", submitted


async def _season(boards: Boards, season_id: str) -> Season:
    async with boards.runtime.db.unit_of_work(write=False) as uow:
        season = await repository.get_season(uow, season_id)
    assert season is not None
    return season


async def _check(boards: Boards, season_id: str) -> durability.Drift:
    rt = boards.runtime
    return await durability.check_board(
        rt.db, rt.hot, rt.leaderboards.boards, await _season(boards, season_id)
    )


async def _open_parked(boards: Boards, season_id: str) -> list[str]:
    async with boards.runtime.db.unit_of_work(write=False) as uow:
        items = await parked.open_items(uow, source=durability.WRITE_BEHIND, scope=season_id)
    return sorted(item.key for item in items)


async def test_a_refused_entry_is_parked_and_the_rest_are_written(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    good = await boards.players(3)
    bad = await boards.players(len(POISONS))
    for score, player in enumerate(good):
        await boards.scored(season, player, score)
    for player, poison in zip(bad, POISONS, strict=True):
        await _poison(boards, season, player, poison)

    assert await boards.write_behind(season) == 3
    stored = await boards.stored(season)
    assert sorted(stored) == sorted(ids(good))
    assert await _open_parked(boards, season) == sorted(f"{season}/{cid}" for cid in ids(bad))
    # Parked, not retried: the next run has nothing left to write and does not fail.
    assert await boards.write_behind(season) == 0
    assert await _open_parked(boards, season) == sorted(f"{season}/{cid}" for cid in ids(bad))

    drift = await _check(boards, season)
    assert not drift.clean
    assert drift.parked == sorted(ids(bad))
    assert drift.only_in_hot == [] and drift.different == []


async def test_a_later_good_score_resolves_the_parked_entry(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    (player,) = await boards.players(1)
    await _poison(boards, season, player, "{not json")
    assert await boards.write_behind(season) == 0
    assert await _open_parked(boards, season) == [f"{season}/{ids([player])[0]}"]

    await boards.scored(season, player, 60, metadata={"n": "fine"})
    assert await boards.write_behind(season) == 1
    assert await _open_parked(boards, season) == []
    assert (await _check(boards, season)).clean


async def test_a_season_holding_a_refused_entry_still_closes(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    good = await boards.players(2)
    bad = await boards.players(len(POISONS))
    for score, player in enumerate(good):
        await boards.scored(season, player, score + 1)
    for player, poison in zip(bad, POISONS, strict=True):
        await _poison(boards, season, player, poison)

    closed = await boards.close(season)
    assert closed["state"] == "closed"
    ranking = await boards.ranking(season)
    assert [(cid, rank) for cid, _score, rank in ranking] == [
        (ids(good)[1], 1),
        (ids(good)[0], 2),
    ]
    assert await _open_parked(boards, season) == sorted(f"{season}/{cid}" for cid in ids(bad))


async def _mark_closing(boards: Boards, season_id: str) -> None:
    async with boards.runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            sa.update(Season).where(Season.season_id == season_id).values(state="closing")
        )


async def test_a_close_without_its_job_is_reported_and_resumed(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 5)
    await _mark_closing(boards, season)  # as a close whose job was lost leaves it

    drift = await _check(boards, season)
    assert drift.closing and drift.stuck == "close job missing" and not drift.clean

    async with boards.runtime.db.unit_of_work() as uow:
        assert await seasons.resume_close(uow, season) == "enqueued"
    await boards.wait_closed(season)
    async with boards.runtime.db.unit_of_work() as uow:
        assert await seasons.resume_close(uow, season) == "closed"


async def test_a_dead_close_is_reported_and_revived(boards: Boards) -> None:
    season = (await boards.season(end_date="2999-01-01T00:00:00Z"))["season_id"]
    (player,) = await boards.players(1)
    await boards.scored(season, player, 5)
    async with boards.runtime.db.unit_of_work() as uow:
        assert await seasons.resume_close(uow, season) == "open"  # not due: nothing to do
    await _mark_closing(boards, season)
    async with boards.runtime.db.unit_of_work() as uow:
        # As a close that failed its last attempt leaves it (the worker does not run it).
        await seasons.enqueue_close(uow, season)
        await uow.session.execute(
            sa.update(Job)
            .where(Job.key == f"close:{season}")
            .values(status="dead", attempts=10, last_error="OperationalError: boom")
        )

    drift = await _check(boards, season)
    assert drift.closing and not drift.clean
    assert drift.stuck is not None and "dead: OperationalError: boom" in drift.stuck

    async with boards.runtime.db.unit_of_work() as uow:
        assert await seasons.resume_close(uow, season) == "revived"
    await boards.wait_closed(season)


async def test_the_commands_show_parked_entries_and_resume_a_close(boards: Boards) -> None:
    season = (await boards.season())["season_id"]
    good, bad = await boards.players(2)
    await boards.scored(season, good, 3)
    await _poison(boards, season, bad, "{not json")
    assert await boards.write_behind(season) == 1
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
            [sys.executable, "-m", "playerplatform.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    listed = await asyncio.to_thread(run, "parked", "list", "--scope", season)
    assert listed.returncode == 1, listed.stderr
    assert f"leaderboards.write_behind {season}/{ids([bad])[0]} attempts=1" in listed.stdout
    assert "1 parked" in listed.stdout
    if SHAPE == "production":  # the embedded shape's boards are in the server's memory
        checked = await asyncio.to_thread(run, "leaderboards", "check", "--season", season)
        assert checked.returncode == 1
        assert f"{season}: PARKED" in checked.stdout and "parked=1" in checked.stdout
        assert ids([bad])[0] in checked.stdout

    await _mark_closing(boards, season)
    resumed = await asyncio.to_thread(run, "leaderboards", "resume-close", "--season", season)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{season}: close enqueued" in resumed.stdout
    await boards.wait_closed(season)
    again = await asyncio.to_thread(run, "leaderboards", "resume-close", "--season", season)
    assert again.returncode == 1 and "nothing to resume (closed)" in again.stderr

    item_id = listed.stdout.split()[0]
    discarded = await asyncio.to_thread(run, "parked", "discard", item_id)
    assert discarded.returncode == 0, discarded.stderr
    assert await _open_parked(boards, season) == []
    assert (await asyncio.to_thread(run, "parked", "discard", item_id)).returncode == 1


async def test_one_broken_board_does_not_stop_the_flusher_for_the_others(
    make_settings: Callable[..., Settings],
) -> None:
    # An app of its own (its own hot store namespace), whose flusher waits for this test.
    settings = make_settings(
        leaderboard_flush_seconds=3600.0,
        redis_prefix=f"pptest:{RUN_ID}:{secrets.token_hex(3)}:",
    )
    async with running_app(settings) as (app, runtime), asgi_client(app) as client:
        boards = await Boards.open(client, runtime)
        broken = (await boards.season())["season_id"]
        healthy = (await boards.season())["season_id"]
        first, second = await boards.players(2)
        await boards.scored(broken, first, 1)
        await boards.scored(healthy, second, 2)
        # The broken board's list of waiting scores is a key of the wrong type.
        await runtime.hot.set((await runtime.leaderboards.season(broken)).board.dirty, "x")
        await runtime.hot.delete(FLUSHER_LOCK)

        assert await runtime.leaderboards.tick() == 1  # the healthy season's write-behind
        flushing = (await runtime.leaderboards.season(healthy)).board.flushing
        assert await runtime.hot.exists(flushing)
