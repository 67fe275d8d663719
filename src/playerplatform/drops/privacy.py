"""The drops domain's part of a player's data export and erasure. A drop is the record that
a Twitch entitlement was granted once; it is kept after an erasure, keyed by the pseudonymous
account, with the Twitch user id (a provider id, the player's alone) replaced by the
pseudonym, so the same Twitch account can start fresh."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.drops.models import Drop
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.owned_rows import export_rows

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("drops",)


async def export_drops(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    return await export_rows(uow, Drop, "user_id", user_id)


async def erase_drops(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    await uow.session.execute(
        sa.update(Drop)
        .where(Drop.user_id == subject.user_id)
        .values(twitch_user_id=subject.pseudonym)
    )
