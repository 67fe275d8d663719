"""Job handlers of the ugc domain: `scan_content` (scan an upload), on the same queue kind
`purge_drafts` (every ten minutes: delete abandoned drafts and their uploads, see
`service.purge_abandoned_drafts`) and, on the shared `moderation_review` queue, kind
`ugc_review` (apply the publication policy after a scan).

The purge runs on `scan_content`, the queue of ugc's own upload work, because its workers are
the ones that reach the object store for uploads; a backlog of scans only delays it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork
from playerplatform.ugc import scanning, service

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def scan_content(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Scan one upload; raises (and is retried) while the scanner does not answer."""
    await scanning.scan_upload(
        uow, runtime, str(job.payload["ugc_id"]), int(job.payload.get("round", 1))
    )


async def review_submission(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Publish a cleared item at once when the creator is trusted by policy."""
    await scanning.review_submission(uow, runtime, str(job.payload["ugc_id"]))


async def purge_drafts(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """One bounded batch of abandoned drafts; idempotent (what is gone is not found again)."""
    await service.purge_abandoned_drafts(uow, runtime)
