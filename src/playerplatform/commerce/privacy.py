"""The commerce domain's part of a player's data export and erasure. Orders, entitlements,
the ledger and balances are records the studio must keep: erasure leaves them as they are,
pointing to the account that now carries the pseudonym, so the ledger still balances."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.commerce.models import Balance, Entitlement, LedgerEntry, Order
from playerplatform.kit.db import UnitOfWork, column_values

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("orders", "entitlements", "ledger_entries", "balances")


async def export_commerce(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID) -> dict[str, Any]:
    async def rows(model: Any, order: Any) -> list[dict[str, Any]]:
        found = await uow.session.execute(
            sa.select(model).where(model.user_id == user_id).order_by(order)
        )
        return [column_values(r, exclude=("grant_key",)) for r in found.scalars()]

    return {
        "orders": await rows(Order, Order.created_at),
        "entitlements": await rows(Entitlement, Entitlement.created_at),
        "ledger": await rows(LedgerEntry, LedgerEntry.id),
        "balances": await rows(Balance, Balance.sku_id),
    }


async def erase_commerce(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """Nothing to delete: these rows are kept, keyed by the pseudonymous account."""
