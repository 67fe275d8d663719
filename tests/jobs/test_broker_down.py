"""RabbitMQ gone, through a TCP proxy the test cuts or silences: enqueueing keeps working (the
outbox is a table, written in the caller's transaction), the jobs wait there unpublished, and
once the broker answers again the relay publishes them and each runs once, with no restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from playerplatform.jobs import enqueue
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.kit.db import UnitOfWork
from playerplatform.runtime import Runtime
from tests.jobs.support import all_done, fresh_queue, job_rows, running_jobs, wait_for
from tests.support.proxy import TcpProxy


@pytest.mark.parametrize("failure", ["cut", "silent"])
async def test_jobs_wait_in_the_outbox_while_rabbitmq_is_gone(
    runtime: Runtime, make_settings: Callable[..., Any], broker_url: str, failure: str
) -> None:
    proxy = await TcpProxy.in_front_of(broker_url)
    queue = fresh_queue("outage")
    seen: list[int] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        seen.append(job.payload["n"])

    try:
        async with running_jobs(
            runtime, make_settings, "rabbitmq", proxy.address(broker_url), registry, [queue]
        ):
            async with runtime.db.unit_of_work() as uow:
                await enqueue(uow, queue, {"n": 0})
            await wait_for(all_done(runtime.db, queue, 1), timeout=30)

            proxy.cut() if failure == "cut" else proxy.silence()
            for n in range(1, 6):
                async with runtime.db.unit_of_work() as uow:  # commits: nothing waits on it
                    await enqueue(uow, queue, {"n": n})
            await asyncio.sleep(1.5)  # several relay sweeps (0.3 s) against the dead broker
            waiting = [job for job in await job_rows(runtime.db, queue) if job.payload["n"]]
            assert [job.status for job in waiting] == ["pending"] * 5
            assert all(job.published_at is None for job in waiting)
            assert seen == [0]

            proxy.restore()
            # The consumers reconnect every 5 s; a machine running three suites is slow.
            await wait_for(all_done(runtime.db, queue, 6), timeout=60)
            await asyncio.sleep(0.5)  # room for a wrong second delivery to show up
    finally:
        await proxy.close()
    assert sorted(seen) == [0, 1, 2, 3, 4, 5]
    assert [job.attempts for job in await job_rows(runtime.db, queue)] == [1] * 6
