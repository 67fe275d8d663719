"""Drops campaigns: staff create them, edit them and read their numbers.

A campaign maps Twitch benefit ids to SKU lines for a time window. Only `active` campaigns
grant, and only for entitlements claimed inside their window; the SKUs a campaign names must
exist when it is saved, so a drop never fails on a typo later.
"""

from __future__ import annotations

import secrets

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.commerce.keyed import SkuLine, check_skus
from playerplatform.drops import repository
from playerplatform.drops.models import FAILED, FULFILLED, GRANTED, PENDING_LINK, Campaign
from playerplatform.drops.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStats,
    DropPageKey,
    Reward,
)
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import PageParams, decode_cursor


def _rewards(rewards: list[Reward]) -> list[dict[str, object]]:
    return [r.model_dump(mode="json") for r in rewards]


async def _check_rewards(uow: UnitOfWork, rewards: list[Reward]) -> None:
    await check_skus(uow, [SkuLine(g.sku_id, g.quantity) for r in rewards for g in r.grants])


async def create_campaign(
    uow: UnitOfWork, body: CampaignIn, *, actor: Principal, client: ClientInfo
) -> CampaignOut:
    await _check_rewards(uow, body.rewards)
    now = utcnow()
    campaign = Campaign(
        campaign_id="cmp_" + secrets.token_hex(12),
        name=body.name,
        provider=body.provider,
        twitch_game_id=body.twitch_game_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        rewards=_rewards(body.rewards),
        status=body.status,
        created_at=now,
        updated_at=now,
    )
    await repository.insert_campaign(uow, campaign)
    out = CampaignOut.of(campaign)
    await audit.record(
        uow,
        action="drops.campaign_create",
        resource_type="campaign",
        resource_id=campaign.campaign_id,
        actor=actor,
        new=out.model_dump(mode="json"),
        client=client,
    )
    return out


async def get_campaign(uow: UnitOfWork, campaign_id: str) -> CampaignOut:
    campaign = await repository.get_campaign(uow, campaign_id)
    if campaign is None:
        raise NotFound("No such campaign.")
    return CampaignOut.of(campaign)


async def list_campaigns(
    uow: UnitOfWork, *, status: str | None, page: PageParams
) -> list[Campaign]:
    after = decode_cursor(page.cursor, DropPageKey)
    return await repository.list_campaigns(
        uow, status=status, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )


async def update_campaign(
    uow: UnitOfWork,
    campaign_id: str,
    patch: CampaignPatch,
    *,
    actor: Principal,
    client: ClientInfo,
) -> CampaignOut:
    campaign = await repository.get_campaign(uow, campaign_id, for_update=True)
    if campaign is None:
        raise NotFound("No such campaign.")
    before = CampaignOut.of(campaign).model_dump(mode="json")
    changes = patch.model_dump(exclude_unset=True)
    if patch.rewards is not None:
        await _check_rewards(uow, patch.rewards)
        changes["rewards"] = _rewards(patch.rewards)
    for name, value in changes.items():
        setattr(campaign, name, value)
    if campaign.ends_at <= campaign.starts_at:
        raise ValidationFailed("ends_at must be after starts_at.", field="ends_at")
    campaign.updated_at = utcnow()
    await uow.session.flush()
    out = CampaignOut.of(campaign)
    await audit.record(
        uow,
        action="drops.campaign_update",
        resource_type="campaign",
        resource_id=campaign_id,
        actor=actor,
        old=before,
        new=out.model_dump(mode="json"),
        client=client,
    )
    return out


async def campaign_stats(uow: UnitOfWork, campaign_id: str) -> CampaignStats:
    if await repository.get_campaign(uow, campaign_id) is None:
        raise NotFound("No such campaign.")
    counts = await repository.campaign_counts(uow, campaign_id)
    return CampaignStats(
        granted=counts.get(GRANTED, 0),
        pending_link=counts.get(PENDING_LINK, 0),
        fulfilled=counts.get(FULFILLED, 0),
        failed=counts.get(FAILED, 0),
    )
