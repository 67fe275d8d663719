"""Tables owned by the auth domain: identities, link history, sessions, refresh tokens,
service accounts, signing keys and one-time email tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (sa.UniqueConstraint("provider", "provider_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(sa.String(16))
    provider_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    secret_hash: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AccountLink(Base):
    """History of every link, unlink and merge move, per identity."""

    __tablename__ = "account_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(sa.String(16))
    provider_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    action: Mapped[str] = mapped_column(sa.String(16), index=True)
    other_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Session(Base):
    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    refreshed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(32), default=None)


class RefreshToken(Base):
    """Single-use refresh tokens, stored as SHA-256 hashes. A used token presented again
    revokes its session (reuse detection)."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ServiceAccount(Base):
    __tablename__ = "service_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    created_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(sa.String(16))
    private_pem: Mapped[str] = mapped_column(sa.Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class EmailToken(Base):
    """One-time tokens mailed for verification and password reset (hashed at rest)."""

    __tablename__ = "email_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(16))
    email: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class SecondFactor(Base):
    """An account's TOTP second factor (RFC 6238). Pending until a first code confirms it;
    `last_step` is the time step of the last code accepted, so no code works twice."""

    __tablename__ = "second_factors"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(sa.String(64))  # base32, as authenticator apps take it
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
