"""Steam purchases: InitTxn when the player starts buying, FinalizeTxn when they come back
from the overlay, QueryTxn whenever the answer is ambiguous.

An order is granted at most once: the order row is locked while it is verified, the move
from `pending` to `verified` happens once, and every grant carries a key derived from the
order line. A crash after FinalizeTxn captured the money but before our commit leaves the
order `pending`; the next verify gets "already committed" (error 6) from FinalizeTxn and
learns from QueryTxn that it succeeded, then grants.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError as PydanticValidationError

from playerplatform.auth import service as identities
from playerplatform.commerce import repository
from playerplatform.commerce.models import Order, Sku, wallet_owner
from playerplatform.commerce.schemas import (
    OrderItemOut,
    OrderOut,
    SteamMapping,
    SteamOrderIn,
    TimeCursor,
    VerifyOut,
)
from playerplatform.commerce.wallet import (
    Part,
    SkuUnavailable,
    WalletInDebt,
    balances_view,
    entitlements_view,
    grant_parts,
    new_public_id,
    parts_of,
    require_sku,
)
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import (
    AppError,
    Conflict,
    NotFound,
    ProviderError,
    ValidationFailed,
)
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.views import Views
from playerplatform.platforms import steam as steam_api
from playerplatform.platforms.steam import SteamTxn, SteamTxnError, SteamWallet

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

REVERSALS = frozenset(
    {"Refunded", "Chargedback", "RefundedSuspectedFraud", "RefundedFriendlyFraud"}
)

# Steam error -> (HTTP status, problem code, detail). These fail the order for good.
FAILURES: dict[int, tuple[int, str, str]] = {
    steam_api.TXN_DENIED: (402, "purchase_denied", "The player declined the purchase."),
    # Not `insufficient_funds`: that code means a low in-game balance (409, wallet spend).
    steam_api.TXN_INSUFFICIENT_FUNDS: (
        402,
        "purchase_insufficient_funds",
        "The Steam wallet cannot pay for this order.",
    ),
    steam_api.TXN_FRAUD: (402, "purchase_fraud_suspected", "Steam's fraud checks refused it."),
    steam_api.TXN_TIME_LIMIT: (409, "purchase_expired", "The order was not finalized in time."),
    steam_api.TXN_CURRENCY_MISMATCH: (409, "currency_mismatch", "Steam refused the currency."),
    steam_api.TXN_PENDING_TRANSACTION: (
        409,
        "purchase_pending_elsewhere",
        "The player has another Steam purchase pending.",
    ),
    steam_api.TXN_INVALID_PARAMETER: (502, "purchase_failed", "Steam refused the order."),
    steam_api.TXN_FAILED: (502, "purchase_failed", "Steam failed the transaction."),
}
# Steam errors that leave the order pending: the player can still finish.
NOT_YET: dict[int, tuple[str, str]] = {
    steam_api.TXN_NOT_APPROVED: ("order_not_approved", "The player has not approved it yet."),
    steam_api.TXN_NOT_LOGGED_IN: ("steam_not_logged_in", "The player is not logged in to Steam."),
}


class OrderNotApproved(Conflict):
    code, title = "order_not_approved", "The order is not approved yet"


class CurrencyMismatch(Conflict):
    code, title = "currency_mismatch", "Not the currency of the player's Steam wallet"


class CurrencyNotSupported(Conflict):
    code, title = "currency_not_supported", "No price in the player's currency"


class AlreadyOwned(Conflict):
    code, title = "already_owned", "Already owned"


class PurchasePending(Conflict):
    code, title = "purchase_pending", "Already being bought"


# Order totals are stored in a 32-bit column.
MAX_ORDER_TOTAL = 2_147_483_647


# Failure codes orders were stored with before they were renamed.
RENAMED_FAILURES = {"insufficient_funds": "purchase_insufficient_funds"}


def failure_error(code: str, *, commit: bool = False) -> AppError:
    """The problem a failed order answers with (stored as `failure_code`)."""
    code = RENAMED_FAILURES.get(code, code)
    for status, name, detail in FAILURES.values():
        if name == code:
            return AppError(
                detail, code=name, status=status, title="Purchase failed", commit=commit
            )
    return AppError(
        "The purchase failed.", code=code, status=409, title="Purchase failed", commit=commit
    )


def order_out(order: Order) -> OrderOut:
    return OrderOut(
        order_id=order.order_id,
        provider=order.provider,
        sku_id=order.sku_id,
        quantity=order.quantity,
        status=order.status,
        provider_order_id=order.provider_order_id,
        transid=order.transid,
        amount=order.amount,
        currency=order.currency,
        created_at=order.created_at,
        verified_at=order.verified_at,
        provider_status=order.provider_status,
        items=[
            OrderItemOut(sku_id=i["sku_id"], quantity=i["quantity"], status=i["status"])
            for i in order.items or []
        ],
    )


async def platform_account(uow: UnitOfWork, user_id: uuid.UUID, provider: str) -> Any:
    """The player's linked identity on `provider`, or None."""
    for identity in await identities.linked_identities(uow, user_id):
        if identity.provider == provider:
            return identity
    return None


