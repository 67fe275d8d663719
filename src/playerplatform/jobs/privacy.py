"""The jobs domain's part of an erasure: jobs whose payload names the player (a mail to their
address, say) are deleted, except one a worker holds right now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.jobs.models import RUNNING, Job
from playerplatform.kit.db import UnitOfWork

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime


async def export_jobs(uow: UnitOfWork, runtime: Runtime, user_id: Any) -> None:
    """Jobs are the platform's own work, not the player's data: nothing to export."""
    return None


async def erase_jobs(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    strings = [*subject.identifiers, subject.canonical_id]  # not a display name: any text
    payload = sa.cast(Job.payload, sa.Text)
    await uow.session.execute(
        sa.delete(Job).where(Job.status != RUNNING, sa.or_(*(payload.contains(s) for s in strings)))
    )
