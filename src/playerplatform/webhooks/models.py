"""The webhooks domain's table: every event a provider delivered, once per message id."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

RECEIVED, PROCESSED, FAILED, DUPLICATE = "received", "processed", "failed", "duplicate"
STATUSES = (RECEIVED, PROCESSED, FAILED, DUPLICATE)


class WebhookEvent(Base):
    """One delivered message. The unique (provider, message_id) pair is the intake's lock: a
    redelivery finds the row and changes nothing. `status` is the processed marker."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("provider", "message_id"),
        sa.Index(
            "ix_webhook_events_provider_status_received_at", "provider", "status", "received_at"
        ),
        sa.Index("ix_webhook_events_status_received_at", "status", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    event_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    message_id: Mapped[str] = mapped_column(sa.String(255))
    message_type: Mapped[str] = mapped_column(sa.String(64))
    subscription_type: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    object_key: Mapped[str] = mapped_column(sa.String(512))
    status: Mapped[str] = mapped_column(sa.String(16), default=RECEIVED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    sent_at: Mapped[dt.datetime] = mapped_column()
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
