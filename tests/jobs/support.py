"""Job test helpers: a RabbitMQ vhost of this run's own, job systems over the shared
database with test queues and a registry of their own, and polling."""

from __future__ import annotations

import asyncio
import ctypes
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa

from playerplatform.jobs.models import Job
from playerplatform.jobs.registry import JobRegistry
from playerplatform.jobs.system import JobSystem
from playerplatform.kit.db import Database
from playerplatform.runtime import Runtime

AMQP_SERVER = "guest:guest@127.0.0.1:5672"
PR_SET_PDEATHSIG = 1
MODES = ("embedded", "rabbitmq")


def die_with_parent() -> None:
    """In a child process: stop when the test run dies, even when it could not clean up."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def create_vhost(name: str) -> str:
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://{AMQP_SERVER}/{name}"


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


def fresh_queue(name: str) -> str:
    return f"t_{name}_{secrets.token_hex(3)}"


def job_settings(mode: str, broker_url: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "broker_url": broker_url if mode == "rabbitmq" else None,
        "job_retry_base_seconds": 0.2,
        "job_poll_seconds": 0.1,
        "job_relay_sweep_seconds": 0.3,
        "job_concurrency": 4,
    }
    values.update(overrides)
    return values


@asynccontextmanager
async def running_jobs(
    runtime: Runtime,
    make_settings: Callable[..., Any],
    mode: str,
    broker_url: str,
    registry: JobRegistry,
    queues: Iterable[str],
    **overrides: Any,
) -> AsyncIterator[JobSystem]:
    """A worker-process job system (consumer + relay, or embedded worker) for `queues`."""
    queues = list(queues)
    settings = make_settings(**job_settings(mode, broker_url, **overrides))
    system = JobSystem(settings, runtime.db, job_registry=registry, relay_queues=queues)
    await system.run_worker(runtime, queues=queues)
    try:
        yield system
    finally:
        await system.close()


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


async def job_rows(db: Database, queue: str) -> list[Job]:
    async with db.unit_of_work(write=False) as uow:
        result = await uow.session.execute(
            sa.select(Job).where(Job.queue == queue).order_by(Job.created_at)
        )
        return list(result.scalars())


async def statuses(db: Database, queue: str) -> list[str]:
    return [job.status for job in await job_rows(db, queue)]


def all_done(db: Database, queue: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        found = await statuses(db, queue)
        return len(found) == count and all(s == "done" for s in found)

    return check
