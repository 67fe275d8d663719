"""EventSub subscriptions for Drops: created for what active campaigns need, listed with
their status, and revocations recorded (logged as errors and counted in
`twitch_subscription_revocations_total`, so an alert can fire; the reconciliation keeps
pulling entitlements meanwhile, so nothing is lost).

A `drop.entitlement.grant` subscription's condition needs the studio's Twitch organization
id (`PP_TWITCH_ORGANIZATION_ID`); one subscription is made per game (`category_id`) of the
active campaigns, with batching on (Drops require it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.drops import repository
from playerplatform.drops.schemas import SubscriptionOut
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import ProviderError
from playerplatform.kit.metrics import counter
from playerplatform.platforms.twitch import EventSubSubscription

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.drops")
DROP_GRANT = "drop.entitlement.grant"
CALLBACK_PATH = "/api/v1/webhooks/twitch"
REVOCATIONS = counter(
    "twitch_subscription_revocations_total", "EventSub subscriptions Twitch revoked.", ("reason",)
)
LIVE = ("enabled", "webhook_callback_verification_pending")


def _row(sub: EventSubSubscription) -> dict[str, Any]:
    now = utcnow()
    return {
        "subscription_id": sub.subscription_id,
        "type": sub.type,
        "version": sub.version,
        "condition": dict(sub.condition),
        "status": sub.status,
        "created_at": now,
        "updated_at": now,
    }


async def subscribe(rt: Runtime) -> list[SubscriptionOut]:
    """Create the subscriptions active campaigns need and do not have yet; returns all."""
    settings = rt.settings
    secret = settings.twitch_eventsub_secret
    if not settings.twitch_organization_id or secret is None:
        raise ProviderError(
            "Twitch is not configured for EventSub (PP_TWITCH_ORGANIZATION_ID, "
            "PP_TWITCH_EVENTSUB_SECRET)."
        )
    async with rt.db.unit_of_work(write=False) as read:
        games = sorted({c.twitch_game_id for c in await repository.active_campaigns(read)})
    existing = await rt.twitch_app.subscriptions()
    covered = {
        str(s.condition.get("category_id"))
        for s in existing
        if s.type == DROP_GRANT and s.status in LIVE
    }
    callback = settings.public_url.rstrip("/") + CALLBACK_PATH
    made = [
        await rt.twitch_app.create_subscription(
            DROP_GRANT,
            "1",
            {"organization_id": settings.twitch_organization_id, "category_id": game_id},
            callback,
            secret.get_secret_value(),
        )
        for game_id in games
        if game_id not in covered
    ]
    async with rt.db.unit_of_work() as uow:
        for sub in [*existing, *made]:
            await repository.upsert_subscription(uow, _row(sub))
    return await subscriptions(rt)


async def subscriptions(rt: Runtime) -> list[SubscriptionOut]:
    """The subscriptions as Twitch lists them now (recorded here too), plus any recorded here
    that Twitch no longer lists (revoked ones)."""
    listed = await rt.twitch_app.subscriptions()
    async with rt.db.unit_of_work() as uow:
        for sub in listed:
            await repository.upsert_subscription(uow, _row(sub))
    async with rt.db.unit_of_work(write=False) as uow:
        return [SubscriptionOut.of(s) for s in await repository.list_subscriptions(uow)]


async def recorded_subscriptions(uow: UnitOfWork) -> list[SubscriptionOut]:
    return [SubscriptionOut.of(s) for s in await repository.list_subscriptions(uow)]


def _described(subscription: dict[str, Any]) -> dict[str, Any]:
    condition = subscription.get("condition")
    return {
        "subscription_id": str(subscription.get("id", ""))[:64],
        "type": str(subscription.get("type", ""))[:128],
        "version": str(subscription.get("version", ""))[:16],
        "condition": condition if isinstance(condition, dict) else {},
        "status": str(subscription.get("status", ""))[:64],
    }


async def record_verified(uow: UnitOfWork, subscription: dict[str, Any]) -> None:
    """Twitch verified our callback: the subscription is live."""
    row = _described(subscription)
    if not row["subscription_id"]:
        return
    now = utcnow()
    await repository.upsert_subscription(
        uow, {**row, "status": "enabled", "created_at": now, "updated_at": now}
    )


async def record_revocation(uow: UnitOfWork, subscription: dict[str, Any]) -> None:
    """Twitch revoked a subscription: keep why, and raise it in the logs and metrics."""
    row = _described(subscription)
    if not row["subscription_id"]:
        return
    now = utcnow()
    await repository.upsert_subscription(
        uow, {**row, "created_at": now, "updated_at": now, "revoked_at": now}
    )
    REVOCATIONS.labels(row["status"] or "unknown").inc()
    log.error(
        "twitch_subscription_revoked",
        subscription_id=row["subscription_id"],
        type=row["type"],
        reason=row["status"],
    )
