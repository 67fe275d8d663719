"""Tables of the ugc domain: items, their tags, scans, ratings, counted downloads, player
reports and creators' appeals."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

OPEN = "status = 'open'"


class Ugc(Base):
    __tablename__ = "ugc"
    __table_args__ = (
        sa.Index("ix_ugc_browse_newest", "status", "visibility", "published_at"),
        sa.Index("ix_ugc_status_created_at", "status", "created_at"),
        sa.Index("ix_ugc_creator_id_created_at", "creator_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    creator_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(16), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    item_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16))
    visibility: Mapped[str] = mapped_column(sa.String(16))
    filename: Mapped[str] = mapped_column(sa.String(128))
    upload_key: Mapped[str] = mapped_column(sa.String(512))
    # Where the bytes are now: the released copy once scanned, the quarantine copy when infected.
    object_key: Mapped[str | None] = mapped_column(sa.String(512), default=None)
    content_type: Mapped[str] = mapped_column(sa.String(128))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    checksum: Mapped[str] = mapped_column(sa.String(64))
    scan_state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    scan_round: Mapped[int] = mapped_column(default=0)
    status_reason: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    status_note: Mapped[str | None] = mapped_column(sa.String(1000), default=None)
    downloads_count: Mapped[int] = mapped_column(default=0, index=True)
    rating_sum: Mapped[int] = mapped_column(default=0)
    rating_count: Mapped[int] = mapped_column(default=0)
    rating_average: Mapped[float] = mapped_column(default=0.0, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    uploaded_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class UgcTag(Base):
    __tablename__ = "ugc_tags"

    ugc_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ugc.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(32), primary_key=True, index=True)


class UgcScan(Base):
    """One scan of one upload (an item is scanned again after a granted malware appeal)."""

    __tablename__ = "ugc_scans"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    ugc_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ugc.id", ondelete="CASCADE"), index=True
    )
    round: Mapped[int] = mapped_column()
    scanner: Mapped[str] = mapped_column(sa.String(32))
    verdict: Mapped[str] = mapped_column(sa.String(16))
    signature: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    report_key: Mapped[str] = mapped_column(sa.String(512))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UgcRating(Base):
    __tablename__ = "ugc_ratings"

    ugc_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ugc.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    value: Mapped[int] = mapped_column()
    # The value this one replaced (set by the rating's upsert: the statement moves the item's
    # sum by the difference without reading the rating first).
    previous_value: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UgcDownload(Base):
    """One counted download per player, item and UTC day."""

    __tablename__ = "ugc_downloads"
    __table_args__ = (sa.Index("ix_ugc_downloads_day_ugc_id", "day", "ugc_id"),)

    ugc_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ugc.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    day: Mapped[dt.date] = mapped_column(sa.Date, primary_key=True)


class UgcReport(Base):
    __tablename__ = "ugc_reports"
    __table_args__ = (
        sa.Index(
            "uq_ugc_reports_open_per_reporter",
            "ugc_id",
            "reporter_id",
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        ),
        sa.Index("ix_ugc_reports_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    ugc_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("ugc.id", ondelete="CASCADE"), index=True
    )
    reporter_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    # The reporter's weight when filing (account age, verification, past accuracy).
    weight: Mapped[float] = mapped_column(sa.Float, default=1.0, server_default=sa.text("1.0"))
    decided_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    notes: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Appeal(Base):
    """A creator's appeal against flagged or removed content (one open appeal per item)."""

    __tablename__ = "appeals"
    __table_args__ = (
        sa.Index(
            "uq_appeals_open_per_ugc",
            "ugc_id",
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        ),
        sa.Index("ix_appeals_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    ugc_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("ugc.id", ondelete="CASCADE"))
    appellant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    message: Mapped[str] = mapped_column(sa.String(4000))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    notes: Mapped[str | None] = mapped_column(sa.String(2000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
