"""Job metrics: processed, failed and dead counts per queue, and the depth and age of what
is waiting, on `/metrics`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client import REGISTRY

from playerplatform.jobs import enqueue, metrics
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.runtime import Runtime
from tests.jobs.support import fresh_queue, running_jobs, statuses, wait_for
from tests.support.ops import METRICS_AUTH


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_counts_and_depth_per_queue(
    runtime: Runtime,
    make_settings: Callable[..., Any],
    broker_url: str,
    client: httpx.AsyncClient,
) -> None:
    queue = fresh_queue("metrics")
    registry = JobRegistry()

    @registry.handler(queue)
    async def maybe_fail(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        if job.payload["fail"]:
            raise ValueError("bad payload")

    async with runtime.db.unit_of_work() as uow:
        await enqueue(uow, queue, {"fail": False}, run_at=utcnow() - dt.timedelta(seconds=30))
        await enqueue(uow, queue, {"fail": False})
        await enqueue(uow, queue, {"fail": True}, max_attempts=2)
    await metrics.refresh_depth(runtime.db, frozenset({queue}))
    assert sample("jobs_queue_depth", queue=queue, status="pending") == 3
    assert sample("jobs_oldest_pending_age_seconds", queue=queue) >= 29

    async with running_jobs(runtime, make_settings, "embedded", broker_url, registry, [queue]):

        async def settled() -> bool:
            return sorted(await statuses(runtime.db, queue)) == ["dead", "done", "done"]

        await wait_for(settled)
    assert sample("jobs_processed_total", queue=queue) == 2
    assert sample("jobs_failed_total", queue=queue) == 2
    assert sample("jobs_dead_total", queue=queue) == 1
    await metrics.refresh_depth(runtime.db, frozenset({queue}))
    assert sample("jobs_queue_depth", queue=queue, status="pending") == 0
    assert sample("jobs_oldest_pending_age_seconds", queue=queue) == 0

    exposition = (await client.get("/metrics", headers=METRICS_AUTH)).text
    assert f'jobs_processed_total{{queue="{queue}"}} 2.0' in exposition