async def ensure_no_debt_behind(uow: UnitOfWork, user_id: uuid.UUID, identity: Any) -> None:
    """A wallet's debt (a clawback after a refund) follows the platform account that paid:
    while an account this identity was unlinked from is in debt, no purchase goes through it,
    whichever account holds it now (409 `wallet_in_debt`)."""
    for holder in await identities.previous_holders(uow, identity.provider, identity.provider_id):
        if holder != user_id and await repository.in_debt(uow, holder):
            raise WalletInDebt(
                f"This {identity.provider} account left a debt on another player account:"
                " purchases through it are blocked until that debt is repaid."
            )


async def state_of(uow: UnitOfWork, user_id: uuid.UUID, orders: list[Order]) -> VerifyOut:
    outs = [order_out(o) for o in orders]
    return VerifyOut(
        order=outs[0] if len(outs) == 1 else None,
        orders=outs,
        entitlements=await entitlements_view(uow, user_id),
        balances=await balances_view(uow, user_id),
    )


# -- Creating an order. -----------------------------------------------------------------------


async def create_steam_order(
    uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, body: SteamOrderIn
) -> OrderOut:
    """Start a Steam purchase (InitTxn, client session); the order is `pending` until the
    player approves it in the overlay and the game calls verify-receipt.

    The price is the catalog's, in the currency of the player's Steam wallet (GetUserInfo):
    the client never chooses either. Durables are sold once: a durable (or a bundle holding
    one) in a quantity above 1, one the player owns, or one already waiting in another
    pending order is refused before anything is sent to Steam."""
    identity = await platform_account(uow, user_id, "steam")
    if identity is None:
        raise Conflict(
            "Link a Steam account before buying on Steam.", code="steam_account_required"
        )
    await ensure_no_debt_behind(uow, user_id, identity)
    skus = [(await require_sku(uow, line.sku_id), line.quantity) for line in body.lines()]
    await _refuse_durables_twice(uow, user_id, skus)
    wallet = await _steam_wallet(rt, identity.provider_id)
    currency = wallet.currency
    if body.currency is not None and body.currency != currency:
        raise CurrencyMismatch(
            f"The player's Steam wallet is in {currency}; an order in {body.currency} "
            "cannot be charged to it."
        )
    lines, items, total = [], [], 0
    for sku, quantity in skus:
        steam = steam_mapping(sku)
        price = steam.price_in(currency)
        if price is None:
            raise CurrencyNotSupported(
                f"The SKU '{sku.sku_id}' has no price in {currency}, the currency of the "
                "player's Steam wallet."
            )
        amount = price * quantity
        total += amount
        lines.append((steam.itemid, quantity, amount, sku.name))
        items.append(
            {
                "sku_id": sku.sku_id,
                "quantity": quantity,
                "itemid": steam.itemid,
                "amount": amount,
                "status": "pending",
            }
        )
    if len({i["itemid"] for i in items}) != len(items):
        raise SkuUnavailable("Two SKUs in this order share a Steam item id.")
    if total > MAX_ORDER_TOTAL:
        raise ValidationFailed("The order's total is too large for one order.", field="quantity")
    orderid = str(secrets.randbits(63) | 1)
    now = utcnow()
    order = Order(
        id=new_uuid(),
        order_id=new_public_id("o"),
        user_id=user_id,
        provider="steam",
        provider_order_id=orderid,
        sku_id=items[0]["sku_id"],
        quantity=items[0]["quantity"],
        items=items,
        status="pending",
        amount=total,
        currency=currency,
        created_at=now,
        updated_at=now,
    )
    try:
        txn = await rt.steam.init_txn(
            orderid=orderid,
            steamid=identity.provider_id,
            items=lines,
            language=body.language or rt.settings.commerce_steam_language,
            currency=currency,
        )
    except SteamTxnError as exc:
        status, code, detail = FAILURES.get(exc.errorcode, FAILURES[steam_api.TXN_FAILED])
        order.status, order.failure_code, order.provider_status = "failed", code, "Failed"
        await repository.insert_order(uow, order)
        raise AppError(detail, code=code, status=status, title="Purchase failed", commit=True)
    order.transid = txn.transid
    await repository.insert_order(uow, order)
    return order_out(order)


