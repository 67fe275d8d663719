"""Every query of the webhooks domain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, new_uuid
from playerplatform.webhooks.models import WebhookEvent

_events: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
_EVENT_COLUMNS = (
    "id",
    "event_id",
    "provider",
    "message_id",
    "message_type",
    "subscription_type",
    "payload",
    "object_key",
    "status",
    "attempts",
    "last_error",
    "sent_at",
    "received_at",
    "processed_at",
)


def _insert_events(rows: int) -> sa.TextClause:
    """INSERT ... ON CONFLICT DO NOTHING of `rows` events in one statement, built once per
    row count: SQLAlchemy does not cache the compiled form of an INSERT ... ON CONFLICT, and
    compiling it on every delivery cost more than the insert itself."""
    statement = _INSERT_BY_ROWS.get(rows)
    if statement is None:
        values = ", ".join(
            "(" + ", ".join(f":{c}_{n}" for c in _EVENT_COLUMNS) + ")" for n in range(rows)
        )
        statement = sa.text(
            f"INSERT INTO webhook_events ({', '.join(_EVENT_COLUMNS)}) VALUES {values}"  # noqa: S608 (our column names)
            # Any unique key: the event id derives from (provider, message_id), so a
            # concurrent copy of the message may meet either index first.
            " ON CONFLICT DO NOTHING RETURNING event_id"
        ).bindparams(
            *(
                sa.bindparam(f"{c}_{n}", type_=_events.c[c].type)
                for n in range(rows)
                for c in _EVENT_COLUMNS
            )
        )
        _INSERT_BY_ROWS[rows] = statement
    return statement


_INSERT_BY_ROWS: dict[int, sa.TextClause] = {}


async def insert_events(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Store the events whose (provider, message_id) is not stored yet, in one statement;
    returns the event ids that went in. On PostgreSQL an insert that meets a concurrent,
    uncommitted copy of the same message waits for it to commit, then skips it: so a
    redelivery is answered only once the first copy is durable. Rows go in event id order,
    so two such statements lock the same keys in the same order and never deadlock."""
    if not rows:
        return set()
    values: dict[str, Any] = {}
    for n, row in enumerate(sorted(rows, key=lambda r: str(r["event_id"]))):
        full = {c: None for c in _EVENT_COLUMNS} | row
        if full["id"] is None:
            full["id"] = new_uuid()
        values |= {f"{c}_{n}": full[c] for c in _EVENT_COLUMNS}
    result = await uow.session.execute(_insert_events(len(rows)), values)
    return {row[0] for row in result}


async def get_event(uow: UnitOfWork, event_id: str, *, lock: bool = False) -> WebhookEvent | None:
    query = sa.select(WebhookEvent).where(WebhookEvent.event_id == event_id)
    if lock:
        if uow.dialect == "postgresql":
            query = query.with_for_update()
        query = query.execution_options(populate_existing=True)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def lock_events(uow: UnitOfWork, event_ids: Sequence[str]) -> list[WebhookEvent]:
    """The events of `event_ids` that exist, locked (on PostgreSQL) in event id order."""
    query = sa.select(WebhookEvent).where(WebhookEvent.event_id.in_(sorted(event_ids)))
    query = query.order_by(WebhookEvent.event_id).execution_options(populate_existing=True)
    if uow.dialect == "postgresql":
        query = query.with_for_update()
    return list((await uow.session.execute(query)).scalars())


async def list_events(
    uow: UnitOfWork,
    *,
    provider: str | None,
    status: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[WebhookEvent]:
    """Newest first."""
    query = sa.select(WebhookEvent)
    if provider is not None:
        query = query.where(WebhookEvent.provider == provider)
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    if after is not None:
        query = query.where(sa.tuple_(WebhookEvent.received_at, WebhookEvent.event_id) < after)
    query = query.order_by(WebhookEvent.received_at.desc(), WebhookEvent.event_id.desc())
    return list((await uow.session.execute(query.limit(limit))).scalars())
