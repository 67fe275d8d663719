"""What a player holds: entitlements (durable SKUs) and ledger balances (consumables).

Rules:
- The ledger is append-only. Every entry is written under the lock of its (player, SKU)
  balance row, so `balance_after` of the newest entry is always the running sum.
- A spend never takes a balance below zero; only a clawback (refund of currency already
  spent) may, and a player with a negative balance cannot spend until it is repaid.
- Every grant carries a grant key derived from what caused it (order line, admin grant,
  job); a key already used grants nothing, so retries and duplicates are harmless.
- The ownership check is served from the hot store. Writers set the new truth after their
  commit; readers fill a missing entry with set-if-absent, so a reader that raced a writer
  can never overwrite the writer's newer value.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from playerplatform.commerce import repository
from playerplatform.commerce.models import Entitlement, Sku, wallet_owner
from playerplatform.commerce.schemas import (
    BalanceOut,
    EntitlementOut,
    LedgerCursor,
    LedgerEntryOut,
    TimeCursor,
    WalletOut,
)
from playerplatform.kit import views
from playerplatform.kit.db import Database, UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from playerplatform.kit.hotstore import UNAVAILABLE, HotStore
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.settings import Settings
from playerplatform.kit.views import Views
from playerplatform.users import service as users

_PENDING_OWNERSHIP = "commerce.ownership"


class InsufficientFunds(Conflict):
    code, title = "insufficient_funds", "Insufficient funds"


class WalletInDebt(Conflict):
    code, title = "wallet_in_debt", "Spending is blocked until the debt is repaid"


class SkuUnavailable(AppError):
    status, code, title = 422, "sku_unavailable", "This SKU is not available"


def new_public_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def ownership_key(canonical_id: str, sku_id: str) -> str:
    """Cached ownership, in the player's hash slot: the check reads it with the caller's
    session state (one `mget_near`)."""
    return f"own:{{{canonical_id}}}:{sku_id}"


# -- Catalog lookups, cached per process for the hot path. ------------------------------------


@dataclass
class _CatalogCache:
    loaded_at: float = 0.0
    types: dict[str, tuple[str, bool]] | None = None


_catalog = _CatalogCache()


def forget_catalog() -> None:
    """Drop this process's copy of the catalog (after an admin change commits)."""
    _catalog.types = None


async def sku_type(uow: UnitOfWork, settings: Settings, sku_id: str) -> str | None:
    """The SKU's type, or None when no such SKU exists (active or not)."""
    return await _cached_sku_type(settings, sku_id, lambda: repository.sku_types(uow))


def cached_sku_type(settings: Settings, sku_id: str) -> str | None:
    """`sku_type` from the process's catalog copy while it is current; None when the copy
    cannot say (unknown SKU, stale copy): then `sku_type_outside_request`."""
    types = _catalog.types
    if (
        types is None
        or time.monotonic() - _catalog.loaded_at > settings.commerce_catalog_cache_seconds
    ):
        return None
    found = types.get(sku_id)
    return found[0] if found else None


async def sku_type_outside_request(db: Database, settings: Settings, sku_id: str) -> str | None:
    """`sku_type` for callers without a unit of work: one is opened only to reload."""

    async def load() -> dict[str, tuple[str, bool]]:
        async with db.unit_of_work(write=False) as uow:
            return await repository.sku_types(uow)

    return await _cached_sku_type(settings, sku_id, load)


async def _cached_sku_type(
    settings: Settings,
    sku_id: str,
    load: Callable[[], Awaitable[dict[str, tuple[str, bool]]]],
) -> str | None:
    now = time.monotonic()
    if (
        _catalog.types is None
        or now - _catalog.loaded_at > settings.commerce_catalog_cache_seconds
        or sku_id not in _catalog.types
    ):
        _catalog.types = await load()
        _catalog.loaded_at = now
    found = _catalog.types.get(sku_id)
    return found[0] if found else None


