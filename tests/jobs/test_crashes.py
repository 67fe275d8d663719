"""Crashes and broken connections: a worker killed with SIGKILL in the middle of a job (the
job is delivered again, its effect applied once), and a RabbitMQ connection dropped while
jobs are being enqueued (every committed job is delivered, a rolled-back one never)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from playerplatform.jobs import enqueue
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.jobs.system import JobSystem
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.jobs.support import (
    all_done,
    create_vhost,
    delete_vhost,
    die_with_parent,
    fresh_queue,
    job_rows,
    job_settings,
    rabbitmqctl,
    running_jobs,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]


def spawn_worker(
    settings: Settings, mode: str, broker_url: str, queue: str, starts: Path, tmp_path: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PP_DATABASE_URL": settings.database_url,
        "PP_STORAGE_URL": f"file://{tmp_path / 'objects'}",
        "PP_JOB_LEASE_SECONDS": "2",
        "PP_JOB_POLL_SECONDS": "0.2",
        "PP_JOB_RELAY_SWEEP_SECONDS": "0.3",
        "PP_LOG_LEVEL": "warning",
    }
    env.pop("PP_BROKER_URL", None)
    if mode == "rabbitmq":
        env["PP_BROKER_URL"] = broker_url
    return subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.effect_worker", queue, str(starts)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )


def start_count(starts: Path, job_id: str) -> int:
    if not starts.exists():
        return 0
    return sum(1 for line in starts.read_text().splitlines() if line == job_id)


async def test_worker_killed_mid_job_redelivers_and_applies_the_effect_once(
    runtime: Runtime,
    settings: Settings,
    mode: str,
    broker_url: str,
    effects_table: str,
    tmp_path: Path,
) -> None:
    queue = fresh_queue("crash")
    starts = tmp_path / "starts.log"
    async with runtime.db.unit_of_work() as uow:
        job_id = await enqueue(uow, queue, {"effect": "grant"})
    assert job_id
    first = spawn_worker(settings, mode, broker_url, queue, starts, tmp_path)
    second = None
    try:

        async def started_once() -> bool:
            return start_count(starts, job_id) == 1

        await wait_for(started_once, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert [j.status for j in await job_rows(runtime.db, queue)] in (["pending"], ["running"])

        second = spawn_worker(settings, mode, broker_url, queue, starts, tmp_path)
        await wait_for(all_done(runtime.db, queue, 1), timeout=30)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(15)
    assert second is not None and second.returncode == 0, second.stderr
    assert start_count(starts, job_id) == 2  # delivered again
    async with runtime.db.unit_of_work(write=False) as uow:
        applied = (
            await uow.session.execute(
                sa.text(f"SELECT applied FROM {effects_table} WHERE job_id = :id"), {"id": job_id}
            )
        ).scalar_one()
    assert applied == 1  # applied once
    [job] = await job_rows(runtime.db, queue)
    assert job.attempts == 2  # the lost run counts as an attempt


@pytest.mark.parametrize("mode", ["rabbitmq"])
async def test_relay_reconnects_after_the_broker_drops_its_connection(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("drop")
    delivered: list[int] = []
    registry = JobRegistry()

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        delivered.append(job.payload["n"])

    vhost = broker_url.rsplit("/", 1)[1]
    committed: list[int] = []
    rolled_back: list[int] = []
    reconnects: list[object] = []
    async with running_jobs(runtime, make_settings, mode, broker_url, registry, [queue]) as jobs:
        assert jobs.broker is not None and jobs.broker.connection is not None
        jobs.broker.connection.reconnect_callbacks.add(lambda *_: reconnects.append(1))

        async def produce() -> None:
            for n in range(120):
                uow = runtime.db.unit_of_work()
                try:
                    await enqueue(uow, queue, {"n": n})
                    if n % 7 == 3:
                        await uow.rollback()
                        rolled_back.append(n)
                    else:
                        await uow.commit()
                        committed.append(n)
                finally:
                    await uow.close()
                await asyncio.sleep(0.02)

        producer = asyncio.create_task(produce())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(
            rabbitmqctl, "close_all_connections", "-p", vhost, "test: connection dropped"
        )
        await producer
        await wait_for(all_done(runtime.db, queue, len(committed)), timeout=60)
        await asyncio.sleep(0.5)
    assert reconnects  # the connection really was dropped, and came back
    assert sorted(set(delivered)) == sorted(committed)
    assert not set(delivered) & set(rolled_back)
    assert rolled_back


@pytest.mark.parametrize("mode", ["rabbitmq"])
async def test_jobs_enqueued_while_the_broker_is_unreachable_are_relayed_once_it_answers(
    runtime: Runtime, make_settings: Callable[..., Any], mode: str, broker_url: str
) -> None:
    queue = fresh_queue("outage")
    registry = JobRegistry()
    delivered: list[int] = []

    @registry.handler(queue)
    async def record(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
        delivered.append(job.payload["n"])

    # A vhost that does not exist yet: the broker refuses the connection until it does.
    vhost = f"{broker_url.rsplit('/', 1)[1]}_late"
    late_url = f"{broker_url.rsplit('/', 1)[0]}/{vhost}"
    settings = make_settings(**job_settings(mode, late_url))
    api = JobSystem(settings, runtime.db, job_registry=registry, relay_queues=[queue])
    await api.serve(runtime)  # starts although the broker is unreachable
    try:
        with pytest.raises(ConnectionError):
            await api.ping()  # /readyz reports the broker down
        async with runtime.db.unit_of_work() as uow:
            for n in range(3):
                await enqueue(uow, queue, {"n": n})
        await asyncio.sleep(0.5)
        assert all(job.published_at is None for job in await job_rows(runtime.db, queue))

        await asyncio.to_thread(create_vhost, vhost)
        try:

            async def published() -> bool:
                rows = await job_rows(runtime.db, queue)
                return all(job.published_at is not None for job in rows)

            await wait_for(published, timeout=30)
            await api.ping()
            async with running_jobs(runtime, make_settings, mode, late_url, registry, [queue]):
                await wait_for(all_done(runtime.db, queue, 3))
        finally:
            await api.close()
            await asyncio.to_thread(delete_vhost, vhost)
    finally:
        await api.close()
    assert sorted(delivered) == [0, 1, 2]
