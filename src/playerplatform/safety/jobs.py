"""Job handlers of the safety domain, on the `moderation_review` queue: kind
`feedback_scan` (scan one feedback attachment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork
from playerplatform.safety import attachments

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def scan_feedback_attachment(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Scan one attachment; raises (and is retried) while the scanner does not answer."""
    await attachments.scan_attachment(
        uow, runtime, str(job.payload["feedback_id"]), str(job.payload["filename"])
    )
