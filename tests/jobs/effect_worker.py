"""A worker process for crash tests: `python -m tests.jobs.effect_worker QUEUE STARTS_FILE`,
configured by PP_* variables like `playerplatform worker`. Its one handler applies an effect
(an upsert that would count a second application), records that it started, and on the
job's first start stalls until the test kills the process."""

from __future__ import annotations

import asyncio
import os
import sys

import sqlalchemy as sa

from playerplatform.jobs.cli import run_until_signalled
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.jobs.system import JobSystem
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime

APPLY = sa.text(
    "INSERT INTO test_job_effects (job_id, applied) VALUES (:id, 1) "
    "ON CONFLICT (job_id) DO UPDATE SET applied = test_job_effects.applied + 1"
)


async def main(queue: str, starts_file: str) -> None:
    registry = JobRegistry()

    @registry.handler(queue)
    async def apply_effect(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
        await uow.session.execute(APPLY, {"id": job.public_id})
        with open(starts_file, "a") as starts:
            starts.write(f"{job.public_id}\n")
            starts.flush()
            os.fsync(starts.fileno())
        with open(starts_file) as starts:
            first = sum(1 for line in starts if line.strip() == job.public_id) == 1
        if first:
            await asyncio.sleep(120)  # killed here, the effect written but not committed

    settings = Settings()
    runtime = Runtime.build(settings)
    jobs = JobSystem(settings, runtime.db, job_registry=registry, relay_queues=[queue])

    async def start() -> None:
        await jobs.run_worker(runtime, queues=[queue], concurrency=1, prefetch=1)

    async def stop() -> None:
        await jobs.close()
        await runtime.close()

    await run_until_signalled(start, stop)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
