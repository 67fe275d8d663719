"""Webhook intake, and the staff's view of what arrived.

Intake, for every provider (`receive`): the signature was checked on the raw bytes by the
caller (`signatures`); then

1. the raw body goes to object storage under
   `webhooks/{provider}/{yyyy}/{mm}/{dd}/{event_id}.json` (the event id derives from the
   provider and message id, so a redelivery writes the same object again, harmlessly);
2. the event row and its `webhook_processing` job are written in one transaction; a message
   id already stored inserts nothing and enqueues nothing (the database's unique key decides);
3. that transaction commits before the 2xx leaves.

Deliveries arriving together in one process share that transaction (`intake.EventIntake`):
each is answered only once its own body, row and job are committed.

Intake never calls a platform and never waits on processing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import BadRequest, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.metrics import counter
from playerplatform.kit.pagination import PageParams, decode_cursor
from playerplatform.webhooks import repository
from playerplatform.webhooks.intake import BATCH_KIND, KIND, QUEUE, Arrival, job_key
from playerplatform.webhooks.models import RECEIVED, WebhookEvent
from playerplatform.webhooks.schemas import EventPageKey, IntakeOut

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.webhooks")

PROVIDERS = ("twitch", "studio")
__all__ = [
    "BATCH_KIND",
    "KIND",
    "QUEUE",
    "Delivery",
    "event_id_of",
    "list_events",
    "object_key_of",
    "receive",
    "refused",
    "replay",
]

RECEIVED_TOTAL = counter(
    "webhook_events_received_total", "Webhook messages stored.", ("provider", "type")
)
DUPLICATE_TOTAL = counter(
    "webhook_events_duplicate_total",
    "Webhook deliveries of a message already stored.",
    ("provider",),
)
REFUSED_TOTAL = counter(
    "webhook_events_refused_total", "Webhook deliveries refused at the edge.", ("provider", "code")
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery whose signature and timestamp were checked."""

    provider: str
    message_id: str
    message_type: str
    subscription_type: str | None
    sent_at: dt.datetime
    body: bytes
    payload: dict[str, Any]


def event_id_of(provider: str, message_id: str) -> str:
    """Our id of a provider's message: the same for every redelivery."""
    return "we_" + hashlib.sha256(f"{provider}\x1f{message_id}".encode()).hexdigest()[:24]


def object_key_of(provider: str, event_id: str, when: dt.datetime) -> str:
    return f"webhooks/{provider}/{when:%Y/%m/%d}/{event_id}.json"


async def receive(rt: Runtime, delivery: Delivery) -> IntakeOut:
    """Store `delivery` once and queue its processing (see the module docstring)."""
    if not 1 <= len(delivery.message_id) <= 255:
        raise BadRequest("The message id must be 1-255 characters.", code="invalid_message_id")
    event_id = event_id_of(delivery.provider, delivery.message_id)
    row = {
        "event_id": event_id,
        "provider": delivery.provider,
        "message_id": delivery.message_id,
        "message_type": delivery.message_type[:64],
        "subscription_type": (delivery.subscription_type or "")[:128] or None,
        "payload": delivery.payload,
        "object_key": object_key_of(delivery.provider, event_id, delivery.sent_at),
        "status": RECEIVED,
        "attempts": 0,
        "sent_at": delivery.sent_at,
        "received_at": utcnow(),
    }
    if not await rt.webhook_intake.store(Arrival(row, delivery.body)):
        DUPLICATE_TOTAL.labels(delivery.provider).inc()
        return IntakeOut(event_id=event_id, duplicate=True)
    RECEIVED_TOTAL.labels(delivery.provider, delivery.message_type[:64]).inc()
    return IntakeOut(event_id=event_id, duplicate=False)


def refused(provider: str, code: str) -> None:
    REFUSED_TOTAL.labels(provider, code).inc()


async def list_events(
    uow: UnitOfWork, *, provider: str | None, status: str | None, page: PageParams
) -> list[WebhookEvent]:
    after = decode_cursor(page.cursor, EventPageKey)
    return await repository.list_events(
        uow,
        provider=provider,
        status=status,
        after=(after.t, after.i) if after else None,
        limit=page.limit + 1,
    )


async def replay(
    uow: UnitOfWork, rt: Runtime, event_id: str, *, actor: Principal, client: ClientInfo
) -> WebhookEvent:
    """Queue an event's processing again. Processing is idempotent per event and per business
    key: replaying an event already processed changes nothing; a failed one is tried anew."""
    event = await repository.get_event(uow, event_id, lock=True)
    if event is None:
        raise NotFound("No such webhook event.")
    before = event.status
    if event.status not in ("processed", "duplicate"):
        event.status = RECEIVED
        event.last_error = None
        await enqueue(
            uow,
            QUEUE,
            {"kind": KIND, "event_id": event_id},
            key=f"{job_key(event_id)}:replay:{secrets.token_hex(8)}",
            max_attempts=rt.settings.webhook_max_attempts,
        )
        await uow.session.flush()
    await audit.record(
        uow,
        action="webhooks.replay",
        resource_type="webhook_event",
        resource_id=event_id,
        actor=actor,
        old={"status": before},
        new={"status": event.status},
        client=client,
    )
    return event