async def require_sku(uow: UnitOfWork, sku_id: str, *, active: bool = True) -> Sku:
    """The SKU; 404 `not_found` when unknown, 422 `sku_unavailable` when inactive."""
    sku = await repository.get_sku(uow, sku_id)
    if sku is None:
        raise NotFound(f"No SKU '{sku_id}'.")
    if active and not sku.is_active:
        raise SkuUnavailable(f"The SKU '{sku_id}' is not on sale.")
    return sku


# -- Ownership (the hot path). ----------------------------------------------------------------


async def check_ownership(
    uow: UnitOfWork,
    hot: HotStore,
    settings: Settings,
    user_id: uuid.UUID,
    canonical_id: str,
    sku_id: str,
) -> bool:
    """Whether the player holds an active entitlement to `sku_id`; 404 for an unknown SKU."""
    if await sku_type(uow, settings, sku_id) is None:
        raise NotFound(f"No SKU '{sku_id}'.")
    key = [ownership_key(canonical_id, sku_id)]
    try:
        cached = hot.peek_near(key) or await hot.mget_near(key)
    except UNAVAILABLE:  # the hot store is down: the database answers
        cached = [None]
    if cached[0] is not None:
        return cached[0] == "1"
    return await load_ownership(uow, hot, settings, user_id, canonical_id, sku_id)


async def load_ownership(
    uow: UnitOfWork,
    hot: HotStore,
    settings: Settings,
    user_id: uuid.UUID,
    canonical_id: str,
    sku_id: str,
) -> bool:
    """Ownership from the database, cached for the next check (a writer's newer value wins)."""
    owned = await repository.owns(uow, user_id, sku_id)
    with contextlib.suppress(*UNAVAILABLE):
        await hot.set_if_absent(
            ownership_key(canonical_id, sku_id),
            "1" if owned else "0",
            ttl=settings.commerce_ownership_cache_seconds,
        )
    return owned


async def note_ownership_change(
    uow: UnitOfWork, hot: HotStore, ttl: float, user_id: uuid.UUID, sku_id: str
) -> None:
    """Re-read ownership inside the transaction and publish it to the cache after commit."""
    pending: dict[tuple[str, str], bool] | None = uow.info.get(_PENDING_OWNERSHIP)
    if pending is None:
        pending = uow.info[_PENDING_OWNERSHIP] = {}

        async def publish() -> None:
            changes = uow.info.pop(_PENDING_OWNERSHIP, {})
            for (canonical_id, sku), owned in changes.items():
                await hot.set(ownership_key(canonical_id, sku), "1" if owned else "0", ttl=ttl)

        uow.after_commit(publish)
    canonical_id = (await users.get_user(uow, user_id)).canonical_id
    pending[(canonical_id, sku_id)] = await repository.owns(uow, user_id, sku_id)


# -- The ledger. ------------------------------------------------------------------------------


async def post_entry(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    sku_id: str,
    change: int,
    change_type: str,
    reason: str | None,
    grant_key: str | None = None,
    order_id: uuid.UUID | None = None,
    allow_negative: bool = False,
) -> int | None:
    """Append one ledger entry and move the balance; returns the new balance, or None when
    `grant_key` was used before (nothing written). Raises `InsufficientFunds` when the entry
    would take the balance below zero and `allow_negative` is False."""
    current = await repository.lock_balance(uow, user_id, sku_id)
    if grant_key is not None and await repository.ledger_key_used(uow, grant_key):
        return None
    balance = current + change
    if balance < 0 and change < 0 and not allow_negative:
        raise InsufficientFunds(f"The balance of '{sku_id}' is {current}.")
    await repository.set_balance(uow, user_id, sku_id, balance)
    views.changed(uow, wallet_owner(user_id))
    await repository.insert_ledger_entry(
        uow,
        {
            "entry_id": new_public_id("l"),
            "user_id": user_id,
            "sku_id": sku_id,
            "change": change,
            "balance_after": balance,
            "change_type": change_type,
            "reason": (reason or "")[:200] or None,
            "order_id": order_id,
            "grant_key": grant_key,
            "created_at": utcnow(),
        },
    )
    return balance


IN_DEBT = "A refund left this wallet below zero; spending resumes once repaid."


