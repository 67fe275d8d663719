"""Tables owned by messaging: inbox messages, broadcasts, notification preferences, push
tokens and the realtime event log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class InboxMessage(Base):
    """One message in one player's inbox. Titles and bodies are per-locale maps. A broadcast
    becomes a row here only when the player first reads their inbox after it was sent
    (`broadcast_id` set); `dedupe_key` makes keyed notifications and that materialization
    happen once. Deleting keeps the row (`deleted_at`) so a broadcast is not shown again."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        sa.Index("ix_inbox_messages_user_created", "user_id", "created_at"),
        sa.Index("ix_inbox_messages_broadcast", "broadcast_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    message_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[dict[str, str]] = mapped_column(JSONType)
    body: Mapped[dict[str, str]] = mapped_column(JSONType)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    broadcast_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Broadcast(Base):
    """A message to everyone or to a segment, one row whatever the audience's size."""

    __tablename__ = "broadcasts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    broadcast_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[dict[str, str]] = mapped_column(JSONType)
    body: Mapped[dict[str, str]] = mapped_column(JSONType)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    segment: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    send_at: Mapped[dt.datetime] = mapped_column(index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def preferences_owner(user_id: uuid.UUID) -> str:
    """The cached views of one player's notification preferences (`kit.views`)."""
    return f"preferences:{user_id.hex}"


class NotificationPreferences(Base):
    """Per kind, which channels besides the inbox a player wants (`{"kind": {"email",
    "push"}}`); kinds not listed use the defaults."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    channels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def views_owner(self) -> str:
        """Saving them makes the player's cached preferences stale (`kit.views`)."""
        return preferences_owner(self.user_id)


class PushToken(Base):
    __tablename__ = "push_tokens"
    __table_args__ = (sa.UniqueConstraint("platform", "token"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    token_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(sa.String(8))
    token: Mapped[str] = mapped_column(sa.String(512))
    app_id: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RealtimeEvent(Base):
    """Every frame sent to a player's sockets, kept a while so a reconnect with `?after=`
    gets exactly what it missed (ids increase)."""

    __tablename__ = "realtime_events"
    __table_args__ = (sa.Index("ix_realtime_events_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
