"""The append-only audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, utcnow

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class AuditLog(Base):
    __tablename__ = "audit_logs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    resource_type: Mapped[str] = mapped_column(sa.String(32), index=True)
    resource_id: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="success")
    ip: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    request_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)


class AuditSubject(Base):
    """Every account an audited action touched, for `?user=` queries."""

    __tablename__ = "audit_log_subjects"

    audit_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("audit_logs.id", ondelete="CASCADE"), primary_key=True
    )
    subject_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, index=True)
