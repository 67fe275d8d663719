"""The platform's own records that may name a player without holding their id: mail kept by
the dev mailbox, and the answers kept for Idempotency-Keys (scoped to the caller). Erasure
deletes the player's; neither is part of an export."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.idempotency import IdempotencyRecord
from playerplatform.kit.mail_models import DevMail

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime


async def erase_records(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    if subject.identifiers:
        await uow.session.execute(
            sa.delete(DevMail).where(DevMail.to_address.in_(subject.identifiers))
        )
    await uow.session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.scope == subject.canonical_id)
    )


async def export_records(uow: UnitOfWork, runtime: Runtime, user_id: object) -> None:
    """Mail and kept answers are the platform's records, not part of the export."""
    return None
