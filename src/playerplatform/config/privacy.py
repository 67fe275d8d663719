"""The config domain's part of a player's data export and erasure: the experiments' variants
the player was served. Exposures stay for the studio's analytics, under the pseudonym."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from playerplatform.config import repository
from playerplatform.kit.db import UnitOfWork

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("experiment_exposures",)


async def export_config(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    return [
        {"experiment": e.experiment, "variant": e.variant, "exposed_at": e.exposed_at}
        for e in await repository.exposures_of(uow, user_id)
    ]


async def erase_config(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """Exposures are kept, keyed by the pseudonymous account."""
