"""Every SQL statement of the commerce domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.commerce.models import (
    Balance,
    CommerceCursor,
    Entitlement,
    LedgerEntry,
    Order,
    Sku,
)
from playerplatform.kit.db import (
    UnitOfWork,
    insert_unless_taken,
    upsert_row,
    utcnow,
)

# -- Catalog. -------------------------------------------------------------------------------


async def get_sku(uow: UnitOfWork, sku_id: str, *, for_update: bool = False) -> Sku | None:
    query = sa.select(Sku).where(Sku.sku_id == sku_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_skus(uow: UnitOfWork, sku_ids: Sequence[str]) -> dict[str, Sku]:
    if not sku_ids:
        return {}
    rows = await uow.session.execute(sa.select(Sku).where(Sku.sku_id.in_(list(set(sku_ids)))))
    return {s.sku_id: s for s in rows.scalars()}


async def list_skus(
    uow: UnitOfWork, *, active_only: bool, after: str | None, limit: int
) -> list[Sku]:
    query = sa.select(Sku).order_by(Sku.sku_id).limit(limit)
    if active_only:
        query = query.where(Sku.is_active.is_(True))
    if after is not None:
        query = query.where(Sku.sku_id > after)
    return list((await uow.session.execute(query)).scalars())


async def sku_types(uow: UnitOfWork) -> dict[str, tuple[str, bool]]:
    """sku_id -> (type, is_active) for the whole catalog (the per-process cache)."""
    rows = await uow.session.execute(sa.select(Sku.sku_id, Sku.type, Sku.is_active))
    return {r.sku_id: (r.type, r.is_active) for r in rows}


async def insert_sku(uow: UnitOfWork, row: dict[str, Any]) -> bool:
    """False when the sku_id is taken."""
    table: sa.Table = Sku.__table__  # type: ignore[assignment]
    return (await insert_unless_taken(uow, table, row, returning=table.c.id)).first() is not None


async def skus_by_epic_item(uow: UnitOfWork, catalog_item_ids: Sequence[str]) -> dict[str, Sku]:
    if not catalog_item_ids:
        return {}
    rows = await uow.session.execute(
        sa.select(Sku).where(Sku.epic_catalog_item_id.in_(list(set(catalog_item_ids))))
    )
    return {s.epic_catalog_item_id: s for s in rows.scalars() if s.epic_catalog_item_id}


# -- Orders. --------------------------------------------------------------------------------


async def insert_order(uow: UnitOfWork, order: Order) -> None:
    uow.session.add(order)
    await uow.session.flush()


async def claim_order(uow: UnitOfWork, row: dict[str, Any]) -> bool:
    """Insert an order unless (provider, provider_order_id) exists; True when inserted."""
    table: sa.Table = Order.__table__  # type: ignore[assignment]
    return (await insert_unless_taken(uow, table, row, returning=table.c.id)).first() is not None


def _lock(uow: UnitOfWork, query: Any, lock: bool) -> Any:
    return query.with_for_update() if lock and uow.dialect == "postgresql" else query


async def get_order(
    uow: UnitOfWork, order_id: str, *, user_id: uuid.UUID | None = None, lock: bool = False
) -> Order | None:
    query = sa.select(Order).where(Order.order_id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    order = (await uow.session.execute(_lock(uow, query, lock))).scalar_one_or_none()
    if order is not None and lock:
        await uow.session.refresh(order)
    return order


async def get_order_by_provider(
    uow: UnitOfWork, provider: str, provider_order_id: str, *, lock: bool = False
) -> Order | None:
    query = sa.select(Order).where(
        Order.provider == provider, Order.provider_order_id == provider_order_id
    )
    order = (await uow.session.execute(_lock(uow, query, lock))).scalar_one_or_none()
    if order is not None and lock:
        await uow.session.refresh(order)
    return order


async def orders_by_provider_ids(
    uow: UnitOfWork, provider: str, provider_order_ids: Sequence[str]
) -> dict[str, Order]:
    if not provider_order_ids:
        return {}
    rows = await uow.session.execute(
        sa.select(Order).where(
            Order.provider == provider, Order.provider_order_id.in_(list(provider_order_ids))
        )
    )
    return {o.provider_order_id: o for o in rows.scalars()}


async def pending_orders(uow: UnitOfWork, user_id: uuid.UUID, provider: str) -> list[Order]:
    """The player's orders with `provider` that are still waiting for the player."""
    query = sa.select(Order).where(
        Order.user_id == user_id, Order.provider == provider, Order.status == "pending"
    )
    return list((await uow.session.execute(query)).scalars())


