"""Enqueueing jobs (the transactional outbox) and the admin operations on them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from playerplatform.audit import service as audit
from playerplatform.jobs import repository
from playerplatform.jobs.models import DEAD, STATUSES, Job
from playerplatform.jobs.registry import QUEUE_NAME
from playerplatform.jobs.schemas import JobPageKey
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AppError, NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import decode_cursor

DEFAULT_MAX_ATTEMPTS = 10
_WAKE_FLAG = "jobs.wake_registered"

# Relays and embedded workers in this process, woken when a unit of work that enqueued
# commits. Only a signal: every waker also sweeps the table on its own timer.
_wakers: set[Callable[[], None]] = set()


def add_waker(wake: Callable[[], None]) -> None:
    _wakers.add(wake)


def remove_waker(wake: Callable[[], None]) -> None:
    _wakers.discard(wake)


def wake_all() -> None:
    for wake in list(_wakers):
        wake()


async def enqueue(
    uow: UnitOfWork,
    queue: str,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    run_at: dt.datetime | None = None,
    max_attempts: int | None = None,
) -> str | None:
    """Write a job in the caller's transaction. It exists, and will run, exactly when that
    transaction commits. A `key` already used on this queue makes this a no-op (returns
    None); otherwise returns the job's public id."""
    if not QUEUE_NAME.match(queue):
        raise ValueError(f"invalid queue name {queue!r}")
    if key is not None and not 1 <= len(key) <= 255:
        raise ValueError("job key must be 1-255 characters")
    now = utcnow()
    public_id = await repository.insert_job(
        uow,
        queue=queue,
        payload=payload,
        key=key,
        run_at=run_at or now,
        max_attempts=max_attempts or DEFAULT_MAX_ATTEMPTS,
        now=now,
    )
    if public_id is not None and not uow.info.get(_WAKE_FLAG):
        uow.info[_WAKE_FLAG] = True

        async def wake() -> None:
            uow.info.pop(_WAKE_FLAG, None)
            wake_all()

        uow.after_commit(wake)
    return public_id


class JobNotRetryable(AppError):
    status, code, title = 409, "job_not_retryable", "Only dead jobs can be retried"


async def list_jobs(
    uow: UnitOfWork,
    *,
    queue: str | None = None,
    status: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> list[Job]:
    """Up to `limit + 1` jobs after `cursor`, newest first (the extra row marks a next page)."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    key = decode_cursor(cursor, JobPageKey)
    after = repository.JobPageCursor(key.t, key.i) if key else None
    return await repository.list_jobs(uow, queue=queue, status=status, limit=limit + 1, after=after)


async def retry_dead_job(
    uow: UnitOfWork, public_id: str, *, actor: Any, client: ClientInfo | None = None
) -> Job:
    """Give a dead job a fresh set of attempts (admin action, audited)."""
    job = await repository.get_by_public_id(uow, public_id)
    if job is None:
        raise NotFound("No such job.")
    if job.status != DEAD or not await repository.reset_for_retry(uow, job.id, now=utcnow()):
        raise JobNotRetryable(f"The job is {job.status}.")
    await audit.record(
        uow,
        action="job.retry",
        resource_type="job",
        resource_id=public_id,
        actor=actor,
        old={"status": DEAD, "attempts": job.attempts, "last_error": job.last_error},
        new={"status": "pending", "attempts": 0},
        client=client,
    )
    await uow.session.refresh(job)

    async def wake() -> None:
        wake_all()

    uow.after_commit(wake)
    return job


async def keyed_job(uow: UnitOfWork, queue: str, key: str) -> Job | None:
    """The job enqueued on `queue` under `key`, whatever its status."""
    return await repository.get_keyed(uow, queue, key)


async def failing_jobs(uow: UnitOfWork, queue: str, *, limit: int = 200) -> list[Job]:
    """Jobs of `queue` whose last attempt failed and that have not succeeded since (waiting
    for a retry, or dead), newest first: what holds work back."""
    return await repository.failing(uow, queue, limit=limit)


async def revive(uow: UnitOfWork, job: Job, *, reason: str) -> bool:
    """Give a dead job a fresh set of attempts (an operator command, audited without an
    actor); False when it is not dead."""
    if job.status != DEAD or not await repository.reset_for_retry(uow, job.id, now=utcnow()):
        return False
    await audit.record(
        uow,
        action="job.retry",
        resource_type="job",
        resource_id=job.public_id,
        old={"status": DEAD, "attempts": job.attempts, "last_error": job.last_error},
        new={"status": "pending", "attempts": 0, "reason": reason},
    )

    async def wake() -> None:
        wake_all()

    uow.after_commit(wake)
    return True
