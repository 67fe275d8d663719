"""Tables of the privacy domain: export and erasure requests."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, new_uuid, utcnow


class PrivacyRequest(Base):
    """An export (`pending` → `ready`) or an erasure (`scheduled` → `done` or
    `cancelled`) asked for by the player or by staff for them."""

    __tablename__ = "privacy_requests"
    __table_args__ = (sa.Index("ix_privacy_requests_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    object_key: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
