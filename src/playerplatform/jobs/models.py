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


class ParkedItem(Base):
    """One item a batch job set aside instead of failing the batch for everyone: what it was
    (`item`, as escaped JSON text, so even bytes the database refused elsewhere fit here), why
    it failed, and whether it was since resolved. `source` names the job ("leaderboards.
    write_behind"), `scope` what it belongs to (a season), `key` the item within its source;
    parking the same key again counts another attempt on the same row."""

    __tablename__ = "parked_items"
    __table_args__ = (
        sa.UniqueConstraint("source", "key"),
        sa.Index("ix_parked_items_open", "source", "scope", "resolved_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    source: Mapped[str] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(128))
    key: Mapped[str] = mapped_column(sa.String(255))
    item: Mapped[str] = mapped_column(sa.Text)
    error: Mapped[str] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=1)
    parked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_parked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(sa.String(32), default=None)