async def spend(
    uow: UnitOfWork,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    sku_id: str,
    quantity: int,
    reason: str,
) -> int:
    """Spend `quantity` units of a consumable; returns the balance after. 409
    `insufficient_funds` when the balance is short, 409 `wallet_in_debt` while any balance of
    the player is negative."""
    kind = await sku_type(uow, settings, sku_id)
    if kind is None:
        raise NotFound(f"No SKU '{sku_id}'.")
    if kind != "consumable":
        raise ValidationFailed("Only consumables can be spent.", field="sku_id")
    if uow.dialect == "postgresql":
        spent, in_debt, current = await repository.spend_in_one_statement(
            uow,
            user_id=user_id,
            sku_id=sku_id,
            quantity=quantity,
            entry_id=new_public_id("l"),
            reason=(reason or "")[:200] or None,
            now=utcnow(),
        )
        if in_debt:
            raise WalletInDebt(IN_DEBT)
        if spent is None:
            raise InsufficientFunds(f"The balance of '{sku_id}' is {current}.")
        views.changed(uow, wallet_owner(user_id))
        return int(spent)
    if await repository.in_debt(uow, user_id):
        raise WalletInDebt(IN_DEBT)
    balance = await post_entry(
        uow, user_id=user_id, sku_id=sku_id, change=-quantity, change_type="spend", reason=reason
    )
    assert balance is not None
    return balance


# -- Granting and revoking what a SKU stands for. ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One thing a purchase grants: an entitlement (durable) or units (consumable)."""

    sku_id: str
    kind: str
    units: int


async def parts_of(uow: UnitOfWork, sku: Sku, quantity: int) -> list[Part]:
    """What `quantity` of `sku` grants, bundles expanded to their contents."""
    if sku.type == "durable":
        return [Part(sku.sku_id, "durable", 1)]
    if sku.type == "consumable":
        return [Part(sku.sku_id, "consumable", sku.quantity * quantity)]
    contents = await repository.get_skus(uow, [line["sku_id"] for line in sku.contents])
    parts = []
    for line in sku.contents:
        inner = contents.get(line["sku_id"])
        if inner is None or inner.type == "bundle":
            continue  # validated at creation; a content SKU removed later grants nothing
        parts.extend(await parts_of(uow, inner, quantity * int(line.get("quantity", 1))))
    return parts


async def grant_parts(
    uow: UnitOfWork,
    hot: HotStore,
    settings: Settings,
    *,
    user_id: uuid.UUID,
    parts: list[Part],
    key_prefix: str,
    source: str,
    reason: str,
    order_id: uuid.UUID | None = None,
) -> int:
    """Grant each part once per `key_prefix`; returns how many parts were new."""
    granted = 0
    for n, part in enumerate(parts):
        key = f"{key_prefix}:{part.sku_id}:{n}"
        if part.kind == "durable":
            inserted = await repository.insert_entitlement(
                uow,
                {
                    "id": new_uuid(),
                    "entitlement_id": new_public_id("e"),
                    "user_id": user_id,
                    "sku_id": part.sku_id,
                    "status": "active",
                    "revocation_reason": None,
                    "source": source,
                    "order_id": order_id,
                    "grant_key": key,
                    "created_at": utcnow(),
                    "revoked_at": None,
                },
            )
            if inserted:
                granted += 1
                views.changed(uow, wallet_owner(user_id))
                await note_ownership_change(
                    uow, hot, settings.commerce_ownership_cache_seconds, user_id, part.sku_id
                )
        else:
            balance = await post_entry(
                uow,
                user_id=user_id,
                sku_id=part.sku_id,
                change=part.units,
                change_type="grant",
                reason=reason,
                grant_key=key,
                order_id=order_id,
            )
            granted += balance is not None
    return granted


async def revoke_where(
    uow: UnitOfWork, hot: HotStore, settings: Settings, *, where: Any, reason: str
) -> int:
    """Revoke the active entitlements matching `where`; returns how many."""
    revoked = await repository.revoke_entitlements(uow, where=where, reason=reason, now=utcnow())
    views.changed(uow, *(wallet_owner(user_id) for user_id, _ in revoked))
    for user_id, sku_id in set(revoked):
        await note_ownership_change(
            uow, hot, settings.commerce_ownership_cache_seconds, user_id, sku_id
        )
    return len(revoked)


