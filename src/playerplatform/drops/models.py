"""Tables of the drops domain: campaigns, every Twitch entitlement seen (one row per
`entitlement_id`: the grant's lock) and the EventSub subscriptions we created."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow

# Drop statuses: waiting for its Twitch account to be linked, granted here, marked FULFILLED
# at Twitch, granted but refused by Twitch for good, or a benefit no active campaign maps.
PENDING_LINK, GRANTED, FULFILLED, FAILED, UNMAPPED = (
    "pending_link",
    "granted",
    "fulfilled",
    "failed",
    "unmapped",
)
CAMPAIGN_STATUSES = ("draft", "active", "ended")


class Campaign(Base):
    __tablename__ = "drop_campaigns"
    __table_args__ = (sa.Index("ix_drop_campaigns_status_created_at", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    campaign_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    provider: Mapped[str] = mapped_column(sa.String(16), default="twitch")
    twitch_game_id: Mapped[str] = mapped_column(sa.String(64))
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    rewards: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def drops_owner(user_id: uuid.UUID | None) -> str:
    """The cached views of one player's drops (`kit.views`); a drop waiting for its Twitch
    account to be linked is nobody's yet."""
    return f"drops:{user_id.hex if user_id else '-'}"


class Drop(Base):
    """One Twitch entitlement. Inserted once (unique `entitlement_id`), whichever of EventSub,
    sync or reconciliation sees it first; its grant keys derive from the entitlement id."""

    __tablename__ = "drops"
    __table_args__ = (
        sa.Index("ix_drops_user_id_created_at", "user_id", "created_at"),
        sa.Index("ix_drops_twitch_user_id_status", "twitch_user_id", "status"),
        sa.Index("ix_drops_campaign_id_status", "campaign_id", "status"),
        sa.Index("ix_drops_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    drop_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    entitlement_id: Mapped[str] = mapped_column(sa.String(128), unique=True)
    twitch_user_id: Mapped[str] = mapped_column(sa.String(64))
    benefit_id: Mapped[str] = mapped_column(sa.String(128))
    game_id: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    campaign_id: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(sa.String(16))
    grants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(sa.String(16))
    fulfil_attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    granted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    fulfilled_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    def views_owner(self) -> str:
        """Granting a drop to a player (or changing it) makes their drop list stale."""
        return drops_owner(self.user_id)


class TwitchSubscription(Base):
    """An EventSub subscription as Twitch last described it; a revocation is kept here."""

    __tablename__ = "twitch_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    subscription_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    type: Mapped[str] = mapped_column(sa.String(128))
    version: Mapped[str] = mapped_column(sa.String(16))
    condition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
