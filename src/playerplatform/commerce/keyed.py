"""Grants and revocations other domains ask for (drops, studio webhooks), each keyed by the
cause's own id so that a retry, a redelivery or a second path to the same cause (a Twitch
entitlement seen by EventSub and by sync) changes nothing the second time.

The keys land in the entitlements' and ledger entries' unique `grant_key` column, which is
what makes "exactly once" hold across processes and crashes, not a check in this code.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playerplatform.commerce import repository
from playerplatform.commerce.wallet import (
    grant_parts,
    parts_of,
    post_entry,
    require_sku,
    revoke_where,
)
from playerplatform.kit.db import UnitOfWork

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


@dataclass(frozen=True, slots=True)
class SkuLine:
    sku_id: str
    quantity: int = 1


async def check_skus(uow: UnitOfWork, lines: Sequence[SkuLine]) -> None:
    """404 `not_found` naming the first SKU of `lines` the catalog does not hold."""
    for line in lines:
        await require_sku(uow, line.sku_id, active=False)


async def grant_skus(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    lines: Sequence[SkuLine],
    key: str,
    source: str,
    reason: str,
) -> int:
    """Grant `lines` to a player, once per `key` (e.g. `twitch:<entitlement id>`); returns
    how many parts were new (0 when `key` was granted before)."""
    granted = 0
    for n, line in enumerate(lines):
        sku = await require_sku(uow, line.sku_id, active=False)
        granted += await grant_parts(
            uow,
            rt.hot,
            rt.settings,
            user_id=user_id,
            parts=await parts_of(uow, sku, line.quantity),
            key_prefix=f"{key}:{n}"[:200],
            source=source[:16],
            reason=reason,
        )
    return granted


async def revoke_skus(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    user_id: uuid.UUID,
    lines: Sequence[SkuLine],
    key: str,
    reason: str,
) -> int:
    """Take `lines` back from a player: durable items are revoked, consumable units clawed
    back (the balance may go below zero: a debt, as after a refund). The clawbacks are keyed
    by `key`, so they happen once; revoking an item already revoked does nothing."""
    taken = 0
    for n, line in enumerate(lines):
        sku = await require_sku(uow, line.sku_id, active=False)
        for i, part in enumerate(await parts_of(uow, sku, line.quantity)):
            if part.kind == "durable":
                taken += await revoke_where(
                    uow,
                    rt.hot,
                    rt.settings,
                    where=repository.entitlement_of(user_id, part.sku_id),
                    reason="manual",
                )
                continue
            balance = await post_entry(
                uow,
                user_id=user_id,
                sku_id=part.sku_id,
                change=-part.units,
                change_type="clawback",
                reason=reason,
                grant_key=f"{key}:{n}:{i}"[:255],
                allow_negative=True,
            )
            taken += balance is not None
    return taken