# -- Views. -----------------------------------------------------------------------------------


def entitlement_out(row: Entitlement, order_id: str | None = None) -> EntitlementOut:
    return EntitlementOut(
        entitlement_id=row.entitlement_id,
        sku_id=row.sku_id,
        status=row.status,
        revocation_reason=row.revocation_reason,
        source=row.source,
        order_id=order_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def entitlements_view(uow: UnitOfWork, user_id: uuid.UUID) -> list[EntitlementOut]:
    """The player's entitlements, newest first (up to 500)."""
    rows = await repository.list_entitlements(uow, user_id, status=None, after=None, limit=500)
    return [entitlement_out(e, o) for e, o in rows]


async def wallet_json(uow: UnitOfWork, cache: Views, user_id: uuid.UUID) -> bytes:
    """`GET /commerce/wallet`, encoded, from the cached view while it is current."""

    async def load() -> bytes:
        balances = await balances_view(uow, user_id)
        out = WalletOut(balances=balances, in_debt=any(b.balance < 0 for b in balances))
        return out.model_dump_json().encode()

    return await cache.read(wallet_owner(user_id), "wallet", load)


async def entitlements_json(
    uow: UnitOfWork, cache: Views, user_id: uuid.UUID, status: str | None, page: PageParams
) -> bytes:
    """A page of `GET /commerce/entitlements`, encoded, from the cached view while current."""

    async def load() -> bytes:
        found = await entitlements_page(uow, user_id, status, page)
        return found.model_dump_json().encode()

    name = page.view_name(f"entitlements:{status}")
    return await cache.read(wallet_owner(user_id), name, load)


async def balances_view(uow: UnitOfWork, user_id: uuid.UUID) -> list[BalanceOut]:
    """Every consumable balance the player has had."""
    return [
        BalanceOut(sku_id=b.sku_id, balance=b.balance)
        for b in await repository.balances_of(uow, user_id)
    ]


def ledger_out(row: Any, order_id: str | None) -> LedgerEntryOut:
    return LedgerEntryOut(
        entry_id=row.entry_id,
        sku_id=row.sku_id,
        change=row.change,
        balance_after=row.balance_after,
        change_type=row.change_type,
        reason=row.reason,
        order_id=order_id,
        created_at=row.created_at,
    )


async def entitlements_page(
    uow: UnitOfWork, user_id: uuid.UUID, status: str | None, page: PageParams
) -> Page[EntitlementOut]:
    """The player's entitlements (optionally of one status), newest first."""
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_entitlements(
        uow,
        user_id,
        status=status,
        after=(after.t, after.i) if after else None,
        limit=page.limit + 1,
    )
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r[0].created_at, i=r[0].entitlement_id),
        lambda r: entitlement_out(r[0], r[1]),
    )


async def ledger_json(
    uow: UnitOfWork, cache: Views, user_id: uuid.UUID, sku_id: str | None, page: PageParams
) -> bytes:
    """A page of `GET /commerce/wallet/ledger`, encoded, from the cached view while current
    (every ledger entry moves a balance, so whatever writes one renews the wallet's views)."""

    async def load() -> bytes:
        found = await ledger_page(uow, user_id, sku_id, page)
        return found.model_dump_json().encode()

    name = page.view_name(f"ledger:{sku_id or ''}")
    return await cache.read(wallet_owner(user_id), name, load)


async def ledger_page(
    uow: UnitOfWork, user_id: uuid.UUID, sku_id: str | None, page: PageParams
) -> Page[LedgerEntryOut]:
    """The player's ledger entries (optionally for one SKU), newest first."""
    after = decode_cursor(page.cursor, LedgerCursor)
    rows = await repository.list_ledger(
        uow, user_id, sku_id=sku_id, before=after.i if after else None, limit=page.limit + 1
    )
    return paginate(rows, page.limit, lambda r: LedgerCursor(i=r[0].id), lambda r: ledger_out(*r))
