"""The embedded worker: claims due rows straight from the job table (no broker). Runs in
the server process in the embedded shape, or as `playerplatform worker` over PostgreSQL
without a broker. Woken at once when a unit of work that enqueued commits in this process,
and polls the table for everything else (other processes, retries coming due)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Sequence

import structlog

from playerplatform.jobs import repository, service
from playerplatform.jobs.runner import JobRunner
from playerplatform.kit.db import Database, utcnow

log = structlog.get_logger("playerplatform.jobs")


class EmbeddedWorker:
    def __init__(
        self,
        db: Database,
        runner: JobRunner,
        queues: Sequence[str],
        *,
        concurrency: int,
        poll_seconds: float,
        lease_seconds: float,
        shutdown_grace_seconds: float,
    ) -> None:
        self.db = db
        self.runner = runner
        self.queues = sorted(queues)
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._loop_task is None and self.queues:
            service.add_waker(self.wake)
            self._loop_task = asyncio.create_task(self._loop(), name="jobs-embedded-worker")

    async def stop(self) -> None:
        """Claim nothing more; let the jobs in flight finish (within the grace period)."""
        self._stopping = True
        service.remove_waker(self.wake)
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        if self._running:
            _done, pending = await asyncio.wait(self._running, timeout=self.shutdown_grace_seconds)
            for task in pending:  # their claims return to the queue when the lease runs out
                task.cancel()

    async def _loop(self) -> None:
        released_at = 0.0
        failures = 0
        while not self._stopping:
            self._wake.clear()
            claimed = 0
            try:
                if time.monotonic() - released_at > min(self.lease_seconds / 4, 60):
                    await self._release_expired()
                    released_at = time.monotonic()
                free = self.concurrency - len(self._running)
                if free > 0:
                    claimed = await self._claim(free)
                failures = 0
            except Exception:
                failures += 1
                log.exception("job_claim_failed")
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if claimed and claimed == free:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def _release_expired(self) -> None:
        async with self.db.unit_of_work() as uow:
            before = utcnow() - dt.timedelta(seconds=self.lease_seconds)
            released = await repository.release_expired_claims(uow, before=before)
        if released:
            log.warning("job_claims_released", count=released)

    async def _claim(self, limit: int) -> int:
        async with self.db.unit_of_work() as uow:
            rows = await repository.claim_due(uow, queues=self.queues, limit=limit, now=utcnow())
        for row in rows:
            task = asyncio.create_task(self._run(row), name=f"job-{row.public_id}")
            self._running.add(task)
        return len(rows)

    async def _run(self, row: object) -> None:
        try:
            await self.runner.run_claimed(row)  # type: ignore[arg-type]
        except Exception:
            # The failure could not be recorded (database down): the lease brings it back.
            log.exception("job_run_failed")
        finally:
            self._running.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._wake.set()
