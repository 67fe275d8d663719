"""Pulling CLAIMED entitlements from Helix: a player's own sync, and the scheduled
reconciliation over every active campaign, for games without EventSub and for anything a
missed or revoked subscription lost. Both hand what they find to `grants.receive`, so an
entitlement EventSub already delivered is never granted again.

Network first, writes after: the Helix calls run before the caller's transaction writes
(on SQLite the first write takes the single writer lock).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import structlog

from playerplatform.auth import service as auth
from playerplatform.drops import repository
from playerplatform.drops.grants import Claim, grant_linked, queue_fulfilment, receive
from playerplatform.drops.models import GRANTED
from playerplatform.drops.schemas import DropOut, SyncOut
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import Conflict
from playerplatform.platforms.twitch import DropEntitlement

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.drops")
PENDING_SWEEP = 500  # Twitch users with waiting drops checked per reconciliation


def claim_of(row: DropEntitlement) -> Claim:
    claimed_at = None
    if row.timestamp:
        try:
            claimed_at = dt.datetime.fromisoformat(row.timestamp.replace("Z", "+00:00"))
        except ValueError:
            claimed_at = None
    return Claim(
        entitlement_id=row.entitlement_id,
        benefit_id=row.benefit_id,
        twitch_user_id=row.user_id,
        game_id=row.game_id,
        claimed_at=claimed_at.astimezone(dt.UTC) if claimed_at else None,
    )


async def pull_player(rt: Runtime, user_id: uuid.UUID) -> list[DropEntitlement]:
    """The caller's CLAIMED entitlements at Twitch, all pages (no write: call it before the
    request's transaction writes anything); 409 `twitch_not_linked` without a linked Twitch
    account."""
    async with rt.db.unit_of_work(write=False) as read:
        identities = await auth.linked_identities(read, user_id)
    twitch_ids = [i.provider_id for i in identities if i.provider == "twitch"]
    if not twitch_ids:
        raise Conflict("Link a Twitch account first.", code="twitch_not_linked")
    rows: list[DropEntitlement] = []
    for twitch_id in twitch_ids:
        rows.extend(await rt.twitch_app.claimed_drops(user_id=twitch_id))
    return rows


async def grant_pulled(uow: UnitOfWork, rt: Runtime, rows: list[DropEntitlement]) -> SyncOut:
    """Grant what `pull_player` found and no path handled before; queue fulfilment for
    anything granted earlier that Twitch still lists as CLAIMED. Returns the drops granted
    now."""
    created = await receive(uow, rt, [claim_of(r) for r in rows], source="sync")
    granted = [d for d in created if d.status == GRANTED]
    new_ids = {d.entitlement_id for d in created}
    known = [r.entitlement_id for r in rows if r.entitlement_id not in new_ids]
    await queue_fulfilment(uow, await repository.unfulfilled(uow, known))
    return SyncOut(items=[DropOut.of(d) for d in granted])


async def reconcile(uow: UnitOfWork, rt: Runtime) -> dict[str, int]:
    """Every active campaign's CLAIMED entitlements, and every waiting drop whose Twitch
    account has been linked since; returns counts for the log."""
    async with rt.db.unit_of_work(write=False) as read:
        games = sorted({c.twitch_game_id for c in await repository.active_campaigns(read)})
        waiting = await repository.pending_twitch_users(read, limit=PENDING_SWEEP)
    rows: list[DropEntitlement] = []
    for game_id in games:
        try:
            rows.extend(await rt.twitch_app.claimed_drops(game_id=game_id))
        except Exception as exc:  # one game's failure does not stop the others
            log.warning("drops_reconcile_failed", game_id=game_id, error=str(exc))
    created = await receive(uow, rt, [claim_of(r) for r in rows], source="reconcile")
    new_ids = {d.entitlement_id for d in created}
    stale = await repository.unfulfilled(
        uow, [r.entitlement_id for r in rows if r.entitlement_id not in new_ids]
    )
    await queue_fulfilment(uow, stale)
    linked = 0
    for twitch_user_id in waiting:
        linked += len(await grant_linked(uow, rt, twitch_user_id))
    counts = {"claimed": len(rows), "new": len(created), "refulfil": len(stale), "linked": linked}
    log.info("drops_reconciled", **counts)
    return counts
