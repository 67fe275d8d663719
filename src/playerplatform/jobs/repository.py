"""Every query on the job tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from playerplatform.jobs.models import (
    DEAD,
    DONE,
    PENDING,
    RUNNING,
    Job,
    ScheduledRun,
    new_public_id,
)
from playerplatform.kit.db import UnitOfWork, insert_unless_taken, new_uuid, upsert_row

jobs: sa.Table = Job.__table__  # type: ignore[assignment]
ERROR_LIMIT = 4000


async def insert_job(
    uow: UnitOfWork,
    *,
    queue: str,
    payload: dict[str, Any],
    key: str | None,
    run_at: dt.datetime,
    max_attempts: int,
    now: dt.datetime,
) -> str | None:
    """Insert a job; None when `key` already exists on `queue`. ON CONFLICT DO NOTHING keeps
    the caller's transaction usable on PostgreSQL (a failed INSERT would abort it); without
    a key there is nothing to conflict with."""
    values = {
        "id": new_uuid(),
        "public_id": new_public_id(),
        "queue": queue,
        "key": key,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at,
        "created_at": now,
    }
    if key is None:
        await uow.session.execute(sa.insert(jobs), values)
        return str(values["public_id"])
    result = await insert_unless_taken(uow, jobs, values, returning=jobs.c.public_id)
    return result.scalar_one_or_none()


async def claim_due(
    uow: UnitOfWork, *, queues: Sequence[str], limit: int, now: dt.datetime
) -> list[sa.Row[Any]]:
    """Take up to `limit` due pending jobs: status `running`, one more attempt. SKIP LOCKED
    lets claimers on PostgreSQL pass each other; SQLite has one writer at a time, and the
    status guard makes a claim happen once."""
    due = (
        sa.select(jobs.c.id)
        .where(jobs.c.status == PENDING, jobs.c.run_at <= now, jobs.c.queue.in_(queues))
        .order_by(jobs.c.run_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id.in_(due), jobs.c.status == PENDING)
        .values(status=RUNNING, attempts=jobs.c.attempts + 1, locked_at=now)
        .returning(*jobs.c)
    )
    return list((await uow.session.execute(stmt)).all())


async def release_expired_claims(uow: UnitOfWork, *, before: dt.datetime) -> int:
    """Claims older than the lease belong to a worker that died: make them due again."""
    result = await uow.session.execute(
        sa.update(jobs)
        .where(jobs.c.status == RUNNING, jobs.c.locked_at < before)
        .values(status=PENDING, locked_at=None, published_at=None)
    )
    return int(result.rowcount or 0)


async def load_for_run(uow: UnitOfWork, job_id: uuid.UUID, *, lock: bool) -> sa.Row[Any] | None:
    stmt = sa.select(jobs).where(jobs.c.id == job_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await uow.session.execute(stmt)).one_or_none()


async def claim_delivered(
    uow: UnitOfWork, job_id: uuid.UUID, *, due_by: dt.datetime, now: dt.datetime
) -> sa.Row[Any] | None:
    """Mark a delivered job `running` if it is pending and due (SQLite, where a row lock
    cannot be held across the handler): a duplicate delivery then finds it taken."""
    return (
        await uow.session.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == PENDING, jobs.c.run_at <= due_by)
            .values(status=RUNNING, locked_at=now)
            .returning(*jobs.c)
        )
    ).one_or_none()


async def count_lost_run(
    uow: UnitOfWork, job_id: uuid.UUID, *, error: str, now: dt.datetime
) -> str | None:
    """A delivery came back after its worker vanished: count that run as an attempt, and
    bury the job when it used the last one (a job that kills its worker must not loop).
    A delivery handed back unstarted at a shutdown is counted too: the broker does not say
    which it was, and an extra attempt is the safe side."""
    row = (
        await uow.session.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_((PENDING, RUNNING)))
            .values(attempts=jobs.c.attempts + 1, status=PENDING, locked_at=None)
            .returning(jobs.c.attempts, jobs.c.max_attempts)
        )
    ).one_or_none()
    if row is None:
        return None
    if row.attempts >= row.max_attempts:
        await uow.session.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(status=DEAD, last_error=error[:ERROR_LIMIT], finished_at=now)
        )
        return DEAD
    return PENDING


async def finish(
    uow: UnitOfWork,
    job_id: uuid.UUID,
    *,
    expect_status: str,
    expect_attempts: int,
    attempts: int,
    now: dt.datetime,
) -> bool:
    """Mark the job done, guarded by the state the runner saw; False when another runner
    got there first (the caller then rolls the handler's writes back)."""
    result = await uow.session.execute(
        sa.update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.status == expect_status,
            jobs.c.attempts == expect_attempts,
        )
        .values(status=DONE, attempts=attempts, finished_at=now, locked_at=None)
    )
    return bool(result.rowcount)


async def delete_done_before(uow: UnitOfWork, *, before: dt.datetime, limit: int) -> int:
    """Delete up to `limit` jobs that finished successfully before `before`; how many went.
    Dead jobs stay: an admin may still retry them."""
    oldest = (
        sa.select(jobs.c.id)
        .where(jobs.c.status == DONE, jobs.c.finished_at < before)
        .order_by(jobs.c.finished_at)
        .limit(limit)
    )
    result = await uow.session.execute(
        sa.delete(jobs).where(jobs.c.id.in_(oldest.scalar_subquery()))
    )
    return int(result.rowcount)


