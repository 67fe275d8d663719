"""Keeping the job table small: finished jobs are history, and the write-behind of a busy
leaderboard alone finishes one every two seconds.

Done jobs older than `PP_JOB_RETENTION_DAYS` are deleted, a bounded batch per run so no run
holds a long transaction; a backlog drains over the following runs. Dead jobs are kept until
an admin retries them. Deleting a done job also frees its idempotency key: that is safe
because every handler is idempotent by business id (the key only saves a second delivery the
work), and the keys that matter most, scheduler ticks, are never enqueued again once past.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import structlog

from playerplatform.jobs import repository
from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork, utcnow

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger(__name__)

QUEUE = "maintenance"
PRUNE_BATCH = 10_000


async def prune_jobs(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    retention = dt.timedelta(days=runtime.settings.job_retention_days)
    deleted = await repository.delete_done_before(
        uow, before=utcnow() - retention, limit=PRUNE_BATCH
    )
    if deleted:
        log.info("jobs_pruned", deleted=deleted, batch=PRUNE_BATCH)
