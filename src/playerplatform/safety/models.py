"""Tables of the safety domain: sanctions, players' reports (grouped per target), appeals
against sanctions, feedback with its attachments, and the one moderation queue."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

OPEN = "status = 'open'"


def sanctions_owner(user_id: uuid.UUID) -> str:
    """The cached views of one player's own sanctions (`kit.views`)."""
    return f"sanctions:{user_id.hex}"


def reports_owner(user_id: uuid.UUID) -> str:
    """The cached views of the reports one player filed (`kit.views`)."""
    return f"reports:{user_id.hex}"


class Sanction(Base):
    """A warning, mute, suspension, ban or scoped restriction on one account. It is in force
    from `starts_at` until `ends_at` (None: until lifted) unless `lifted_at` is set."""

    __tablename__ = "safety_sanctions"
    __table_args__ = (sa.Index("ix_safety_sanctions_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(16))
    scope: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(32))
    # Words for the player beside the reason code (the ban routes' free-text reason).
    message: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    notes: Mapped[str | None] = mapped_column(sa.String(2000), default=None)  # staff only
    report_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    imposed_by: Mapped[str] = mapped_column(sa.String(64))
    starts_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lifted_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    lift_reason: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def views_owner(self) -> str:
        """Imposing or lifting one makes the player's cached sanctions stale (`kit.views`)."""
        return sanctions_owner(self.user_id)


class ReportGroup(Base):
    """Every open report on one target, together: a moderator decides them at once. Its
    priority rises with the number of distinct reporters."""

    __tablename__ = "safety_report_groups"
    __table_args__ = (
        sa.Index(
            "uq_safety_report_groups_open_target",
            "target_type",
            "target_id",
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    target_type: Mapped[str] = mapped_column(sa.String(24))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    # The player the target belongs to (the player reported, the creator, the scorer).
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    reporters: Mapped[int] = mapped_column(default=0)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # reason -> count
    outcome: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Report(Base):
    """One player's report; at most one per reporter, target and reason a day."""

    __tablename__ = "safety_reports"
    __table_args__ = (
        sa.UniqueConstraint(
            "reporter_id",
            "target_type",
            "target_id",
            "reason",
            "day",
            name="uq_safety_reports_reporter_target_reason_day",
        ),
        sa.Index("ix_safety_reports_reporter_id_created_at", "reporter_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    group_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("safety_report_groups.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(sa.String(24))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def views_owner(self) -> str:
        """Filing one makes the reporter's list stale; a decision on its group renews the
        reporters' lists where it is made (`reports._close_group`)."""
        return reports_owner(self.reporter_id)


class SanctionAppeal(Base):
    """A player's appeal against one of their sanctions (one open appeal per sanction).
    Appeals against content live with the content (`ugc`); both are decided the same way."""

    __tablename__ = "safety_appeals"
    __table_args__ = (
        sa.Index(
            "uq_safety_appeals_open_sanction",
            "sanction_id",
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    sanction_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("safety_sanctions.id", ondelete="CASCADE"), index=True
    )
    appellant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    message: Mapped[str] = mapped_column(sa.String(4000))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    notes: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    def views_owner(self) -> str:
        """An appeal opened or decided changes whether the sanction can be appealed."""
        return sanctions_owner(self.appellant_id)


class Feedback(Base):
    """A bug report, suggestion or praise from a player, and its triage."""

    __tablename__ = "safety_feedback"
    __table_args__ = (
        sa.Index("ix_safety_feedback_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_safety_feedback_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.String(4000))
    build: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    platform: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    status: Mapped[str] = mapped_column(sa.String(16), default="new")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    notes: Mapped[str | None] = mapped_column(sa.String(4000), default=None)
    duplicate_of: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    reply: Mapped[str | None] = mapped_column(sa.String(4000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FeedbackAttachment(Base):
    """A file sent with feedback: uploaded to a signed URL, scanned like UGC before staff can
    fetch it; an infected one is quarantined and never served."""

    __tablename__ = "safety_feedback_attachments"
    __table_args__ = (
        sa.UniqueConstraint(
            "feedback_id", "filename", name="uq_safety_feedback_attachments_feedback_id_filename"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    feedback_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("safety_feedback.id", ondelete="CASCADE")
    )
    filename: Mapped[str] = mapped_column(sa.String(128))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(128))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    object_key: Mapped[str] = mapped_column(sa.String(512))
    # awaiting_upload -> scanning -> clean | infected | unscanned (no scanner configured)
    scan_state: Mapped[str] = mapped_column(sa.String(16), default="awaiting_upload")
    scan_note: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class QueueItem(Base):
    """One piece of moderation work: a UGC review, a report group, an appeal or feedback.
    `assignee` holds the moderator working it; two never hold one item."""

    __tablename__ = "safety_queue"
    __table_args__ = (
        sa.UniqueConstraint("type", "ref_id", name="uq_safety_queue_type_ref_id"),
        sa.Index("ix_safety_queue_status_priority_created_at", "status", "priority", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    type: Mapped[str] = mapped_column(sa.String(16))
    ref_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    priority: Mapped[int] = mapped_column(default=0)
    assignee: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    subject: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
