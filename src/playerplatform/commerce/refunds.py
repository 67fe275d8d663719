"""Taking back what a refunded or charged-back order granted.

One path for every reversal (Steam GetReport, an admin's RefundTxn, an Epic clawback): each
order line reversed is marked `reversed` on the order, so seeing the same refund again (a
GetReport page read twice, a job delivered twice) finds nothing left to do.

- Durable entitlements the line granted become `revoked` with reason `refund`.
- Consumables the line granted are taken back in the ledger. When the player already spent
  them the balance goes below zero: the entry is a `clawback`, the wallet is in debt, and
  spending is blocked until grants bring it back to zero. Otherwise the entry is a `refund`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.commerce import repository
from playerplatform.commerce.models import Order
from playerplatform.commerce.orders import REVERSALS, order_out
from playerplatform.commerce.schemas import OrderOut
from playerplatform.commerce.wallet import parts_of, post_entry, revoke_where
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AppError, Conflict, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.platforms.steam import SteamTxn, SteamTxnError

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def reverse_lines(
    uow: UnitOfWork,
    rt: Runtime,
    order: Order,
    *,
    lines: list[int] | None,
    provider_status: str,
    reason: str = "refund",
) -> dict[str, Any]:
    """Reverse the given order lines (all when None) of a locked order; lines reversed
    before are skipped. Returns what was done."""
    summary: dict[str, Any] = {"order_id": order.order_id, "revoked": 0, "clawed_back": {}}
    if order.status not in ("verified", "refunded"):
        summary["skipped"] = f"order is {order.status}"
        return summary
    wanted = set(range(len(order.items))) if lines is None else set(lines)
    items = [dict(i) for i in order.items]
    for index, item in enumerate(items):
        if index not in wanted or item.get("status") == "reversed":
            continue
        sku = await repository.get_sku(uow, item["sku_id"])
        parts = await parts_of(uow, sku, int(item["quantity"])) if sku else []
        summary["revoked"] += await revoke_where(
            uow,
            rt.hot,
            rt.settings,
            where=repository.granted_by_order_item(order.id, index),
            reason=reason,
        )
        for n, part in enumerate(parts):
            if part.kind != "consumable":
                continue
            current = await repository.lock_balance(uow, order.user_id, part.sku_id)
            balance = await post_entry(
                uow,
                user_id=order.user_id,
                sku_id=part.sku_id,
                change=-part.units,
                change_type="refund" if current >= part.units else "clawback",
                reason=f"{provider_status} {order.order_id}",
                grant_key=f"order:{order.id.hex}:{index}:reverse:{part.sku_id}:{n}",
                order_id=order.id,
                allow_negative=True,
            )
            if balance is not None:
                clawed = summary["clawed_back"]
                clawed[part.sku_id] = clawed.get(part.sku_id, 0) + part.units
                if balance < 0:
                    summary["debt"] = True
        item["status"] = "reversed"
    now = utcnow()
    order.items = items
    order.provider_status = provider_status
    if all(i.get("status") == "reversed" for i in items):
        order.status = "refunded"
        order.refunded_at = order.refunded_at or now
    order.updated_at = now
    await uow.session.flush()
    if summary["revoked"] or summary["clawed_back"]:
        await _tell_player(uow, rt, order, summary)
    return summary


async def _tell_player(uow: UnitOfWork, rt: Runtime, order: Order, summary: dict[str, Any]) -> None:
    debt = bool(summary.get("debt"))
    body = f"Order {order.order_id} was refunded; what it granted was taken back."
    if debt:
        body += " Some of it was already spent: your balance is negative until it is repaid."
    await rt.notify(
        uow,
        rt,
        order.user_id,
        "commerce",
        title="Your purchase was refunded",
        body=body,
        data={"order_id": order.order_id, "clawed_back": summary["clawed_back"], "debt": debt},
        key=f"refund:{order.order_id}:{order.provider_status}:{sorted(summary['clawed_back'])}"[
            :255
        ],
    )


def reversed_lines(order: Order, txn: SteamTxn) -> list[int] | None:
    """Which lines a Steam report reverses: all for a full reversal, the refunded items'
    lines for `PartialRefund`, none otherwise ([])."""
    if txn.status in REVERSALS:
        return None
    if txn.status != "PartialRefund":
        return []
    refunded = {i.itemid for i in txn.items if i.itemstatus in REVERSALS}
    return [n for n, item in enumerate(order.items) if item.get("itemid") in refunded]


async def reverse_from_report(
    uow: UnitOfWork, rt: Runtime, order: Order, txn: SteamTxn
) -> dict[str, Any]:
    """Apply what a Steam report (or QueryTxn) says about a locked order."""
    lines = reversed_lines(order, txn)
    if lines == []:
        return {"order_id": order.order_id, "skipped": f"status {txn.status}"}
    return await reverse_lines(uow, rt, order, lines=lines, provider_status=txn.status or "")


async def refund_order(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    order_id: str,
    reason: str,
    client: ClientInfo,
) -> OrderOut:
    """Refund an order with its provider (Steam RefundTxn), then revoke what it granted
    through the same path as a reported refund. Audited."""
    order = await repository.get_order(uow, order_id, lock=True)
    if order is None:
        raise NotFound("No such order.")
    if order.status != "verified":
        raise Conflict(f"The order is {order.status}.", code="order_not_refundable")
    if order.provider == "steam":
        try:
            await rt.steam.refund_txn(order.provider_order_id)
        except SteamTxnError as exc:
            raise AppError(
                f"Steam refused the refund ({exc.errorcode}).",
                code="refund_refused",
                status=409,
                title="Refund refused",
            )
    summary = await reverse_lines(uow, rt, order, lines=None, provider_status="Refunded")
    owner = await _canonical_id(uow, order)
    await audit.record(
        uow,
        action="commerce.order_refund",
        resource_type="order",
        resource_id=order.order_id,
        actor=actor,
        subjects=[owner] if owner else [],
        old={"status": "verified"},
        new={
            "status": order.status,
            "reason": reason,
            "provider_refund": order.provider == "steam",
            **summary,
        },
        client=client,
    )
    return order_out(order)


async def _canonical_id(uow: UnitOfWork, order: Order) -> str | None:
    from playerplatform.users import service as users

    try:
        return (await users.get_user(uow, order.user_id)).canonical_id
    except NotFound:
        return None
