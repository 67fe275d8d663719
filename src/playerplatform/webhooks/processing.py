"""Processing stored webhook events (`webhook_processing`: kind `webhook_events` for the
events an intake batch stored, kind `webhook_event` for one event).

Idempotent twice over: per event (the row is locked, and an event already `processed` or
`duplicate` is left alone: the processed marker) and per business key (a Twitch
`entitlement_id` is granted once whichever path sees it; a studio event's grants are keyed by
its id). A failing event raises so the job system retries it with backoff; on the last
attempt the failure is recorded on the event instead (`failed`, with the error: the
dead letter staff see in the console and can replay).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.commerce.keyed import SkuLine, grant_skus, revoke_skus
from playerplatform.drops import grants as drops
from playerplatform.drops import notices
from playerplatform.drops import subscriptions as twitch_subscriptions
from playerplatform.jobs import enqueue
from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.users import service as users
from playerplatform.webhooks import repository
from playerplatform.webhooks.intake import KIND, QUEUE, job_key
from playerplatform.webhooks.models import DUPLICATE, FAILED, PROCESSED, WebhookEvent
from playerplatform.webhooks.schemas import StudioGrant, StudioMessage

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.webhooks")


async def process_event(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
    """One event (kind `webhook_event`): a replay, or an event its batch could not process."""
    event = await repository.get_event(uow, str(job.payload["event_id"]), lock=True)
    if event is None or event.status in (PROCESSED, DUPLICATE):
        return
    try:
        async with uow.session.begin_nested():
            outcome = await act(uow, rt, event)
    except Exception as exc:
        if job.attempt < job.max_attempts:
            raise
        # The last attempt: keep the failure on the event (the dead letter) and finish the job.
        event.status = FAILED
        event.attempts = job.attempt
        event.last_error = f"{type(exc).__name__}: {exc}"[:500]
        await uow.session.flush()
        log.error("webhook_event_failed", event_id=event.event_id, error=event.last_error)
        return
    _finish(event, outcome, job.attempt)
    await uow.session.flush()


async def process_events(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
    """The events one intake batch stored (kind `webhook_events`), each on its own: in a
    savepoint of its own, skipped when processed already. An event that fails holds up none
    of the others: it goes on in a job of its own (`process_event`, keyed by the event, so
    once), which retries it with backoff and dead-letters it after the last attempt."""
    events = await repository.lock_events(uow, [str(e) for e in job.payload["event_ids"]])
    # In the order of the players they reach: batches processed at the same time then lock
    # the same players' rows in the same order, and wait for each other instead of deadlocking.
    for event in sorted(events, key=_player_of):
        if event.status in (PROCESSED, DUPLICATE):
            continue
        try:
            async with uow.session.begin_nested():
                outcome = await act(uow, rt, event)
        except Exception as exc:
            log.warning(
                "webhook_event_retried_alone",
                event_id=event.event_id,
                error=f"{type(exc).__name__}: {exc}"[:500],
            )
            await enqueue(
                uow,
                QUEUE,
                {"kind": KIND, "event_id": event.event_id},
                key=job_key(event.event_id),
                max_attempts=rt.settings.webhook_max_attempts,
            )
            continue
        _finish(event, outcome, job.attempt)
    await uow.session.flush()


def _player_of(event: WebhookEvent) -> tuple[str, str, str]:
    """Who the event is about, as far as its payload says (the Twitch user of its first
    entitlement, a studio event's player), for the order in `process_events`."""
    payload = event.payload
    if event.provider == "twitch":
        items = payload.get("events")
        first = items[0] if isinstance(items, list) and items else None
        data = first.get("data") if isinstance(first, dict) else None
        player = data.get("user_id") if isinstance(data, dict) else None
    else:
        data = payload.get("data")
        player = data.get("canonical_id") if isinstance(data, dict) else None
    return (event.provider, str(player or ""), event.event_id)


def _finish(event: WebhookEvent, outcome: str, attempt: int) -> None:
    event.status = outcome
    event.attempts = attempt
    event.last_error = None
    event.processed_at = utcnow()


async def act(uow: UnitOfWork, rt: Runtime, event: WebhookEvent) -> str:
    """Do what the event says; returns `processed`, or `duplicate` when everything in it had
    been done already (by another path or an earlier message)."""
    if event.provider == "twitch":
        return await _twitch(uow, rt, event)
    return await _studio(uow, rt, event)


async def _twitch(uow: UnitOfWork, rt: Runtime, event: WebhookEvent) -> str:
    payload = event.payload
    subscription = payload.get("subscription")
    subscription = subscription if isinstance(subscription, dict) else {}
    if event.message_type == "webhook_callback_verification":
        await twitch_subscriptions.record_verified(uow, subscription)
        return PROCESSED
    if event.message_type == "revocation":
        await twitch_subscriptions.record_revocation(uow, subscription)
        return PROCESSED
    if event.subscription_type != twitch_subscriptions.DROP_GRANT:
        log.info("webhook_event_ignored", event_id=event.event_id, type=event.subscription_type)
        return PROCESSED
    found = (_claim(e) for e in payload.get("events") or [] if isinstance(e, dict))
    claims = [c for c in found if c is not None]
    created = await drops.receive(uow, rt, claims, source="eventsub")
    return PROCESSED if created or not claims else DUPLICATE


def _claim(item: dict[str, Any]) -> drops.Claim | None:
    data = item.get("data")
    if not isinstance(data, dict) or not data.get("entitlement_id") or not data.get("user_id"):
        return None
    claimed_at = None
    if isinstance(data.get("created_at"), str):
        try:
            claimed_at = dt.datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
            claimed_at = claimed_at.astimezone(dt.UTC)
        except ValueError:
            claimed_at = None
    return drops.Claim(
        entitlement_id=str(data["entitlement_id"])[:128],
        benefit_id=str(data.get("benefit_id", ""))[:128],
        twitch_user_id=str(data["user_id"])[:64],
        game_id=str(data["category_id"])[:64] if data.get("category_id") else None,
        claimed_at=claimed_at,
    )


async def _studio(uow: UnitOfWork, rt: Runtime, event: WebhookEvent) -> str:
    kind = event.message_type
    data = event.payload.get("data") or {}
    key = f"studio:{event.message_id}"[:120]
    if kind == "message":
        message = StudioMessage.model_validate(data)
        user = await users.get_by_canonical(uow, message.canonical_id)
        await notices.notify(
            uow,
            rt,
            user_id=user.id,
            kind=message.kind,
            title=message.title,
            body=message.body,
            data=message.data,
        )
        return PROCESSED
    grant = StudioGrant.model_validate(data)
    user = await users.get_by_canonical(uow, grant.canonical_id)
    lines = [SkuLine(g.sku_id, g.quantity) for g in grant.grants]
    if kind == "grant":
        done = await grant_skus(
            uow, rt, user_id=user.id, lines=lines, key=key, source="studio", reason=grant.reason
        )
    else:
        done = await revoke_skus(
            uow, rt, user_id=user.id, lines=lines, key=f"{key}:revoke", reason=grant.reason
        )
    return PROCESSED if done else DUPLICATE
