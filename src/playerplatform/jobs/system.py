"""The job system of one process, built from settings: in the broker shape a relay (and, in
a worker process, a consumer); without a broker an embedded worker claiming from the table;
the scheduler and the metrics housekeeping in both."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.jobs import metrics, service
from playerplatform.jobs.broker import Broker, Relay
from playerplatform.jobs.consumer import Consumer
from playerplatform.jobs.embedded import EmbeddedWorker
from playerplatform.jobs.registry import QUEUES, JobRegistry
from playerplatform.jobs.retry import RetryPolicy
from playerplatform.jobs.runner import JobRunner
from playerplatform.jobs.scheduler import Scheduler, leader_lock_for
from playerplatform.kit.db import Database, UnitOfWork
from playerplatform.kit.settings import Settings

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.jobs")
METRICS_REFRESH_SECONDS = 15.0


class JobSystem:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        job_registry: JobRegistry,
        relay_queues: Iterable[str] | None = None,
    ) -> None:
        """`job_registry` holds the handlers and schedules the composition root declared.
        `relay_queues` default to the platform's queues; tests pass their own so their
        queues stay apart from the platform's."""
        self.settings = settings
        self.db = db
        self.registry = job_registry
        self._relay_queues = set(relay_queues) if relay_queues is not None else None
        self.broker: Broker | None = None
        if settings.broker_url:
            name = f"playerplatform {socket.gethostname()}:{os.getpid()}"
            self.broker = Broker(settings.broker_url, prefix=settings.broker_prefix, name=name)
        self.relay: Relay | None = None
        self.consumer: Consumer | None = None
        self.worker: EmbeddedWorker | None = None
        self.scheduler: Scheduler | None = None
        self._housekeeping: asyncio.Task[None] | None = None

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.settings.job_retry_base_seconds, self.settings.job_retry_max_seconds
        )

    async def enqueue(
        self, uow: UnitOfWork, queue: str, payload: dict[str, Any], *, key: str | None = None
    ) -> str | None:
        """`jobs.service.enqueue`, for the domains the jobs package itself depends on (auth):
        they reach it through the runtime instead of importing it."""
        return await service.enqueue(uow, queue, payload, key=key)

    def _queues(self) -> set[str]:
        if self._relay_queues is not None:
            return self._relay_queues
        return set(QUEUES) | set(self.registry.queues)

    async def serve(self, runtime: Runtime) -> None:
        """Background work of an API process: the relay (broker shape) or the embedded
        worker (when enabled), plus the scheduler."""
        await self._start(runtime, worker=False, queues=None)

    async def run_worker(
        self,
        runtime: Runtime,
        *,
        queues: Iterable[str] | None = None,
        concurrency: int | None = None,
        prefetch: int | None = None,
    ) -> None:
        """Start a worker process's job system: consume `queues` (default: every queue with
        a handler) from the broker, or claim them from the table when there is none."""
        await self._start(
            runtime,
            worker=True,
            queues=set(queues) if queues else None,
            concurrency=concurrency,
            prefetch=prefetch,
        )

    async def _start(
        self,
        runtime: Runtime,
        *,
        worker: bool,
        queues: set[str] | None,
        concurrency: int | None = None,
        prefetch: int | None = None,
    ) -> None:
        settings = self.settings
        runner = JobRunner(self.db, self.registry, runtime, self.policy)
        queues = queues if queues is not None else set(self.registry.queues)
        unknown = queues - self.registry.queues
        if unknown:
            raise ValueError(f"no handler for queues: {', '.join(sorted(unknown))}")
        concurrency = concurrency or settings.job_concurrency
        grace = settings.job_shutdown_grace_seconds
        if self.broker is not None:
            if worker:
                await self.broker.connect()  # a worker without its broker is of no use
            else:
                try:
                    await self.broker.connect()
                except Exception as exc:
                    # Enqueueing only needs the database: the API serves, /readyz reports the
                    # broker down, and the relay connects once the broker answers.
                    log.warning("broker_unreachable", error=f"{type(exc).__name__}: {exc}")
            self.relay = Relay(
                self.db,
                self.broker,
                sorted(self._queues()),
                sweep_seconds=settings.job_relay_sweep_seconds,
                stale_seconds=settings.job_redeliver_after_seconds,
            )
            await self.relay.start()
            if worker:
                self.consumer = Consumer(
                    self.broker,
                    runner,
                    self.relay,
                    sorted(queues),
                    prefetch=prefetch or settings.job_prefetch,
                    concurrency=concurrency,
                    shutdown_grace_seconds=grace,
                )
                await self.consumer.start()
        elif worker or settings.embedded_worker:
            self.worker = EmbeddedWorker(
                self.db,
                runner,
                sorted(queues),
                concurrency=concurrency,
                poll_seconds=settings.job_poll_seconds,
                lease_seconds=settings.job_lease_seconds,
                shutdown_grace_seconds=grace,
            )
            await self.worker.start()
        if settings.scheduler_enabled and self.registry.schedules:
            self.scheduler = Scheduler(self.db, self.registry, leader_lock_for(self.db))
            await self.scheduler.start()
        self._housekeeping = asyncio.create_task(self._refresh_metrics(), name="jobs-metrics")

    async def _refresh_metrics(self) -> None:
        while True:
            try:
                await metrics.refresh_depth(self.db, frozenset(self._queues()))
            except Exception as exc:
                log.warning("job_metrics_refresh_failed", error=str(exc))
            await asyncio.sleep(METRICS_REFRESH_SECONDS)

    async def ping(self) -> None:
        """Readiness: the broker connection is up (nothing to check without a broker)."""
        if self.broker is not None:
            await self.broker.ping()

    async def close(self) -> None:
        """Graceful stop: nothing new is taken, jobs in flight finish, then connections
        close."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        if self.relay is not None:
            await self.relay.stop()
            self.relay = None
        if self.broker is not None:
            await self.broker.close()
