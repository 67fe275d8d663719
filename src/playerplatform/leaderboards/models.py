"""Tables of the leaderboards domain: seasons and their durable entries.

The hot store ranks live seasons; `leaderboard_entries` is the durable copy written behind
in batches, the source a lost hot store is rebuilt from, and, once a season ends, its
archive with the frozen `rank`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

SEASONS_OWNER = "seasons"  # of the cached season lists (`kit.views`)
OPEN = "open"
CLOSING = "closing"  # end reached or closed by an admin; the worker is freezing ranks
CLOSED = "closed"  # ranks frozen, hot keys freed


class Season(Base):
    __tablename__ = "seasons"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    season_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    type: Mapped[str] = mapped_column(sa.String(16))
    sort: Mapped[str] = mapped_column(sa.String(4))
    operator: Mapped[str] = mapped_column(sa.String(16))
    reset_rule: Mapped[str] = mapped_column(sa.String(16))
    start_date: Mapped[dt.datetime]
    end_date: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    recurrence: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    series: Mapped[str] = mapped_column(sa.String(64), index=True)
    sequence: Mapped[int] = mapped_column(sa.Integer, default=1)
    authoritative: Mapped[bool] = mapped_column(default=False)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # Rank ranges and the SKU lines each sends when the season closes:
    # [{"from_rank", "to_rank", "attachments": [{"sku_id", "quantity"}]}].
    reward_tiers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    state: Mapped[str] = mapped_column(sa.String(16), default=OPEN, index=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def views_owner(self) -> str:
        """Changing a season makes the season lists stale (`kit.views`)."""
        return SEASONS_OWNER


class LeaderboardEntry(Base):
    __tablename__ = "leaderboard_entries"
    __table_args__ = (
        sa.UniqueConstraint("season_pk", "user_id"),
        sa.Index("ix_leaderboard_entries_season_pk_rank", "season_pk", "rank"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    season_pk: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("seasons.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(sa.Double)
    achieved_us: Mapped[int] = mapped_column(sa.BigInteger)  # tie-break, exact to the µs
    submitted_at: Mapped[dt.datetime]
    region: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType, default=None)
    rank: Mapped[int | None] = mapped_column(sa.Integer, default=None)
    removed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    removed_reason: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