def steam_mapping(sku: Sku) -> SteamMapping:
    """The SKU's Steam item and prices; 422 `sku_unavailable` when it is not sold on Steam."""
    try:
        return SteamMapping.model_validate((sku.sku_metadata or {}).get("steam"))
    except PydanticValidationError:
        raise SkuUnavailable(f"The SKU '{sku.sku_id}' is not sold on Steam.") from None


async def _steam_wallet(rt: Runtime, steamid: str) -> SteamWallet:
    """The player's Steam wallet; a locked wallet cannot pay (409 `steam_wallet_locked`)."""
    try:
        wallet = await rt.steam.get_wallet(steamid)
    except SteamTxnError as exc:
        status, code, detail = FAILURES.get(exc.errorcode, FAILURES[steam_api.TXN_FAILED])
        raise AppError(detail, code=code, status=status, title="Purchase failed")
    if wallet.status == "Locked":
        raise Conflict("The player's Steam wallet is locked.", code="steam_wallet_locked")
    return wallet


async def _refuse_durables_twice(
    uow: UnitOfWork, user_id: uuid.UUID, skus: list[tuple[Sku, int]]
) -> None:
    """A durable is owned once: 422 for a quantity above 1, 409 `already_owned` when the
    player holds it, 409 `purchase_pending` when another pending order already buys it."""
    pending: set[str] = set()
    for order in await repository.pending_orders(uow, user_id, "steam"):
        for item in order.items or []:
            sku = await repository.get_sku(uow, item["sku_id"])
            if sku is not None:
                pending.update(durable_ids(await parts_of(uow, sku, 1)))
    for sku, quantity in skus:
        durables = durable_ids(await parts_of(uow, sku, 1))
        if not durables:
            continue
        if quantity > 1:
            raise ValidationFailed(
                f"'{sku.sku_id}' grants a durable item, owned once: buy it with quantity 1.",
                field="quantity",
            )
        for sku_id in durables:
            if await repository.owns(uow, user_id, sku_id):
                raise AlreadyOwned(f"The player already owns '{sku_id}'.")
            if sku_id in pending:
                raise PurchasePending(
                    f"Another pending order already buys '{sku_id}': finish or abandon it."
                )


def durable_ids(parts: list[Part]) -> list[str]:
    return [part.sku_id for part in parts if part.kind == "durable"]


# -- Verifying it. ------------------------------------------------------------------------------


async def verify_steam_order(
    uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, order_id: str
) -> VerifyOut:
    """Finalize an approved order and grant what it bought, once. An order verified before
    answers with its current state; a failed one with the problem it failed with."""
    order = await repository.get_order(uow, order_id, user_id=user_id, lock=True)
    if order is None or order.provider != "steam":
        raise NotFound("No such order.")
    if order.status == "failed":
        raise failure_error(order.failure_code or "purchase_failed")
    if order.status == "pending":
        txn = await _finalize(uow, order, rt)
        await grant_order(
            uow, rt, order, receipt=txn.raw, transid=txn.transid, provider_status="Succeeded"
        )
        if txn.status in REVERSALS or txn.status == "PartialRefund":
            from playerplatform.commerce.refunds import reverse_from_report

            await reverse_from_report(uow, rt, order, txn)
    return await state_of(uow, user_id, [order])


