"""Wire models of the drops domain."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from playerplatform.drops.models import FAILED, Campaign, Drop, TwitchSubscription
from playerplatform.kit.edge import EdgeModel, NotNull, Timestamp, clean_line
from playerplatform.kit.pagination import CursorKey, CursorText, CursorTime

Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(clean_line)]
TwitchId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
BenefitId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
SkuId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
CampaignStatus = Literal["draft", "active", "ended"]


class GrantLine(EdgeModel):
    sku_id: SkuId
    quantity: int = Field(default=1, ge=1, le=1_000_000)


class Reward(EdgeModel):
    """A Twitch benefit and the SKU lines it grants."""

    benefit_id: BenefitId
    grants: list[GrantLine] = Field(min_length=1, max_length=20)


def _distinct_benefits(rewards: list[Reward] | None) -> None:
    if rewards is not None and len({r.benefit_id for r in rewards}) != len(rewards):
        raise ValueError("each benefit_id may appear once")


Rewards = Annotated[list[Reward], Field(min_length=1, max_length=100)]


class CampaignIn(EdgeModel):
    name: Name
    provider: Literal["twitch"] = "twitch"
    twitch_game_id: TwitchId
    starts_at: Timestamp
    ends_at: Timestamp
    rewards: Rewards
    status: CampaignStatus = "draft"

    @model_validator(mode="after")
    def _window(self) -> CampaignIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        _distinct_benefits(self.rewards)
        return self


class CampaignPatch(EdgeModel):
    name: Annotated[Name | None, NotNull()] = None
    twitch_game_id: Annotated[TwitchId | None, NotNull()] = None
    starts_at: Annotated[Timestamp | None, NotNull()] = None
    ends_at: Annotated[Timestamp | None, NotNull()] = None
    rewards: Annotated[Rewards | None, NotNull()] = None
    status: Annotated[CampaignStatus | None, NotNull()] = None

    @model_validator(mode="after")
    def _benefits(self) -> CampaignPatch:
        _distinct_benefits(self.rewards)
        return self


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    provider: str
    twitch_game_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    rewards: list[dict[str, Any]]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Campaign) -> CampaignOut:
        return cls(
            campaign_id=row.campaign_id,
            name=row.name,
            provider=row.provider,
            twitch_game_id=row.twitch_game_id,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            rewards=row.rewards,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CampaignStats(BaseModel):
    granted: int  # granted here, Twitch not yet told (or telling it failed for now)
    pending_link: int
    fulfilled: int
    failed: int  # granted, but Twitch refused to mark the entitlement FULFILLED


class DropOut(BaseModel):
    drop_id: str
    campaign_id: str | None
    benefit_id: str
    status: str
    grants: list[dict[str, Any]]
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Drop) -> DropOut:
        # Twitch refusing the FULFILLED mark is the studio's concern: the player has the items.
        status = "granted" if row.status == FAILED else row.status
        return cls(
            drop_id=row.drop_id,
            campaign_id=row.campaign_id,
            benefit_id=row.benefit_id,
            status=status,
            grants=row.grants,
            created_at=row.created_at,
        )


class StaffDropOut(DropOut):
    """A drop as staff see it: whose, from where, and every status (`unmapped` too)."""

    entitlement_id: str
    twitch_user_id: str
    game_id: str | None
    source: str
    last_error: str | None

    @classmethod
    def of(cls, row: Drop) -> StaffDropOut:
        return cls(
            **DropOut.of(row).model_dump(),
            entitlement_id=row.entitlement_id,
            twitch_user_id=row.twitch_user_id,
            game_id=row.game_id,
            source=row.source,
            last_error=row.last_error,
        ).model_copy(update={"status": row.status})


class SyncOut(BaseModel):
    """The drops this sync granted."""

    items: list[DropOut]


class SubscriptionOut(BaseModel):
    subscription_id: str
    type: str
    version: str
    condition: dict[str, Any]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: TwitchSubscription) -> SubscriptionOut:
        return cls(
            subscription_id=row.subscription_id,
            type=row.type,
            version=row.version,
            condition=row.condition,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            revoked_at=row.revoked_at,
        )


class DropPageKey(CursorKey):
    t: CursorTime
    i: CursorText
