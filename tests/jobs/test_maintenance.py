"""Done jobs are pruned after the retention period, oldest first, a bounded batch at a time;
dead, pending and recent jobs stay."""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa

from playerplatform.jobs import repository
from playerplatform.jobs.maintenance import QUEUE, prune_jobs
from playerplatform.jobs.models import DEAD, DONE, Job
from playerplatform.jobs.registry import JobRun
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import new_uuid, utcnow
from playerplatform.runtime import Runtime


async def _jobs(runtime: Runtime, *finished: tuple[str, float | None]) -> list[str]:
    """Jobs on a queue nothing consumes, each (status, days since it finished), as written."""
    queue = f"test_prune_{secrets.token_hex(4)}"
    ids = []
    async with runtime.db.unit_of_work() as uow:
        for status, days in finished:
            public_id = await enqueue(uow, queue, {"n": len(ids)})
            assert public_id is not None
            if days is not None:
                await uow.session.execute(
                    sa.update(Job)
                    .where(Job.public_id == public_id)
                    .values(status=status, finished_at=utcnow() - dt.timedelta(days=days))
                )
            ids.append(public_id)
    return ids


async def _left(runtime: Runtime, ids: list[str]) -> list[bool]:
    async with runtime.db.unit_of_work(write=False) as uow:
        found = set(
            (await uow.session.execute(sa.select(Job.public_id).where(Job.public_id.in_(ids))))
            .scalars()
            .all()
        )
    return [i in found for i in ids]


async def test_done_jobs_past_retention_are_pruned_and_nothing_else(runtime: Runtime) -> None:
    retention = runtime.settings.job_retention_days
    ids = await _jobs(
        runtime,
        (DONE, retention + 1),  # past retention: goes
        (DONE, retention - 1),  # recent: stays
        (DEAD, retention + 30),  # dead: stays for an admin to retry
        ("pending", None),  # not finished: stays
    )
    async with runtime.db.unit_of_work() as uow:
        run = JobRun(new_uuid(), "prune", QUEUE, None, {"kind": "prune_jobs"}, 1, 5)
        await prune_jobs(uow, run, runtime)
    assert await _left(runtime, ids) == [False, True, True, True]


async def test_pruning_takes_a_bounded_batch_oldest_first(runtime: Runtime) -> None:
    ids = await _jobs(runtime, (DONE, 400), (DONE, 300), (DONE, 500))
    async with runtime.db.unit_of_work() as uow:
        cutoff = utcnow() - dt.timedelta(days=200)
        assert await repository.delete_done_before(uow, before=cutoff, limit=2) == 2
    assert await _left(runtime, ids) == [False, True, False]
    async with runtime.db.unit_of_work() as uow:
        assert await repository.delete_done_before(uow, before=cutoff, limit=2) >= 1
    assert await _left(runtime, ids) == [False, False, False]


async def test_pruning_is_scheduled(runtime: Runtime) -> None:
    entry = runtime.jobs.registry.schedules["jobs_prune"]
    assert entry.queue == QUEUE and entry.cron == "*/5 * * * *"
    assert entry.payload(utcnow()) == {"kind": "prune_jobs"}
