"""Job rows (the transactional outbox and, in the embedded shape, the queue itself) and the
scheduler's record of the last tick each periodic entry ran for."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

PENDING = "pending"
RUNNING = "running"  # claimed by an embedded worker (the broker shape never sets it)
DONE = "done"
DEAD = "dead"
STATUSES = (PENDING, RUNNING, DONE, DEAD)


def new_public_id() -> str:
    """The opaque id admins and logs see; the internal UUID never leaves the server."""
    return f"job_{secrets.token_urlsafe(15)}"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.UniqueConstraint("queue", "key"),
        sa.Index("ix_jobs_status_run_at", "status", "run_at"),
        sa.Index("ix_jobs_queue_status_created_at", "queue", "status", "created_at"),
        # The relay's work list: committed rows not yet handed to the broker.
        sa.Index(
            "ix_jobs_unpublished",
            "created_at",
            postgresql_where=sa.text("published_at IS NULL AND status = 'pending'"),
            sqlite_where=sa.text("published_at IS NULL AND status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    queue: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    run_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    locked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ScheduledRun(Base):
    __tablename__ = "scheduled_runs"

    name: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    last_tick: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
