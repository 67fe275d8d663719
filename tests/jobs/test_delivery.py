"""The same job guarantees, embedded (rows claimed from the table) and with RabbitMQ (rows
relayed by the outbox and consumed): a committed job runs, once; a rolled-back one never;
handler writes commit with the job; due times hold; shutdown lets jobs in flight finish."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from playerplatform.jobs import enqueue
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.runtime import Runtime
from tests.jobs.support import all_done, fresh_queue, job_rows, running_jobs, statuses, wait_for


async def test_committed_jobs_run_once_and_rolled_back_ones_never(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("commit")
    seen: list[int] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        seen.append(job.payload["n"])

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]):
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {"n": 1})
            await enqueue(uow, queue, {"n": 2})
        uow = runtime.db.unit_of_work()
        try:
            await enqueue(uow, queue, {"n": 3})
            await uow.rollback()
        finally:
            await uow.close()
        await wait_for(all_done(runtime.db, queue, 2))
        await asyncio.sleep(0.5)  # room for a wrong extra delivery to show up
    assert sorted(seen) == [1, 2]
    assert [job.attempts for job in await job_rows(runtime.db, queue)] == [1, 1]


async def test_duplicate_key_is_a_no_op_and_keeps_the_transaction_usable(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("dedupe")
    seen: list[str] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        seen.append(job.payload["order"])

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]):
        async with runtime.db.unit_of_work() as uow:
            first = await enqueue(uow, queue, {"order": "first"}, key="order-1")
            again = await enqueue(uow, queue, {"order": "again"}, key="order-1")
            # The transaction is still usable after the conflict (PostgreSQL would abort it
            # after a failed INSERT).
            other = await enqueue(uow, queue, {"order": "other"}, key="order-2")
        async with runtime.db.unit_of_work() as uow:
            later = await enqueue(uow, queue, {"order": "later"}, key="order-1")
        await wait_for(all_done(runtime.db, queue, 2))
    assert first and other and first.startswith("job_")
    assert again is None and later is None
    assert sorted(seen) == ["first", "other"]


async def test_handler_writes_commit_with_the_job_and_roll_back_with_a_failure(
    runtime: Runtime,
    make_settings: Callable[..., Any],
    mode: str,
    broker_url: str,
    effects_table: str,
) -> None:
    queue = fresh_queue("effects")
    registry = JobRegistry()

    @registry.handler(queue)
    async def apply(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        await uow.session.execute(
            sa.text(f"INSERT INTO {effects_table} (job_id, applied) VALUES (:id, 1)"),
            {"id": f"{job.public_id}:{job.attempt}"},
        )
        if job.payload.get("fail"):
            raise RuntimeError("refused after writing")

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]):
        async with runtime.db.unit_of_work() as uow:
            good = await enqueue(uow, queue, {})
            bad = await enqueue(uow, queue, {"fail": True}, max_attempts=1)

        async def finished() -> bool:
            return sorted(await statuses(runtime.db, queue)) == ["dead", "done"]

        await wait_for(finished)
    async with runtime.db.unit_of_work(write=False) as uow:
        ids = (
            await uow.session.execute(
                sa.text(f"SELECT job_id FROM {effects_table} WHERE job_id LIKE :q"),
                {"q": "job_%"},
            )
        ).scalars()
        written = set(ids)
    assert f"{good}:1" in written
    assert not any(row.startswith(f"{bad}:") for row in written)


async def test_a_job_waits_for_its_run_at(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("later")
    started: list[dt.datetime] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        started.append(utcnow())

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]):
        due = utcnow() + dt.timedelta(seconds=1.5)
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {}, run_at=due)
        await wait_for(all_done(runtime.db, queue, 1))
    assert len(started) == 1
    assert started[0] >= due - dt.timedelta(milliseconds=250)
    assert started[0] < due + dt.timedelta(seconds=3)


async def test_shutdown_lets_the_job_in_flight_finish_and_claims_nothing_new(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("drain")
    begun = asyncio.Event()
    registry = JobRegistry()

    @registry.handler(queue)
    async def slow(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        begun.set()
        await asyncio.sleep(0.8)

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]) as jobs:
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {"n": 1})
        await asyncio.wait_for(begun.wait(), 10)
        stop = asyncio.create_task(jobs.close())
        await asyncio.sleep(0.1)
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {"n": 2})
        began_stop = time.monotonic()
        await stop
        assert time.monotonic() - began_stop > 0.3  # it waited for the job in flight
    assert await statuses(runtime.db, queue) == ["done", "pending"]


@pytest.mark.parametrize("mode", ["embedded"], indirect=False)
async def test_handlers_sharing_a_queue_are_chosen_by_kind(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("kinds")
    seen: list[str] = []
    registry = JobRegistry()

    @registry.handler(queue, kind="email")
    async def email(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        seen.append("email")

    @registry.handler(queue)
    async def anything(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        seen.append(f"other:{job.kind}")

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]):
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {"kind": "email"})
            await enqueue(uow, queue, {"kind": "push"})
        await wait_for(all_done(runtime.db, queue, 2))
    assert sorted(seen) == ["email", "other:push"]
