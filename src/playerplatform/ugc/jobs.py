"""Job handlers of the ugc domain: `scan_content` (scan an upload) and, on the shared
`moderation_review` queue, kind `ugc_review` (apply the publication policy after a scan)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.jobs.registry import JobRun, job_handler
from playerplatform.kit.db import UnitOfWork
from playerplatform.ugc import scanning

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


@job_handler("scan_content")
async def scan_content(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Scan one upload; raises (and is retried) while the scanner does not answer."""
    await scanning.scan_upload(
        uow, runtime, str(job.payload["ugc_id"]), int(job.payload.get("round", 1))
    )


@job_handler(scanning.REVIEW_QUEUE, kind=scanning.REVIEW_KIND)
async def review_submission(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Publish a cleared item at once when the creator is trusted by policy."""
    await scanning.review_submission(uow, runtime, str(job.payload["ugc_id"]))
