"""Telling players how a season ended: each ranked player gets their rank, and the rewards
of the tier their rank falls in as attachments (a `reward` message) or a plain notice.

Exactly once per player per season: every message is keyed by the season and the player,
and is written in the closing transaction, so a retried or doubled close finds the messages
the first one wrote (and a close that finds the season closed sends nothing at all).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import ValidationFailed
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.models import Season
from playerplatform.messaging.notify import notify

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.leaderboards")


def tier_for(tiers: list[dict[str, Any]], rank: int) -> dict[str, Any] | None:
    return next((t for t in tiers if t["from_rank"] <= rank <= t["to_rank"]), None)


async def tell_ranked_players(uow: UnitOfWork, rt: Runtime, season: Season) -> int:
    """One message per ranked player; returns how many carry rewards."""
    rewarded = 0
    tiers = list(season.reward_tiers or [])
    for user_id, rank in await repository.final_ranks(uow, season):
        tier = tier_for(tiers, rank)
        if tier is not None and await _reward(uow, rt, season, user_id, rank, tier):
            rewarded += 1
            continue
        await notify(
            uow,
            rt,
            user_id,
            "system",
            title=f"{season.name} has ended",
            body=f"You finished #{rank}.",
            data={"season_id": season.season_id, "rank": rank},
            key=f"season:{season.id.hex}:end:{user_id.hex}",
            event="season_ended",
        )
    return rewarded


async def _reward(
    uow: UnitOfWork,
    rt: Runtime,
    season: Season,
    user_id: uuid.UUID,
    rank: int,
    tier: dict[str, Any],
) -> bool:
    try:
        await notify(
            uow,
            rt,
            user_id,
            "reward",
            title=f"{season.name}: your rewards",
            body=f"You finished #{rank}. Claim your rewards!",
            data={"season_id": season.season_id, "rank": rank},
            attachments=tier["attachments"],
            key=f"season:{season.id.hex}:reward:{user_id.hex}",
            event="season_ended",
        )
    except ValidationFailed:  # a reward SKU retired since: the player still learns their rank
        log.warning("season_reward_unavailable", season_id=season.season_id, rank=rank)
        return False
    return True
