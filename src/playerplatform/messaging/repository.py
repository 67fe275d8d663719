"""Every query of the messaging domain."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, insert_ignoring_conflicts, insert_unless_taken
from playerplatform.messaging.models import (
    Broadcast,
    InboxMessage,
    NotificationPreferences,
    PushToken,
    RealtimeEvent,
)

# -- Inbox messages. --------------------------------------------------------------------------


async def insert_message(uow: UnitOfWork, row: dict[str, Any]) -> bool:
    """Insert a message; False when its `dedupe_key` (or id) exists already."""
    result = await insert_unless_taken(uow, InboxMessage.__table__, row)
    return bool(getattr(result, "rowcount", 0))


async def insert_messages(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await uow.session.execute(insert_ignoring_conflicts(uow, InboxMessage.__table__), rows)


async def message_by_key(uow: UnitOfWork, key: str) -> InboxMessage | None:
    query = sa.select(InboxMessage).where(InboxMessage.dedupe_key == key)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def message_by_public_id(uow: UnitOfWork, message_id: str) -> InboxMessage | None:
    query = sa.select(InboxMessage).where(InboxMessage.message_id == message_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_message(
    uow: UnitOfWork, user_id: uuid.UUID, message_id: str, *, for_update: bool = False
) -> InboxMessage | None:
    query = sa.select(InboxMessage).where(
        InboxMessage.message_id == message_id,
        InboxMessage.user_id == user_id,
        InboxMessage.deleted_at.is_(None),
    )
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


_PAGE_COLUMNS = (
    InboxMessage.message_id,
    InboxMessage.kind,
    InboxMessage.title,
    InboxMessage.body,
    sa.cast(InboxMessage.data, sa.Text).label("data_json"),
    sa.cast(InboxMessage.attachments, sa.Text).label("attachments_json"),
    InboxMessage.created_at,
    InboxMessage.expires_at,
    InboxMessage.read_at,
    InboxMessage.claimed_at,
)


@functools.cache
def _page_statement(unread: bool, kind: bool, after: bool) -> sa.Select[Any]:
    """The inbox page query for one combination of filters, built once (values are bound):
    the page's columns, `data` and `attachments` as JSON text to pass through, and the
    player's unread count in the same round trip."""
    user = sa.bindparam("user_id", type_=sa.Uuid())
    unread_total = (
        sa.select(sa.func.count())
        .where(
            InboxMessage.user_id == user,
            InboxMessage.deleted_at.is_(None),
            InboxMessage.read_at.is_(None),
        )
        .scalar_subquery()
        .label("unread_count")
    )
    query = (
        sa.select(*_PAGE_COLUMNS, unread_total)
        .where(InboxMessage.user_id == user, InboxMessage.deleted_at.is_(None))
        .order_by(InboxMessage.created_at.desc(), InboxMessage.message_id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    if unread:
        query = query.where(InboxMessage.read_at.is_(None))
    if kind:
        query = query.where(InboxMessage.kind == sa.bindparam("kind", type_=sa.String()))
    if after:
        at = sa.bindparam("after_at", type_=InboxMessage.__table__.c.created_at.type)
        last = sa.bindparam("after_id", type_=sa.String())
        query = query.where(
            sa.or_(
                InboxMessage.created_at < at,
                sa.and_(InboxMessage.created_at == at, InboxMessage.message_id < last),
            )
        )
    return query


async def page_of_messages(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    unread: bool,
    kind: str | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> tuple[list[Any], int]:
    """A page of the player's messages, newest first (rows of `_PAGE_COLUMNS`), and their
    unread count: one statement."""
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    if kind is not None:
        params["kind"] = kind
    if after is not None:
        params["after_at"], params["after_id"] = after
    statement = _page_statement(unread, kind is not None, after is not None)
    rows = list((await uow.session.execute(statement, params)).all())
    if rows:
        return rows, int(rows[0].unread_count)
    return rows, await unread_count(uow, user_id)


async def unread_count(uow: UnitOfWork, user_id: uuid.UUID) -> int:
    query = sa.select(sa.func.count()).where(
        InboxMessage.user_id == user_id,
        InboxMessage.deleted_at.is_(None),
        InboxMessage.read_at.is_(None),
    )
    return int((await uow.session.execute(query)).scalar() or 0)


async def mark_read(
    uow: UnitOfWork, user_id: uuid.UUID, message_id: str | None, now: dt.datetime
) -> int:
    """Mark one message (or, with None, every message) read; returns how many changed."""
    query = (
        sa.update(InboxMessage)
        .where(
            InboxMessage.user_id == user_id,
            InboxMessage.deleted_at.is_(None),
            InboxMessage.read_at.is_(None),
        )
        .values(read_at=now)
    )
    if message_id is not None:
        query = query.where(InboxMessage.message_id == message_id)
    result = await uow.session.execute(query)
    return int(getattr(result, "rowcount", 0))


# The claim as the source of commerce's one-statement grant (`grants.grant_lines_from`,
# PostgreSQL): the same conditional update as `claim_message`, and only of a message with
# attachments, returning the message; its attachments are then granted in that statement.
CLAIM_SOURCE = """
    UPDATE inbox_messages
    SET claimed_at = CAST(:src_now AS timestamptz),
        read_at = COALESCE(read_at, CAST(:src_now AS timestamptz))
    WHERE message_id = CAST(:src_message_id AS varchar)
      AND user_id = CAST(:src_user_id AS uuid)
      AND deleted_at IS NULL AND claimed_at IS NULL
      AND (expires_at IS NULL OR expires_at > CAST(:src_now AS timestamptz))
      AND jsonb_array_length(attachments) > 0
    RETURNING message_id, kind, title, body, data, attachments, created_at, expires_at,
              read_at, claimed_at
"""


def claim_source_values(user_id: uuid.UUID, message_id: str, now: dt.datetime) -> dict[str, Any]:
    return {"src_user_id": user_id, "src_message_id": message_id, "src_now": now}


async def claim_message(
    uow: UnitOfWork, user_id: uuid.UUID, message_id: str, now: dt.datetime
) -> InboxMessage | None:
    """Set `claimed_at` (and `read_at` if unset) of the player's message unless it is
    deleted, claimed or expired; returns the message as updated, or None. One statement:
    the update takes the row lock, so of concurrent claims exactly one gets the message and
    the others, re-checking the row once the first commits, get None."""
    query = (
        sa.update(InboxMessage)
        .where(
            InboxMessage.message_id == message_id,
            InboxMessage.user_id == user_id,
            InboxMessage.deleted_at.is_(None),
            InboxMessage.claimed_at.is_(None),
            sa.or_(InboxMessage.expires_at.is_(None), InboxMessage.expires_at > now),
        )
        .values(claimed_at=now, read_at=sa.func.coalesce(InboxMessage.read_at, now))
        .returning(InboxMessage)
        .execution_options(synchronize_session=False)
    )
    return (await uow.session.execute(query)).scalar_one_or_none()


async def delete_message(uow: UnitOfWork, message_pk: uuid.UUID, now: dt.datetime) -> None:
    await uow.session.execute(
        sa.update(InboxMessage).where(InboxMessage.id == message_pk).values(deleted_at=now)
    )


# -- Broadcasts. ------------------------------------------------------------------------------


def _live(now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    return [
        Broadcast.status != "cancelled",
        Broadcast.send_at <= now,
        sa.or_(Broadcast.expires_at.is_(None), Broadcast.expires_at > now),
    ]


async def live_broadcasts(uow: UnitOfWork, now: dt.datetime) -> list[Broadcast]:
    """Broadcasts not cancelled and not expired (scheduled ones included)."""
    query = sa.select(Broadcast).where(
        Broadcast.status != "cancelled",
        sa.or_(Broadcast.expires_at.is_(None), Broadcast.expires_at > now),
    )
    return list((await uow.session.execute(query.order_by(Broadcast.send_at))).scalars())


async def unseen_broadcasts(
    uow: UnitOfWork, user_id: uuid.UUID, among: Sequence[uuid.UUID], now: dt.datetime
) -> list[Broadcast]:
    """Which of the live broadcasts `among` are not yet in this player's inbox."""
    seen = sa.exists().where(
        InboxMessage.broadcast_id == Broadcast.id, InboxMessage.user_id == user_id
    )
    query = (
        sa.select(Broadcast)
        .where(Broadcast.id.in_(list(among)), *_live(now), ~seen)
        .order_by(Broadcast.send_at)
    )
    return list((await uow.session.execute(query)).scalars())


async def insert_broadcast(uow: UnitOfWork, broadcast: Broadcast) -> None:
    uow.session.add(broadcast)
    await uow.session.flush()


async def get_broadcast(
    uow: UnitOfWork, broadcast_id: str, *, for_update: bool = False
) -> Broadcast | None:
    query = sa.select(Broadcast).where(Broadcast.broadcast_id == broadcast_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def list_broadcasts(
    uow: UnitOfWork, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Broadcast]:
    query = (
        sa.select(Broadcast)
        .order_by(Broadcast.created_at.desc(), Broadcast.broadcast_id.desc())
        .limit(limit)
    )
    if after is not None:
        at, last = after
        query = query.where(
            sa.or_(
                Broadcast.created_at < at,
                sa.and_(Broadcast.created_at == at, Broadcast.broadcast_id < last),
            )
        )
    return list((await uow.session.execute(query)).scalars())


async def cancel_broadcast(uow: UnitOfWork, pk: uuid.UUID, now: dt.datetime) -> bool:
    """Cancel a broadcast not yet due; False once its `send_at` has passed."""
    result = await uow.session.execute(
        sa.update(Broadcast)
        .where(Broadcast.id == pk, Broadcast.status == "scheduled", Broadcast.send_at > now)
        .values(status="cancelled", cancelled_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_sent(uow: UnitOfWork, pk: uuid.UUID, now: dt.datetime) -> bool:
    """Move a due broadcast from scheduled to sent; exactly one caller gets True."""
    result = await uow.session.execute(
        sa.update(Broadcast)
        .where(Broadcast.id == pk, Broadcast.status == "scheduled", Broadcast.send_at <= now)
        .values(status="sent", sent_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def due_broadcasts(uow: UnitOfWork, now: dt.datetime) -> list[Broadcast]:
    query = sa.select(Broadcast).where(Broadcast.status == "scheduled", Broadcast.send_at <= now)
    return list((await uow.session.execute(query)).scalars())


async def broadcast_stats(uow: UnitOfWork, pk: uuid.UUID) -> tuple[int, int, int]:
    """(recipients, read, claimed) of a broadcast, among the players it reached so far."""
    query = sa.select(
        sa.func.count(),
        sa.func.count(InboxMessage.read_at),
        sa.func.count(InboxMessage.claimed_at),
    ).where(InboxMessage.broadcast_id == pk)
    row = (await uow.session.execute(query)).one()
    return int(row[0]), int(row[1]), int(row[2])


# -- Preferences and push tokens. -------------------------------------------------------------


async def get_preferences(uow: UnitOfWork, user_id: uuid.UUID) -> dict[str, Any]:
    row = await uow.session.get(NotificationPreferences, user_id)
    return dict(row.channels) if row else {}


async def save_preferences(
    uow: UnitOfWork, user_id: uuid.UUID, channels: dict[str, Any], now: dt.datetime
) -> None:
    row = await uow.session.get(NotificationPreferences, user_id, with_for_update=True)
    if row is None:
        uow.session.add(NotificationPreferences(user_id=user_id, channels=channels, updated_at=now))
    else:
        row.channels = channels
        row.updated_at = now
    await uow.session.flush()


async def upsert_push_token(uow: UnitOfWork, row: dict[str, Any]) -> PushToken:
    """Register a device token for a player; a token moving to another player moves."""
    existing = (
        await uow.session.execute(
            sa.select(PushToken).where(
                PushToken.platform == row["platform"], PushToken.token == row["token"]
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.user_id = row["user_id"]
        existing.app_id = row["app_id"]
        await uow.session.flush()
        return existing
    token = PushToken(**row)
    uow.session.add(token)
    await uow.session.flush()
    return token


async def push_tokens_of(uow: UnitOfWork, user_id: uuid.UUID) -> list[PushToken]:
    query = sa.select(PushToken).where(PushToken.user_id == user_id).order_by(PushToken.created_at)
    return list((await uow.session.execute(query)).scalars())


async def delete_push_token(uow: UnitOfWork, user_id: uuid.UUID, token_id: str) -> bool:
    result = await uow.session.execute(
        sa.delete(PushToken).where(PushToken.user_id == user_id, PushToken.token_id == token_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def drop_dead_token(uow: UnitOfWork, platform: str, token: str) -> None:
    await uow.session.execute(
        sa.delete(PushToken).where(PushToken.platform == platform, PushToken.token == token)
    )


# -- Realtime events. -------------------------------------------------------------------------


async def insert_event(
    uow: UnitOfWork, user_id: uuid.UUID, type_: str, data: dict[str, Any], now: dt.datetime
) -> int:
    event = RealtimeEvent(user_id=user_id, type=type_, data=data, created_at=now)
    uow.session.add(event)
    await uow.session.flush()
    return event.id


async def events_after(
    uow: UnitOfWork, user_id: uuid.UUID, after: int, limit: int
) -> list[RealtimeEvent]:
    query = (
        sa.select(RealtimeEvent)
        .where(RealtimeEvent.user_id == user_id, RealtimeEvent.id > after)
        .order_by(RealtimeEvent.id)
        .limit(limit)
    )
    return list((await uow.session.execute(query)).scalars())


async def prune_events(uow: UnitOfWork, before: dt.datetime) -> int:
    result = await uow.session.execute(
        sa.delete(RealtimeEvent).where(RealtimeEvent.created_at < before)
    )
    return int(getattr(result, "rowcount", 0))