async def _finalize(uow: UnitOfWork, order: Order, rt: Runtime) -> SteamTxn:
    """FinalizeTxn, resolving every ambiguous answer with QueryTxn. Returns the transaction
    when the money is captured; raises (failing the order where that is final) otherwise."""
    for _attempt in range(2):
        try:
            txn = await rt.steam.finalize_txn(order.provider_order_id)
            return SteamTxn(
                orderid=txn.orderid, transid=txn.transid, status="Succeeded", raw=txn.raw
            )
        except SteamTxnError as exc:
            if exc.errorcode in NOT_YET:
                code, detail = NOT_YET[exc.errorcode]
                raise Conflict(detail, code=code)
            if exc.errorcode in FAILURES and exc.errorcode != steam_api.TXN_FAILED:
                await _fail(uow, order, FAILURES[exc.errorcode][1])
        except ProviderError:
            pass  # timed out or lost: Steam may have captured the money; ask
        try:
            txn = await rt.steam.query_txn(order.provider_order_id)
        except SteamTxnError as exc:
            raise ProviderError(f"Steam could not say how the order stands ({exc.errorcode}).")
        if txn.status == "Succeeded" or txn.status in REVERSALS or txn.status == "PartialRefund":
            return txn
        if txn.status == "Init":
            raise OrderNotApproved("The player has not approved the purchase yet.")
        if txn.status == "Failed":
            await _fail(uow, order, "purchase_failed")
        # "Approved": the capture did not happen; finalize once more.
    raise ProviderError("Steam did not confirm the purchase; try again.")


async def _fail(uow: UnitOfWork, order: Order, code: str) -> None:
    order.status, order.failure_code, order.provider_status = "failed", code, "Failed"
    order.updated_at = utcnow()
    await uow.session.flush()
    raise failure_error(code, commit=True)


async def grant_order(
    uow: UnitOfWork,
    rt: Runtime,
    order: Order,
    *,
    receipt: dict[str, Any] | None,
    transid: str | None,
    provider_status: str,
) -> None:
    """Mark the (locked, pending) order verified, keep the provider's answer as its receipt
    (`receipts/{order_id}.json`) and grant every line. Runs inside the caller's transaction."""
    stored = {
        "provider": order.provider,
        "provider_order_id": order.provider_order_id,
        "response": receipt,
    }
    await rt.objects.put(
        f"receipts/{order.order_id}.json",
        orjson.dumps(stored, option=orjson.OPT_INDENT_2),
        content_type="application/json",
    )
    now = utcnow()
    items = []
    for index, item in enumerate(order.items):
        sku = await repository.get_sku(uow, item["sku_id"])
        if sku is not None:
            await grant_parts(
                uow,
                rt.hot,
                rt.settings,
                user_id=order.user_id,
                parts=await parts_of(uow, sku, int(item["quantity"])),
                key_prefix=f"order:{order.id.hex}:{index}",
                source=order.provider,
                reason=f"order {order.order_id}",
                order_id=order.id,
            )
        items.append({**item, "status": "granted"})
    order.items = items
    order.status, order.provider_status = "verified", provider_status
    order.transid = order.transid or transid
    order.verified_at = order.updated_at = now
    await uow.session.flush()


# -- Reading. -----------------------------------------------------------------------------------


async def orders_json(uow: UnitOfWork, cache: Views, user_id: uuid.UUID, page: PageParams) -> bytes:
    """A page of `GET /commerce/orders`, encoded, from the cached view while current (an
    order added or changed through the session renews it: `Order.views_owner`)."""

    async def load() -> bytes:
        found = await list_orders(uow, user_id, page)
        return found.model_dump_json().encode()

    name = page.view_name("orders")
    return await cache.read(wallet_owner(user_id), name, load)


async def list_orders(uow: UnitOfWork, user_id: uuid.UUID, page: PageParams) -> Page[OrderOut]:
    """The player's orders, newest first."""
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_orders(
        uow, user_id, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    return paginate(rows, page.limit, lambda o: TimeCursor(t=o.created_at, i=o.order_id), order_out)


async def get_order(uow: UnitOfWork, user_id: uuid.UUID, order_id: str) -> OrderOut:
    """One of the player's orders; another player's order is 404, like an unknown one."""
    order = await repository.get_order(uow, order_id, user_id=user_id)
    if order is None:
        raise NotFound("No such order.")
    return order_out(order)
