"""The scheduler: one leader across processes runs each tick once; a missed stretch is
caught up with one run; scheduled work only enqueues jobs keyed by name and tick."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from playerplatform.jobs import repository
from playerplatform.jobs.models import Job
from playerplatform.jobs.registry import JobRegistry
from playerplatform.jobs.scheduler import Scheduler, leader_lock_for
from playerplatform.kit import migrate
from playerplatform.kit.db import Database, utcnow
from playerplatform.kit.settings import Settings
from tests.conftest import fresh_database
from tests.jobs.support import wait_for


@pytest.fixture
async def own_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database of its own: the leader lock is per database, and the app under test may
    hold the shared database's."""
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        db = Database(Settings(database_url=url))
        try:
            yield db
        finally:
            await db.dispose()


def every_second(registry: JobRegistry, name: str = "tick_every_second") -> None:
    @registry.schedule("* * * * * *", name=name, queue="leaderboard_update")
    def payload(tick: dt.datetime) -> dict[str, Any]:
        return {"action": "close_due_seasons", "tick": tick.isoformat()}


async def scheduled_jobs(db: Database) -> list[Job]:
    async with db.unit_of_work(write=False) as uow:
        return list((await uow.session.execute(sa.select(Job).order_by(Job.run_at))).scalars())


async def test_two_schedulers_started_at_once_run_each_tick_once(own_db: Database) -> None:
    registry = JobRegistry()
    every_second(registry)
    schedulers = [
        Scheduler(own_db, registry, leader_lock_for(own_db), poll_seconds=0.1, standby_seconds=0.2)
        for _ in range(2)
    ]
    await asyncio.gather(*(s.start() for s in schedulers))
    try:
        await asyncio.sleep(3.2)
        leaders = [s for s in schedulers if s.is_leader]
        assert len(leaders) == 1
        [leader] = leaders
        [standby] = [s for s in schedulers if s is not leader]
        assert leader.enqueued >= 3 and standby.enqueued == 0

        # The leader goes away: the standby takes over and carries on from the last tick.
        await leader.stop()
        before = len(await scheduled_jobs(own_db))

        async def took_over() -> bool:
            return standby.is_leader and standby.enqueued >= 2

        await wait_for(took_over, timeout=10)
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
    jobs = await scheduled_jobs(own_db)
    assert len(jobs) > before
    keys = [job.key for job in jobs]
    assert len(keys) == len(set(keys))
    ticks = sorted(dt.datetime.fromisoformat(job.payload["tick"]) for job in jobs)
    assert all(b - a >= dt.timedelta(seconds=1) for a, b in itertools.pairwise(ticks))
    assert all(job.queue == "leaderboard_update" and job.status == "pending" for job in jobs)
    assert all(job.key == f"tick_every_second@{job.payload['tick']}" for job in jobs)


async def test_missed_ticks_are_caught_up_once(own_db: Database) -> None:
    registry = JobRegistry()

    @registry.schedule("*/5 * * * *", name="recount_ranks", queue="leaderboard_update")
    def payload(tick: dt.datetime) -> dict[str, Any]:
        return {"tick": tick.isoformat()}

    # A minute into a five-minute window, so `now + 30 s` is still in it.
    now = registry.schedules["recount_ranks"].latest_tick(utcnow()) + dt.timedelta(minutes=1)
    async with own_db.unit_of_work() as uow:  # last ran an hour ago: twelve ticks missed
        await repository.save_tick(uow, "recount_ranks", now - dt.timedelta(hours=1), now=now)
    scheduler = Scheduler(own_db, registry, leader_lock_for(own_db))
    ran = await scheduler.run_due(now)
    again = await scheduler.run_due(now + dt.timedelta(seconds=30))
    restarted = await Scheduler(own_db, registry, leader_lock_for(own_db)).run_due(now)

    latest = registry.schedules["recount_ranks"].latest_tick(now)
    assert ran == [("recount_ranks", latest)]
    assert again == [] and restarted == []
    [job] = await scheduled_jobs(own_db)
    assert job.payload == {"tick": latest.isoformat()}
    async with own_db.unit_of_work(write=False) as uow:
        assert await repository.last_tick(uow, "recount_ranks") == latest


async def test_a_tick_two_leaders_race_on_is_enqueued_once(own_db: Database) -> None:
    registry = JobRegistry()
    every_second(registry, "raced")
    now = utcnow()
    # Two schedulers that both believe they lead (a lock lost mid-tick) run the same tick.
    first, second = (Scheduler(own_db, registry, leader_lock_for(own_db)) for _ in range(2))
    results = await asyncio.gather(first.run_due(now), second.run_due(now))
    assert sum(len(r) for r in results) == 1
    assert len(await scheduled_jobs(own_db)) == 1


async def test_an_entry_that_fails_does_not_keep_the_others_from_running(
    own_db: Database,
) -> None:
    registry = JobRegistry()

    @registry.schedule("*/5 * * * *", name="broken_entry", queue="leaderboard_update")
    def broken(tick: dt.datetime) -> dict[str, Any]:
        raise RuntimeError("this entry cannot build its payload")

    @registry.schedule("*/5 * * * *", name="healthy_entry", queue="leaderboard_update")
    def healthy(tick: dt.datetime) -> dict[str, Any]:
        return {"tick": tick.isoformat()}

    now = utcnow()
    ran = await Scheduler(own_db, registry, leader_lock_for(own_db)).run_due(now)
    latest = registry.schedules["healthy_entry"].latest_tick(now)
    assert ran == [("healthy_entry", latest)]
    [job] = await scheduled_jobs(own_db)
    assert job.payload == {"tick": latest.isoformat()}
