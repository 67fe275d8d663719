"""Every SQL statement on parked items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.jobs.models import ParkedItem
from playerplatform.kit.db import UnitOfWork, new_uuid, upsert_row

parked: sa.Table = ParkedItem.__table__  # type: ignore[assignment]


async def upsert(
    uow: UnitOfWork, *, source: str, scope: str, key: str, item: str, error: str, now: dt.datetime
) -> None:
    """Park an item, or count another attempt on the row already parked under its key (open
    again if it had been resolved)."""
    row = {
        "id": new_uuid(),
        "source": source,
        "scope": scope,
        "key": key,
        "item": item,
        "error": error,
        "attempts": 1,
        "parked_at": now,
        "last_parked_at": now,
        "resolved_at": None,
        "resolution": None,
    }
    await upsert_row(
        uow,
        parked,
        row,
        conflict=("source", "key"),
        update=("scope", "item", "error", "last_parked_at", "resolved_at", "resolution"),
        also={"attempts": parked.c.attempts + sa.literal_column("1")},
    )


async def resolve(
    uow: UnitOfWork, *, source: str, keys: Sequence[str], resolution: str, now: dt.datetime
) -> int:
    """Mark the open items of `source` under `keys` resolved; returns how many were open."""
    if not keys:
        return 0
    result = await uow.session.execute(
        sa.update(parked)
        .where(parked.c.source == source, parked.c.key.in_(keys), parked.c.resolved_at.is_(None))
        .values(resolved_at=now, resolution=resolution)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def resolve_by_id(
    uow: UnitOfWork, item_id: Any, *, resolution: str, now: dt.datetime
) -> bool:
    result = await uow.session.execute(
        sa.update(parked)
        .where(parked.c.id == item_id, parked.c.resolved_at.is_(None))
        .values(resolved_at=now, resolution=resolution)
    )
    return bool(getattr(result, "rowcount", 0))


async def open_items(
    uow: UnitOfWork, *, source: str | None, scope: str | None, limit: int
) -> list[ParkedItem]:
    """Unresolved items, oldest first."""
    query = sa.select(ParkedItem).where(ParkedItem.resolved_at.is_(None))
    if source is not None:
        query = query.where(ParkedItem.source == source)
    if scope is not None:
        query = query.where(ParkedItem.scope == scope)
    query = query.order_by(ParkedItem.parked_at, ParkedItem.key).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def count_open(uow: UnitOfWork, *, source: str, scope: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(parked)
        .where(parked.c.source == source, parked.c.scope == scope, parked.c.resolved_at.is_(None))
    )
    return int((await uow.session.execute(query)).scalar_one())
