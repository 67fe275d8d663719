"""Granting Twitch drops: each entitlement exactly once, whichever path sees it first.

`receive` takes entitlements from any path (EventSub notifications, a player's sync, the
scheduled reconciliation). Each one first claims its row in `drops` (unique
`entitlement_id`): the path that inserts the row handles the entitlement, every other path,
now or later, finds it and does nothing. Then, in the same transaction:

- a benefit no active campaign maps (for the entitlement's game and claim time) is recorded
  as `unmapped`, granted nothing, and listed for staff;
- a Twitch user linked to no account waits as `pending_link`; linking that Twitch account
  queues `grant_linked`, which grants everything waiting for it;
- otherwise the campaign's SKU lines are granted through commerce with keys derived from
  the entitlement id (a second guard: even a row lost and re-created grants nothing twice),
  the player is told, and a fulfilment job is queued to mark the entitlement FULFILLED at
  Twitch once this commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.auth import service as auth
from playerplatform.commerce.keyed import SkuLine, grant_skus
from playerplatform.drops import notices, repository
from playerplatform.drops.models import GRANTED, PENDING_LINK, UNMAPPED, Campaign, Drop
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork, utcnow

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.drops")

QUEUE = "webhook_processing"  # drops have no queue of their own: they ride on the webhooks'
FULFIL_KIND = "drops_fulfil"
LINK_KIND = "drops_link"
RECONCILE_KIND = "drops_reconcile"


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed Twitch entitlement, however it reached us."""

    entitlement_id: str
    benefit_id: str
    twitch_user_id: str
    game_id: str | None
    claimed_at: dt.datetime | None


def new_drop_id() -> str:
    return "drp_" + secrets.token_hex(12)


def campaign_for(
    campaigns: Sequence[Campaign], claim: Claim, now: dt.datetime
) -> tuple[Campaign, list[dict[str, Any]]] | None:
    """The active campaign mapping the claim's benefit (for its game, at its claim time) and
    the SKU lines it grants."""
    when = claim.claimed_at or now
    for campaign in campaigns:
        if claim.game_id and campaign.twitch_game_id != claim.game_id:
            continue
        if not campaign.starts_at <= when <= campaign.ends_at:
            continue
        for reward in campaign.rewards:
            if reward.get("benefit_id") == claim.benefit_id:
                return campaign, list(reward.get("grants") or [])
    return None


async def receive(
    uow: UnitOfWork, rt: Runtime, claims: Sequence[Claim], *, source: str
) -> list[Drop]:
    """Handle the claims no path handled before (see the module docstring); returns the
    drops this call created, in order."""
    # In one order everywhere: two paths inserting overlapping batches at once then wait on
    # each other's rows in the same order instead of deadlocking.
    fresh = {c.entitlement_id: c for c in sorted(claims, key=lambda c: c.entitlement_id)}
    known = await repository.known_entitlements(uow, list(fresh))
    if len(known) == len(fresh):
        return []
    campaigns = await repository.active_campaigns(uow)
    now = utcnow()
    created: list[Drop] = []
    granted: list[str] = []
    for claim in fresh.values():
        if claim.entitlement_id in known:
            continue
        match = campaign_for(campaigns, claim, now)
        claimed = await repository.claim_drop(
            uow,
            {
                "drop_id": new_drop_id(),
                "entitlement_id": claim.entitlement_id,
                "twitch_user_id": claim.twitch_user_id,
                "benefit_id": claim.benefit_id,
                "game_id": claim.game_id,
                "campaign_id": match[0].campaign_id if match else None,
                "status": PENDING_LINK if match else UNMAPPED,
                "grants": match[1] if match else [],
                "source": source,
                "fulfil_attempts": 0,
                "claimed_at": claim.claimed_at,
                "created_at": now,
            },
        )
        if not claimed:
            continue  # another path got there first
        drop = await repository.get_drop(uow, claim.entitlement_id)
        assert drop is not None
        if match is None:
            log.info(
                "drop_unmapped", entitlement_id=claim.entitlement_id, benefit_id=claim.benefit_id
            )
        elif await _grant(uow, rt, drop):
            granted.append(drop.entitlement_id)
        created.append(drop)
    await queue_fulfilment(uow, granted)
    return created


async def _grant(uow: UnitOfWork, rt: Runtime, drop: Drop) -> bool:
    """Grant a `pending_link` drop when its Twitch user is linked to an account."""
    user_id = await auth.owner_of_identity(uow, "twitch", drop.twitch_user_id)
    if user_id is None:
        return False
    await grant_skus(
        uow,
        rt,
        user_id=user_id,
        lines=[SkuLine(str(g["sku_id"]), int(g.get("quantity", 1))) for g in drop.grants],
        key=f"twitch:{drop.entitlement_id}",
        source="drop",
        reason=f"Twitch drop {drop.benefit_id}",
    )
    drop.status = GRANTED
    drop.user_id = user_id
    drop.granted_at = utcnow()
    await uow.session.flush()
    await _tell(uow, rt, user_id, drop)
    return True


async def _tell(uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, drop: Drop) -> None:
    items = ", ".join(f"{g.get('quantity', 1)} x {g['sku_id']}" for g in drop.grants)
    await notices.notify(
        uow,
        rt,
        user_id=user_id,
        kind="drop_granted",
        title="Your Twitch drop arrived",
        body=f"Your Twitch drop is in your account: {items}.",
        data={"drop_id": drop.drop_id, "campaign_id": drop.campaign_id, "grants": drop.grants},
    )


async def grant_linked(uow: UnitOfWork, rt: Runtime, twitch_user_id: str) -> list[Drop]:
    """Grant every drop waiting for `twitch_user_id` now that it is linked (idempotent)."""
    done: list[Drop] = []
    for entitlement_id in await repository.pending_for_twitch_user(uow, twitch_user_id):
        drop = await repository.get_drop(uow, entitlement_id, for_update=True)
        if drop is None or drop.status != PENDING_LINK:
            continue
        if await _grant(uow, rt, drop):
            done.append(drop)
    await queue_fulfilment(uow, [d.entitlement_id for d in done])
    return done


async def queue_fulfilment(
    uow: UnitOfWork, entitlement_ids: Sequence[str], *, round_: int = 1, delay: float = 0.0
) -> None:
    """Queue marking `entitlement_ids` FULFILLED at Twitch once this transaction commits."""
    if not entitlement_ids:
        return
    ids = sorted(set(entitlement_ids))
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
    await enqueue(
        uow,
        QUEUE,
        {"kind": FULFIL_KIND, "entitlement_ids": ids, "round": round_},
        key=f"drops_fulfil:{digest}:{round_}",
        run_at=utcnow() + dt.timedelta(seconds=delay) if delay else None,
    )


async def queue_link_grants(uow: UnitOfWork, twitch_user_id: str) -> None:
    """Queue `grant_linked` for a Twitch account just linked (runs once the link commits)."""
    await enqueue(
        uow,
        QUEUE,
        {"kind": LINK_KIND, "twitch_user_id": twitch_user_id},
        key=f"drops_link:{twitch_user_id}:{secrets.token_hex(6)}",
    )
