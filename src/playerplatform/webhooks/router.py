"""HTTP routes of the webhooks domain: one intake route per provider, and the staff's view.

The intake routes read the raw body themselves: the signature is checked on those exact
bytes before anything parses them. They are rate-limited with the `webhook` class (per IP).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import PlainTextResponse, Response

from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.edge_route import parse_json_body
from playerplatform.kit.errors import AppError, BadRequest, NotFound, ValidationFailed
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow, replica_reads
from playerplatform.kit.pagination import Page, PageParams, page_params, paginate
from playerplatform.runtime import Runtime
from playerplatform.webhooks import service, signatures
from playerplatform.webhooks.models import STATUSES
from playerplatform.webhooks.schemas import (
    EventPageKey,
    IntakeOut,
    StudioEvent,
    StudioGrant,
    StudioMessage,
    WebhookEventOut,
)

router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("webhook"))],
)
admin_router = APIRouter(
    prefix="/admin/webhook-events",
    tags=["admin", "webhooks"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)
# The bodies are read raw (the signature covers their exact bytes) and validated only once
# the signature holds, so the API description names no fields an unsigned probe could test:
# the shapes are in the route descriptions and docs/webhooks.md.
_RAW_JSON: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _object(raw: bytes) -> dict[str, Any]:
    payload = parse_json_body(raw)
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.", code="malformed_json")
    return payload


def _intake_answer(out: IntakeOut) -> Response:
    return Response(out.model_dump_json(), status_code=202, media_type="application/json")


@router.post(
    "/twitch",
    status_code=202,
    response_model=None,
    responses={202: {"model": IntakeOut}, 200: {"content": {"text/plain": {}}}},
    openapi_extra=_RAW_JSON,
)
async def twitch_webhook(
    request: Request,
    message_id: str | None = Header(None, alias="Twitch-Eventsub-Message-Id", max_length=255),
    timestamp: str | None = Header(None, alias="Twitch-Eventsub-Message-Timestamp", max_length=64),
    signature: str | None = Header(None, alias="Twitch-Eventsub-Message-Signature", max_length=128),
    message_type: str | None = Header(None, alias="Twitch-Eventsub-Message-Type", max_length=64),
    subscription_type: str | None = Header(
        None, alias="Twitch-Eventsub-Subscription-Type", max_length=128
    ),
) -> Response:
    """Twitch EventSub: 403 `invalid_signature` / `stale_message` before anything is parsed;
    the verification challenge echoed as text/plain; notifications and revocations stored
    once and queued; a message id stored before answers 202 and does nothing."""
    rt = _runtime(request)
    settings = rt.settings
    secrets = signatures.accepted_secrets(
        settings.twitch_eventsub_secret, settings.twitch_eventsub_secret_previous
    )
    if not secrets:
        raise NotFound("The Twitch webhook is not configured.")
    body = await request.body()
    try:
        sent_at = signatures.verify_twitch(
            secrets,
            message_id=message_id,
            timestamp=timestamp,
            signature=signature,
            body=body,
            now=utcnow(),
            max_age_seconds=settings.webhook_max_age_seconds,
        )
    except AppError as exc:
        service.refused("twitch", exc.code)
        raise
    assert message_id is not None
    payload = _object(body)
    kind = message_type or "notification"
    out = await service.receive(
        rt,
        service.Delivery(
            provider="twitch",
            message_id=message_id,
            message_type=kind,
            subscription_type=subscription_type,
            sent_at=sent_at,
            body=body,
            payload=payload,
        ),
    )
    if kind == "webhook_callback_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            raise ValidationFailed("The verification has no challenge.", field="challenge")
        return PlainTextResponse(challenge, status_code=200)
    return _intake_answer(out)


@router.post(
    "/studio",
    status_code=202,
    response_model=None,
    responses={202: {"model": IntakeOut}},
    openapi_extra=_RAW_JSON,
)
async def studio_webhook(
    request: Request,
    signature: str | None = Header(None, alias="Webhook-Signature", max_length=512),
) -> Response:
    """The studio's own services (`Webhook-Signature: t=<unix>,v1=<hex hmac_sha256(secret,
    "<t>." + raw_body)>`). Body `{"id", "type": "grant"/"revoke"/"message", "data"}`;
    `grant`/`revoke` data `{"canonical_id", "grants": [{"sku_id", "quantity"}], "reason"}`,
    `message` data `{"canonical_id", "kind"?, "title", "body", "data"?}`. Each event is stored
    once and processed once; 422 for a signed body of the wrong shape; 404 while
    `PP_STUDIO_WEBHOOK_SECRET` is unset."""
    rt = _runtime(request)
    settings = rt.settings
    secrets = signatures.accepted_secrets(
        settings.studio_webhook_secret, settings.studio_webhook_secret_previous
    )
    if not secrets:
        raise NotFound("The studio webhook is not configured.")
    body = await request.body()
    try:
        sent_at = signatures.verify_studio(
            secrets,
            header=signature,
            body=body,
            now=utcnow(),
            max_age_seconds=settings.webhook_max_age_seconds,
        )
    except AppError as exc:
        service.refused("studio", exc.code)
        raise
    payload = _object(body)
    try:
        event = StudioEvent.model_validate(payload)
        data_model = StudioMessage if event.type == "message" else StudioGrant
        data_model.model_validate(event.data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "body"
        raise ValidationFailed(f"{field}: {error['msg']}", field=field) from None
    out = await service.receive(
        rt,
        service.Delivery(
            provider="studio",
            message_id=event.id,
            message_type=event.type,
            subscription_type=None,
            sent_at=sent_at,
            body=body,
            payload=payload,
        ),
    )
    return _intake_answer(out)


@admin_router.get("", response_model=Page[WebhookEventOut])
@replica_reads
async def list_events(
    provider: Literal["twitch", "studio"] | None = Query(None),
    status: Literal["received", "processed", "failed", "duplicate"] | None = Query(None),
    page: PageParams = Depends(page_params),
    _admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[WebhookEventOut]:
    """Stored events, newest first, by provider and status."""
    assert status is None or status in STATUSES
    rows = await service.list_events(uow, provider=provider, status=status, page=page)
    return paginate(
        rows, page.limit, lambda e: EventPageKey(t=e.received_at, i=e.event_id), WebhookEventOut.of
    )


@admin_router.post("/{event_id}/replay", response_model=WebhookEventOut)
async def replay_event(
    request: Request,
    event_id: str = Path(min_length=1, max_length=32),
    admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> WebhookEventOut:
    """Queue the event's processing again (idempotent: what was done is not done twice)."""
    event = await service.replay(
        uow, _runtime(request), event_id, actor=admin, client=client_info(request)
    )
    return WebhookEventOut.of(event)
