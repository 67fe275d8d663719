"""RabbitMQ specifics: delay buckets, messages that arrive early or for a finished job."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from playerplatform.jobs import enqueue
from playerplatform.jobs.broker import delay_bucket_ms
from playerplatform.jobs.models import Job
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.runtime import Runtime
from tests.jobs.support import all_done, fresh_queue, job_rows, running_jobs, wait_for


def test_delay_buckets_round_up_to_two_significant_digits() -> None:
    assert [delay_bucket_ms(s) for s in (0.001, 0.2, 0.234, 1.5, 12.345)] == [
        10,
        200,
        240,
        1500,
        13000,
    ]
    for seconds in (0.05, 0.77, 3.3, 47.1, 1234.5, 86400.0):
        bucket = delay_bucket_ms(seconds)
        assert seconds * 1000 <= bucket <= seconds * 1000 * 1.1 + 10


@pytest.mark.parametrize("mode", ["rabbitmq"])
async def test_a_message_arriving_before_its_job_is_due_waits_for_its_time(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("early")
    started: list[dt.datetime] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        started.append(utcnow())

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]) as jobs:
        due = utcnow() + dt.timedelta(seconds=1.5)
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {}, run_at=due)
        [job] = await job_rows(runtime.db, queue)
        assert jobs.broker is not None
        await jobs.broker.publish(job.id, queue, utcnow())  # straight to the work queue
        await wait_for(all_done(runtime.db, queue, 1))
        await asyncio.sleep(0.5)
    assert len(started) == 1
    assert started[0] >= due - dt.timedelta(milliseconds=250)


@pytest.mark.parametrize("mode", ["rabbitmq"])
async def test_a_message_for_a_finished_job_is_acked_without_running_it(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("again")
    runs: list[str] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        runs.append(job.public_id)

    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]) as jobs:
        async with runtime.db.unit_of_work() as uow:
            await enqueue(uow, queue, {})
        await wait_for(all_done(runtime.db, queue, 1))
        [job] = await job_rows(runtime.db, queue)
        assert jobs.broker is not None
        for _ in range(3):
            await jobs.broker.publish(job.id, queue, utcnow())
        broker = jobs.broker
        channel = await broker.publisher()

        async def drained() -> bool:
            declared = await channel.declare_queue(broker.work_queue(queue), passive=True)
            return declared.declaration_result.message_count == 0

        await wait_for(drained)
        await asyncio.sleep(0.3)
    assert runs == [job.public_id]
    async with runtime.db.unit_of_work(write=False) as uow:
        attempts = (
            await uow.session.execute(sa.select(Job.attempts).where(Job.id == job.id))
        ).scalar_one()
    assert attempts == 1
