"""Wire models of the admin job routes. Payloads are not shown: they may carry one-time
tokens (mail) or provider data."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from playerplatform.jobs.models import Job
from playerplatform.kit.pagination import CursorKey, CursorText, CursorTime


class JobOut(BaseModel):
    job_id: str
    queue: str
    key: str | None
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    run_at: dt.datetime
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.public_id,
            queue=job.queue,
            key=job.key,
            status=job.status,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            last_error=job.last_error,
            run_at=job.run_at,
            created_at=job.created_at,
            finished_at=job.finished_at,
        )


class JobPageKey(CursorKey):
    """The cursor's content: the last row's sort key."""

    t: CursorTime
    i: CursorText
