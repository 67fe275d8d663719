"""Job handlers of the privacy domain: build an export, carry out a scheduled erasure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork
from playerplatform.privacy import service

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def build_export(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Idempotent: an export already built is left alone."""
    await service.run_export(uow, runtime, str(job.payload["request_id"]))


async def erase_player(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Idempotent: an erasure already done or cancelled is left alone."""
    await service.run_erasure(uow, runtime, str(job.payload["request_id"]))
