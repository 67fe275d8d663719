"""Who holds a SKU, for other domains' segments (`users.segments.SkuOwners`)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from playerplatform.commerce import repository
from playerplatform.kit.db import UnitOfWork


class SkuOwners:
    """Ownership as active entitlements, read from the durable store."""

    def owner_ids(self, sku_id: str) -> sa.Select[Any]:
        """A query selecting the ids of the users holding an active entitlement to `sku_id`."""
        return repository.owner_ids(sku_id)

    async def owns(self, uow: UnitOfWork, user_id: uuid.UUID, sku_id: str) -> bool:
        """Whether `user_id` holds an active entitlement to `sku_id`."""
        return await repository.owns(uow, user_id, sku_id)


SKU_OWNERS = SkuOwners()