async def record_failure(
    uow: UnitOfWork,
    job_id: uuid.UUID,
    *,
    expect_status: str,
    expect_attempts: int,
    attempts: int,
    error: str,
    retry_at: dt.datetime | None,
    now: dt.datetime,
) -> bool:
    """Schedule the next attempt at `retry_at`, or bury the job (`dead`) when None."""
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": error[:ERROR_LIMIT],
        "locked_at": None,
    }
    if retry_at is None:
        values.update(status=DEAD, finished_at=now)
    else:
        values.update(status=PENDING, run_at=retry_at, published_at=None)
    result = await uow.session.execute(
        sa.update(jobs)
        .where(
            jobs.c.id == job_id,
            jobs.c.status == expect_status,
            jobs.c.attempts == expect_attempts,
        )
        .values(**values)
    )
    return bool(result.rowcount)


async def take_unpublished(
    uow: UnitOfWork,
    *,
    queues: Sequence[str],
    limit: int,
    stale_before: dt.datetime,
) -> list[sa.Row[Any]]:
    """Rows for the relay: never published, or published so long ago (and due so long ago)
    that the message must have been lost. Locked, so two relays never publish one row."""
    never = sa.and_(jobs.c.published_at.is_(None), jobs.c.status == PENDING)
    lost = sa.and_(
        jobs.c.status == PENDING,
        jobs.c.published_at < stale_before,
        jobs.c.run_at < stale_before,
    )
    stmt = (
        sa.select(jobs.c.id, jobs.c.queue, jobs.c.run_at)
        .where(sa.or_(never, lost), jobs.c.queue.in_(queues))
        .order_by(jobs.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await uow.session.execute(stmt)).all())


async def mark_published(uow: UnitOfWork, ids: Sequence[uuid.UUID], *, now: dt.datetime) -> None:
    if ids:
        await uow.session.execute(
            sa.update(jobs).where(jobs.c.id.in_(ids)).values(published_at=now)
        )


async def replace_payload(uow: UnitOfWork, job_id: uuid.UUID, payload: dict[str, Any]) -> None:
    await uow.session.execute(sa.update(jobs).where(jobs.c.id == job_id).values(payload=payload))


async def get_by_public_id(uow: UnitOfWork, public_id: str) -> Job | None:
    return (
        await uow.session.execute(sa.select(Job).where(Job.public_id == public_id))
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class JobPageCursor:
    created_at: dt.datetime
    public_id: str


async def list_jobs(
    uow: UnitOfWork,
    *,
    queue: str | None,
    status: str | None,
    limit: int,
    after: JobPageCursor | None,
) -> list[Job]:
    """Newest first."""
    stmt = sa.select(Job).order_by(Job.created_at.desc(), Job.public_id.desc()).limit(limit)
    if queue:
        stmt = stmt.where(Job.queue == queue)
    if status:
        stmt = stmt.where(Job.status == status)
    if after is not None:
        stmt = stmt.where(
            sa.or_(
                Job.created_at < after.created_at,
                sa.and_(Job.created_at == after.created_at, Job.public_id < after.public_id),
            )
        )
    return list((await uow.session.execute(stmt)).scalars())


async def reset_for_retry(uow: UnitOfWork, job_id: uuid.UUID, *, now: dt.datetime) -> bool:
    result = await uow.session.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == DEAD)
        .values(
            status=PENDING,
            attempts=0,
            run_at=now,
            published_at=None,
            locked_at=None,
            finished_at=None,
        )
    )
    return bool(result.rowcount)


async def queue_stats(uow: UnitOfWork) -> list[sa.Row[Any]]:
    """(queue, status, count, oldest run_at) for the unfinished jobs."""
    stmt = (
        sa.select(jobs.c.queue, jobs.c.status, sa.func.count(), sa.func.min(jobs.c.run_at))
        .where(jobs.c.status.in_((PENDING, RUNNING)))
        .group_by(jobs.c.queue, jobs.c.status)
    )
    return list((await uow.session.execute(stmt)).all())


async def last_tick(uow: UnitOfWork, name: str) -> dt.datetime | None:
    return (
        await uow.session.execute(
            sa.select(ScheduledRun.last_tick).where(ScheduledRun.name == name)
        )
    ).scalar_one_or_none()


async def save_tick(uow: UnitOfWork, name: str, tick: dt.datetime, *, now: dt.datetime) -> None:
    table: sa.Table = ScheduledRun.__table__  # type: ignore[assignment]
    row = {"name": name, "last_tick": tick, "updated_at": now}
    await upsert_row(uow, table, row, conflict=("name",), update=("last_tick", "updated_at"))


async def get_keyed(uow: UnitOfWork, queue: str, key: str) -> Job | None:
    stmt = sa.select(Job).where(Job.queue == queue, Job.key == key)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def failing(uow: UnitOfWork, queue: str, *, limit: int) -> list[Job]:
    """Unfinished or dead jobs of `queue` whose last attempt failed, newest first."""
    stmt = (
        sa.select(Job)
        .where(Job.queue == queue, Job.status != DONE, Job.last_error.is_not(None))
        .order_by(Job.created_at.desc())
        .limit(limit)
    )
    return list((await uow.session.execute(stmt)).scalars())
