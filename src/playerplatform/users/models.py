"""Tables owned by the users domain: the account row, profiles, progression, friends."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    canonical_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    roles: Mapped[list[str]] = mapped_column(JSONType, default=lambda: ["player"])
    email_verified: Mapped[bool] = mapped_column(default=False)
    banned_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    ban_reason: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    # What the player's active sanctions hold back, per scope: {"ugc": end or null, ...}. A
    # summary kept by the safety domain; the scopes are enforced from the auth state.
    restrictions: Mapped[dict[str, Any]] = mapped_column(
        JSONType, default=dict, server_default=sa.text("'{}'")
    )
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Profile(Base):
    __tablename__ = "profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    display_name: Mapped[str | None] = mapped_column(sa.String(64), default=None, index=True)
    avatar_url: Mapped[str | None] = mapped_column(sa.String(512), default=None)
    locale: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    country: Mapped[str | None] = mapped_column(sa.String(2), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Progression(Base):
    __tablename__ = "progressions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Friendship(Base):
    """One directed row per side. `pending` rows point from requester to addressee; an
    accepted friendship is two `accepted` rows."""

    __tablename__ = "friendships"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    friend_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
