"""Runs one job: the handler's writes and the job's new status commit in one transaction;
a handler that raises is rolled back and the failure is recorded in a transaction of its
own (next attempt after a backoff, or `dead` after the last one).

Two entry points, one rule set:
- `run_claimed`: the embedded worker already claimed the row (status `running`, attempt
  counted); finishing is guarded by that claim.
- `run_delivered`: a broker message names the job; the row is locked for the run on
  PostgreSQL (or claimed as `running` on SQLite) so a duplicate delivery finds it taken
  or done.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from playerplatform.jobs import metrics, repository
from playerplatform.jobs.models import DEAD, PENDING, RUNNING
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.jobs.retry import RetryPolicy
from playerplatform.kit.db import Database, utcnow

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.jobs")
LOST_RUN_ERROR = "the worker running this job stopped before finishing it"
EARLY_SLACK = dt.timedelta(milliseconds=200)  # clocks and TTLs are not exact


class Outcome(enum.StrEnum):
    DONE = "done"
    RETRY = "retry"  # failed; the row is pending again with a later run_at
    DEAD = "dead"
    SKIPPED = "skipped"  # already finished, or another runner finished it
    EARLY = "early"  # delivered before its run_at


class _ClaimLost(Exception):
    """Another runner finished the job first: roll this run's writes back."""


def _run_view(row: sa.Row[Any], attempt: int) -> JobRun:
    return JobRun(
        id=row.id,
        public_id=row.public_id,
        queue=row.queue,
        key=row.key,
        payload=dict(row.payload),
        attempt=attempt,
        max_attempts=row.max_attempts,
    )


class JobRunner:
    def __init__(
        self, db: Database, registry: JobRegistry, runtime: Runtime, policy: RetryPolicy
    ) -> None:
        self.db = db
        self.registry = registry
        self.runtime = runtime
        self.policy = policy

    async def run_claimed(self, row: sa.Row[Any]) -> Outcome:
        """Run a job the embedded worker claimed."""
        job = _run_view(row, row.attempts)
        try:
            handler = self.registry.lookup(job)
            async with self.db.unit_of_work() as uow:
                await handler(uow, job, self.runtime)
                if not await repository.finish(
                    uow,
                    job.id,
                    expect_status=RUNNING,
                    expect_attempts=row.attempts,
                    attempts=row.attempts,
                    now=utcnow(),
                ):
                    raise _ClaimLost
        except _ClaimLost:
            return Outcome.SKIPPED
        except Exception as exc:
            return await self._failed(job, exc, expect_status=RUNNING, before=row.attempts)
        return self._done(job, row)

    async def run_delivered(
        self, job_id: uuid.UUID, *, redelivered: bool
    ) -> tuple[Outcome, dt.datetime | None]:
        """Run a job named by a broker message; returns the outcome and, for EARLY, when
        the job is due."""
        if redelivered:
            async with self.db.unit_of_work() as uow:
                state = await repository.count_lost_run(
                    uow, job_id, error=LOST_RUN_ERROR, now=utcnow()
                )
            if state is None:
                return Outcome.SKIPPED, None
            if state == DEAD:
                return Outcome.DEAD, None
        lock = self.db.dialect == "postgresql"
        expect = PENDING
        if not lock:
            # SQLite cannot hold a row lock across the handler without holding the whole
            # database: claim the row in a short transaction instead.
            expect = RUNNING
            now = utcnow()
            async with self.db.unit_of_work() as uow:
                row = await repository.claim_delivered(
                    uow, job_id, due_by=now + EARLY_SLACK, now=now
                )
            if row is None:
                async with self.db.unit_of_work(write=False) as uow:
                    found = await repository.load_for_run(uow, job_id, lock=False)
                return self._not_runnable(found) or (Outcome.SKIPPED, None)
        job: JobRun | None = None
        try:
            async with self.db.unit_of_work() as uow:
                if lock:
                    row = await repository.load_for_run(uow, job_id, lock=True)
                    early = self._not_runnable(row)
                    if early is not None:
                        return early
                assert row is not None
                job = _run_view(row, row.attempts + 1)
                handler = self.registry.lookup(job)
                await handler(uow, job, self.runtime)
                if not await repository.finish(
                    uow,
                    job.id,
                    expect_status=expect,
                    expect_attempts=row.attempts,
                    attempts=row.attempts + 1,
                    now=utcnow(),
                ):
                    raise _ClaimLost
        except _ClaimLost:
            return Outcome.SKIPPED, None
        except Exception as exc:
            if job is None:  # the database failed before the handler ran
                raise
            outcome = await self._failed(job, exc, expect_status=expect, before=job.attempt - 1)
            return outcome, None
        return self._done(job, row), None

    @staticmethod
    def _not_runnable(row: sa.Row[Any] | None) -> tuple[Outcome, dt.datetime | None] | None:
        if row is None or row.status != PENDING:
            return Outcome.SKIPPED, None
        if row.run_at > utcnow() + EARLY_SLACK:
            return Outcome.EARLY, row.run_at
        return None

    def _done(self, job: JobRun, row: sa.Row[Any]) -> Outcome:
        metrics.PROCESSED.labels(job.queue).inc()
        metrics.PICKUP.labels(job.queue).observe(max(0.0, (utcnow() - row.run_at).total_seconds()))
        return Outcome.DONE

    async def _failed(
        self, job: JobRun, exc: Exception, *, expect_status: str, before: int
    ) -> Outcome:
        attempts = job.attempt
        error = f"{type(exc).__name__}: {exc}"
        now = utcnow()
        retry_at = (
            None
            if attempts >= job.max_attempts
            else now + dt.timedelta(seconds=self.policy.delay(attempts))
        )
        async with self.db.unit_of_work() as uow:
            recorded = await repository.record_failure(
                uow,
                job.id,
                expect_status=expect_status,
                expect_attempts=before,
                attempts=attempts,
                error=error,
                retry_at=retry_at,
                now=now,
            )
        metrics.FAILED.labels(job.queue).inc()
        log.warning(
            "job_failed",
            job_id=job.public_id,
            queue=job.queue,
            attempt=attempts,
            max_attempts=job.max_attempts,
            error=error,
            retry_at=retry_at.isoformat() if retry_at else None,
        )
        if not recorded:
            return Outcome.SKIPPED
        if retry_at is None:
            metrics.DEAD.labels(job.queue).inc()
            return Outcome.DEAD
        return Outcome.RETRY
