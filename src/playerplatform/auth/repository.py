"""Every query of the auth domain."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from playerplatform.auth.models import Identity
from playerplatform.kit.db import UnitOfWork


async def list_identities(uow: UnitOfWork, user_id: uuid.UUID) -> list[Identity]:
    result = await uow.session.execute(
        sa.select(Identity).where(Identity.user_id == user_id).order_by(Identity.linked_at)
    )
    return list(result.scalars())
