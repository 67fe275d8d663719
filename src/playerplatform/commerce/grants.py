"""Staff grants, and what commerce contributes to account merges and the admin user view.

Merge rules (documented for studios): the source account's orders and entitlements move to
the target as they are; each non-zero balance moves as two ledger entries, one taking it
off the source (`spend`, or `grant` for a debt) and one adding it to the target (`grant`,
or `clawback` for a debt), both with reason `merge`, so both ledgers still add up and a
debt follows the player.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

from playerplatform.admin.service import register_user_detail_section
from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.auth.merge import register_merge_hook
from playerplatform.commerce import repository
from playerplatform.commerce.schemas import GrantIn, GrantOut
from playerplatform.commerce.wallet import (
    balances_view,
    entitlements_view,
    grant_parts,
    note_ownership_change,
    parts_of,
    post_entry,
    require_sku,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import ClientInfo
from playerplatform.users import service as users
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def admin_grant(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    canonical_id: str,
    body: GrantIn,
    key: str | None,
    client: ClientInfo,
) -> GrantOut:
    """Grant a SKU (inactive ones too: make-goods) to a player. Audited. With an
    Idempotency-Key the grant keys derive from it, so even a replay past the key's lifetime
    grants nothing twice."""
    user = await users.get_by_canonical(uow, canonical_id)
    sku = await require_sku(uow, body.sku_id, active=False)
    prefix = f"admin:{actor.actor_id}:{key}" if key else f"admin:{secrets.token_hex(12)}"
    granted = await grant_parts(
        uow,
        rt.hot,
        rt.settings,
        user_id=user.id,
        parts=await parts_of(uow, sku, body.quantity),
        key_prefix=prefix[:200],
        source="admin",
        reason=body.reason,
    )
    await audit.record(
        uow,
        action="commerce.grant",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        new={
            "sku_id": sku.sku_id,
            "quantity": body.quantity,
            "reason": body.reason,
            "new": granted,
        },
        client=client,
    )
    return GrantOut(
        entitlements=await entitlements_view(uow, user.id),
        balances=await balances_view(uow, user.id),
    )


async def merge_commerce(
    uow: UnitOfWork, runtime: Runtime, source: User, target: User
) -> dict[str, Any] | None:
    """Move orders, entitlements and balances from `source` to `target` (merge hook)."""
    orders = await repository.move_orders(uow, source.id, target.id)
    moved_skus = await repository.move_entitlements(uow, source.id, target.id)
    balances: dict[str, int] = {}
    for balance in await repository.balances_of(uow, source.id):
        amount = balance.balance
        if amount == 0:
            continue
        tag = f"merge:{source.canonical_id}:{target.canonical_id}:{balance.sku_id}"
        await post_entry(
            uow,
            user_id=source.id,
            sku_id=balance.sku_id,
            change=-amount,
            change_type="spend" if amount > 0 else "grant",
            reason=f"merge into {target.canonical_id}",
            grant_key=f"{tag}:out",
            allow_negative=True,
        )
        await post_entry(
            uow,
            user_id=target.id,
            sku_id=balance.sku_id,
            change=amount,
            change_type="grant" if amount > 0 else "clawback",
            reason=f"merge from {source.canonical_id}",
            grant_key=f"{tag}:in",
            allow_negative=True,
        )
        balances[balance.sku_id] = amount
    if moved_skus:
        ttl = runtime.settings.commerce_ownership_cache_seconds
        for sku_id in set(moved_skus):
            for user_id in (source.id, target.id):
                await note_ownership_change(uow, runtime.hot, ttl, user_id, sku_id)
    if not (orders or moved_skus or balances):
        return None
    return {"orders": orders, "entitlements": len(moved_skus), "balances": balances}


async def _entitlements_section(uow: UnitOfWork, user_id: uuid.UUID) -> Any:
    return [e.model_dump(mode="json") for e in await entitlements_view(uow, user_id)]


async def _balances_section(uow: UnitOfWork, user_id: uuid.UUID) -> Any:
    return [b.model_dump(mode="json") for b in await balances_view(uow, user_id)]


register_merge_hook("commerce", merge_commerce)
register_user_detail_section("entitlements", _entitlements_section)
register_user_detail_section("balances", _balances_section)