async def list_orders(
    uow: UnitOfWork, user_id: uuid.UUID, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Order]:
    query = (
        sa.select(Order)
        .where(Order.user_id == user_id)
        .order_by(Order.created_at.desc(), Order.order_id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(Order.created_at, Order.order_id) < after)
    return list((await uow.session.execute(query)).scalars())


async def oldest_open_order_time(uow: UnitOfWork, provider: str) -> dt.datetime | None:
    """Creation time of the oldest order not yet fully refunded (reconciliation start)."""
    return (
        await uow.session.execute(
            sa.select(sa.func.min(Order.created_at)).where(
                Order.provider == provider, Order.status.in_(("pending", "verified"))
            )
        )
    ).scalar_one_or_none()


async def move_orders(uow: UnitOfWork, source: uuid.UUID, target: uuid.UUID) -> int:
    result = await uow.session.execute(
        sa.update(Order).where(Order.user_id == source).values(user_id=target)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- Entitlements. --------------------------------------------------------------------------


async def insert_entitlement(uow: UnitOfWork, row: dict[str, Any]) -> bool:
    """False when the grant key was used already (granted before)."""
    table: sa.Table = Entitlement.__table__  # type: ignore[assignment]
    return (await insert_unless_taken(uow, table, row, returning=table.c.id)).first() is not None


async def revoke_entitlements(
    uow: UnitOfWork, *, where: Any, reason: str, now: dt.datetime
) -> list[tuple[uuid.UUID, str]]:
    """Revoke active entitlements matching `where`; returns (user_id, sku_id) of each."""
    result = await uow.session.execute(
        sa.update(Entitlement)
        .where(where, Entitlement.status == "active")
        .values(status="revoked", revocation_reason=reason, revoked_at=now)
        .returning(Entitlement.user_id, Entitlement.sku_id)
    )
    return [(r[0], r[1]) for r in result.all()]


def granted_by_order_item(order_id: uuid.UUID, item: int) -> Any:
    return sa.and_(
        Entitlement.order_id == order_id,
        Entitlement.grant_key.like(f"order:{order_id.hex}:{item}:%"),
    )


def entitlement_by_public_id(entitlement_id: str) -> Any:
    return Entitlement.entitlement_id == entitlement_id


async def entitlements_granted_by(
    uow: UnitOfWork, user_id: uuid.UUID, key_prefix: str
) -> list[Entitlement]:
    escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = sa.select(Entitlement).where(
        Entitlement.user_id == user_id,
        Entitlement.grant_key.like(f"{escaped}%", escape="\\"),
    )
    return list((await uow.session.execute(query.order_by(Entitlement.created_at))).scalars())


def owner_ids(sku_id: str) -> sa.Select[Any]:
    return sa.select(Entitlement.user_id).where(
        Entitlement.sku_id == sku_id, Entitlement.status == "active"
    )


async def owns(uow: UnitOfWork, user_id: uuid.UUID, sku_id: str) -> bool:
    query = sa.select(
        sa.exists().where(
            Entitlement.user_id == user_id,
            Entitlement.sku_id == sku_id,
            Entitlement.status == "active",
        )
    )
    return bool((await uow.session.execute(query)).scalar())


async def list_entitlements(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    status: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[tuple[Entitlement, str | None]]:
    query = (
        sa.select(Entitlement, Order.order_id)
        .outerjoin(Order, Order.id == Entitlement.order_id)
        .where(Entitlement.user_id == user_id)
        .order_by(Entitlement.created_at.desc(), Entitlement.entitlement_id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Entitlement.status == status)
    if after is not None:
        query = query.where(sa.tuple_(Entitlement.created_at, Entitlement.entitlement_id) < after)
    return [(r[0], r[1]) for r in (await uow.session.execute(query)).all()]


async def move_entitlements(uow: UnitOfWork, source: uuid.UUID, target: uuid.UUID) -> list[str]:
    result = await uow.session.execute(
        sa.update(Entitlement)
        .where(Entitlement.user_id == source)
        .values(user_id=target)
        .returning(Entitlement.sku_id)
    )
    return [r[0] for r in result.all()]


# -- Balances and the ledger. ---------------------------------------------------------------


async def lock_balance(uow: UnitOfWork, user_id: uuid.UUID, sku_id: str) -> int:
    """The balance row, created at 0 when missing, locked until the transaction ends (the
    upsert takes the row lock on PostgreSQL; SQLite writers hold the database lock)."""
    table: sa.Table = Balance.__table__  # type: ignore[assignment]
    row = {"user_id": user_id, "sku_id": sku_id, "balance": 0, "updated_at": utcnow()}
    result = await upsert_row(
        uow,
        table,
        row,
        conflict=("user_id", "sku_id"),
        update=(),
        also={"balance": table.c.balance},
        returning=table.c.balance,
    )
    return int(result.scalar_one())


# A spend on PostgreSQL, in one statement: the debt check, the balance moved only when it
# covers the spend (the UPDATE takes the row lock; a concurrent spend waits for it and then
# sees the new balance), and the ledger entry written from the UPDATE's result. Nothing is
# written when the wallet is in debt or short; the outcome columns say which.
_SPEND = sa.text(
    """
    WITH debt AS (
        SELECT EXISTS (
            SELECT 1 FROM balances WHERE user_id = :user_id AND balance < 0
        ) AS in_debt
    ),
    moved AS (
        UPDATE balances SET balance = balance - :quantity, updated_at = :now
        WHERE user_id = :user_id AND sku_id = :sku_id AND balance >= :quantity
          AND NOT (SELECT in_debt FROM debt)
        RETURNING balance
    ),
    entry AS (
        INSERT INTO ledger_entries
            (entry_id, user_id, sku_id, change, balance_after, change_type, reason, created_at)
        SELECT :entry_id, :user_id, :sku_id, -:quantity, balance, 'spend', :reason, :now
        FROM moved
        RETURNING balance_after
    )
    SELECT (SELECT balance_after FROM entry) AS balance_after,
           (SELECT in_debt FROM debt) AS in_debt,
           (SELECT balance FROM balances WHERE user_id = :user_id AND sku_id = :sku_id)
               AS balance
    """
).bindparams(
    sa.bindparam("user_id", type_=sa.Uuid()),
    sa.bindparam("sku_id", type_=sa.String()),
    sa.bindparam("quantity", type_=sa.BigInteger()),
    sa.bindparam("entry_id", type_=sa.String()),
    sa.bindparam("reason", type_=sa.String()),
    sa.bindparam("now", type_=sa.DateTime(timezone=True)),
)


async def spend_in_one_statement(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    sku_id: str,
    quantity: int,
    entry_id: str,
    reason: str | None,
    now: dt.datetime,
) -> tuple[int | None, bool, int]:
    """PostgreSQL: (balance after or None when nothing was spent, in debt, balance now)."""
    row = (
        await uow.session.execute(
            _SPEND,
            {
                "user_id": user_id,
                "sku_id": sku_id,
                "quantity": quantity,
                "entry_id": entry_id,
                "reason": reason,
                "now": now,
            },
        )
    ).one()
    return row.balance_after, bool(row.in_debt), int(row.balance or 0)


async def set_balance(uow: UnitOfWork, user_id: uuid.UUID, sku_id: str, balance: int) -> None:
    await uow.session.execute(
        sa.update(Balance)
        .where(Balance.user_id == user_id, Balance.sku_id == sku_id)
        .values(balance=balance, updated_at=utcnow())
    )


async def ledger_key_used(uow: UnitOfWork, grant_key: str) -> bool:
    query = sa.select(sa.exists().where(LedgerEntry.grant_key == grant_key))
    return bool((await uow.session.execute(query)).scalar())


async def insert_ledger_entry(uow: UnitOfWork, row: dict[str, Any]) -> None:
    await uow.session.execute(sa.insert(LedgerEntry), row)


async def balances_of(uow: UnitOfWork, user_id: uuid.UUID) -> list[Balance]:
    rows = await uow.session.execute(
        sa.select(Balance).where(Balance.user_id == user_id).order_by(Balance.sku_id)
    )
    return list(rows.scalars())


async def in_debt(uow: UnitOfWork, user_id: uuid.UUID) -> bool:
    query = sa.select(sa.exists().where(Balance.user_id == user_id, Balance.balance < 0))
    return bool((await uow.session.execute(query)).scalar())


async def list_ledger(
    uow: UnitOfWork, user_id: uuid.UUID, *, sku_id: str | None, before: int | None, limit: int
) -> list[tuple[LedgerEntry, str | None]]:
    query = (
        sa.select(LedgerEntry, Order.order_id)
        .outerjoin(Order, Order.id == LedgerEntry.order_id)
        .where(LedgerEntry.user_id == user_id)
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    )
    if sku_id is not None:
        query = query.where(LedgerEntry.sku_id == sku_id)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    return [(r[0], r[1]) for r in (await uow.session.execute(query)).all()]


# -- Reconciliation cursors. ----------------------------------------------------------------


async def get_cursor(uow: UnitOfWork, name: str) -> str | None:
    return (
        await uow.session.execute(
            sa.select(CommerceCursor.value).where(CommerceCursor.name == name)
        )
    ).scalar_one_or_none()


async def set_cursor(uow: UnitOfWork, name: str, value: str) -> None:
    table: sa.Table = CommerceCursor.__table__  # type: ignore[assignment]
    row = {"name": name, "value": value, "updated_at": utcnow()}
    await upsert_row(uow, table, row, conflict=("name",), update=("value", "updated_at"))


def entitlement_of(user_id: uuid.UUID, sku_id: str) -> Any:
    return sa.and_(Entitlement.user_id == user_id, Entitlement.sku_id == sku_id)
