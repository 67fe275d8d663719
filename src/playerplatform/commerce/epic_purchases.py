"""Epic Games Store purchases: the player's Epic entitlements become orders and grants.

Each Epic entitlement id is an order's `provider_order_id` (unique per provider), so it is
granted at most once whatever the retries. Consumables are redeemed with Epic before our
commit; Epic keeps listing redeemed entitlements (`includeRedeemed=true`), so a crash after
the redeem and before the commit still grants on the next verify.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from playerplatform.commerce import repository
from playerplatform.commerce.orders import (
    ensure_no_debt_behind,
    grant_order,
    platform_account,
    state_of,
)
from playerplatform.commerce.schemas import VerifyOut
from playerplatform.commerce.wallet import new_public_id
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import Conflict

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def verify_epic(uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID) -> VerifyOut:
    """Read the linked Epic account's entitlements, grant each mapped one not granted
    before, and redeem the consumables among them."""
    identity = await platform_account(uow, user_id, "epic")
    account_id = (identity.data or {}).get("account_id") if identity is not None else None
    if not account_id:
        raise Conflict(
            "Link an Epic account (Epic Account Services) to redeem Epic purchases.",
            code="epic_account_required",
        )
    await ensure_no_debt_behind(uow, user_id, identity)
    listed = [e for e in await rt.epic.list_entitlements(str(account_id)) if e.active]
    skus = await repository.skus_by_epic_item(uow, [e.catalog_item_id for e in listed])
    listed = [e for e in listed if e.catalog_item_id in skus]
    known = await repository.orders_by_provider_ids(uow, "epic", [e.id for e in listed])
    fresh = [e for e in listed if e.id not in known]
    await rt.epic.redeem_entitlements(
        str(account_id), [e.id for e in fresh if e.consumable and not e.redeemed]
    )
    orders = [o for o in known.values() if o.user_id == user_id]
    now = utcnow()
    for entitlement in fresh:
        sku = skus[entitlement.catalog_item_id]
        row = {
            "id": new_uuid(),
            "order_id": new_public_id("o"),
            "user_id": user_id,
            "provider": "epic",
            "provider_order_id": entitlement.id,
            "transid": None,
            "sku_id": sku.sku_id,
            "quantity": 1,
            "items": [{"sku_id": sku.sku_id, "quantity": 1, "status": "pending"}],
            "status": "pending",
            "provider_status": entitlement.raw.get("status"),
            "failure_code": None,
            "amount": None,
            "currency": None,
            "created_at": now,
            "updated_at": now,
            "verified_at": None,
            "refunded_at": None,
        }
        if not await repository.claim_order(uow, row):
            continue  # a concurrent verify claimed it first
        order = await repository.get_order_by_provider(uow, "epic", entitlement.id, lock=True)
        assert order is not None
        await grant_order(
            uow,
            rt,
            order,
            receipt=entitlement.raw,
            transid=None,
            provider_status=str(entitlement.raw.get("status") or "ACTIVE"),
        )
        orders.append(order)
    await uow.session.flush()
    return await state_of(uow, user_id, sorted(orders, key=lambda o: o.created_at))
