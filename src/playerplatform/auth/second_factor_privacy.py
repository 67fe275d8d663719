"""Second factors in a player's data export (that one is enrolled, never its secret) and
erasure (deleted)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from playerplatform.auth.models import SecondFactor
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.owned_rows import delete_rows, export_rows

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("second_factors",)
SECRET_COLUMNS = ("secret",)


async def export_second_factors(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await export_rows(uow, SecondFactor, "user_id", user_id)
    return [{k: v for k, v in row.items() if k not in SECRET_COLUMNS} for row in rows]


async def erase_second_factors(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    await delete_rows(uow, SecondFactor, "user_id", subject.user_id)
