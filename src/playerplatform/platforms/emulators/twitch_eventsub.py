"""Twitch emulator, EventSub: subscriptions (create, list, delete; the callback verified with
a signed challenge) and a sender that delivers notifications the way Twitch does: signed,
batched, at least once (the same message again after a failed answer), with deliberate
duplicates when asked (`/emulator/eventsub/...`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from playerplatform.platforms.emulators.twitch import twitch_error, twitch_state
from playerplatform.platforms.emulators.twitch_helix import nano_timestamp, now_rfc3339, refusal

router = APIRouter(prefix="/helix")
emulator_router = APIRouter(prefix="/emulator")
DROP_GRANT = "drop.entitlement.grant"


# -- EventSub subscriptions. ------------------------------------------------------------------


def _public(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sub.items() if k != "secret"}


@router.post("/eventsub/subscriptions")
async def create_subscription(request: Request) -> Response:
    state = twitch_state(request)
    refused = refusal(request, state)
    if refused is not None:
        return refused
    if request.headers.get("authorization", "").split(" ")[-1] not in state.app_tokens:
        return twitch_error(401, "Webhook subscriptions need an app access token")
    body = await request.json()
    transport = body.get("transport") if isinstance(body, dict) else None
    if not isinstance(transport, dict) or transport.get("method") != "webhook":
        return twitch_error(400, "transport.method must be webhook")
    secret = str(transport.get("secret", ""))
    if not 10 <= len(secret) <= 100:
        return twitch_error(400, "transport.secret must be 10 to 100 characters")
    if body.get("type") == DROP_GRANT and body.get("is_batching_enabled") is not True:
        return twitch_error(400, "drop.entitlement.grant requires is_batching_enabled")
    condition = body.get("condition")
    if not isinstance(condition, dict) or (
        body.get("type") == DROP_GRANT and not condition.get("organization_id")
    ):
        return twitch_error(400, "condition.organization_id is required")
    for sub in state.subscriptions.values():
        if (
            sub["type"] == body.get("type")
            and sub["condition"] == condition
            and sub["status"] in ("enabled", "webhook_callback_verification_pending")
        ):
            return twitch_error(409, "subscription already exists")
    sub = {
        "id": str(uuid.uuid4()),
        "status": "webhook_callback_verification_pending",
        "type": str(body.get("type")),
        "version": str(body.get("version", "1")),
        "condition": condition,
        "created_at": now_rfc3339(),
        "transport": {"method": "webhook", "callback": str(transport.get("callback"))},
        "cost": 0,
        "secret": secret,
    }
    state.subscriptions[sub["id"]] = sub
    asyncio.get_running_loop().create_task(_verify(sub))
    return JSONResponse(
        {
            "data": [_public(sub)],
            "total": len(state.subscriptions),
            "total_cost": 0,
            "max_total_cost": 10000,
        },
        status_code=202,
    )


@router.get("/eventsub/subscriptions")
async def list_subscriptions(request: Request) -> Response:
    state = twitch_state(request)
    refused = refusal(request, state)
    if refused is not None:
        return refused
    rows = [_public(s) for s in state.subscriptions.values()]
    if request.query_params.get("status"):
        rows = [r for r in rows if r["status"] == request.query_params["status"]]
    return JSONResponse(
        {
            "data": rows,
            "total": len(rows),
            "total_cost": 0,
            "max_total_cost": 10000,
            "pagination": {},
        }
    )


@router.delete("/eventsub/subscriptions")
async def delete_subscription(request: Request) -> Response:
    state = twitch_state(request)
    refused = refusal(request, state)
    if refused is not None:
        return refused
    if state.subscriptions.pop(request.query_params.get("id", ""), None) is None:
        return twitch_error(404, "subscription not found")
    return Response(status_code=204)


# -- The sender. ------------------------------------------------------------------------------


async def _post(
    sub: dict[str, Any], message_type: str, body: dict[str, Any], message_id: str, retry: int = 0
) -> httpx.Response | None:
    raw = json.dumps(body, separators=(",", ":")).encode()
    timestamp = nano_timestamp()
    signature = hmac.new(
        sub["secret"].encode(), message_id.encode() + timestamp.encode() + raw, hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Retry": str(retry),
        "Twitch-Eventsub-Message-Type": message_type,
        "Twitch-Eventsub-Message-Signature": f"sha256={signature}",
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Subscription-Type": sub["type"],
        "Twitch-Eventsub-Subscription-Version": sub["version"],
    }
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(sub["transport"]["callback"], content=raw, headers=headers)
    except httpx.HTTPError:
        return None


async def _verify(sub: dict[str, Any]) -> None:
    challenge = secrets.token_urlsafe(24)
    body = {"challenge": challenge, "subscription": _public(sub)}
    answer = await _post(sub, "webhook_callback_verification", body, str(uuid.uuid4()))
    ok = answer is not None and answer.status_code < 300 and answer.text == challenge
    sub["status"] = "enabled" if ok else "webhook_callback_verification_failed"


async def deliver(
    sub: dict[str, Any],
    message_type: str,
    body: dict[str, Any],
    *,
    message_id: str,
    duplicates: int = 0,
    attempts: int = 3,
    retry_delay: float = 0.05,
) -> list[int | None]:
    """Deliver one message at least once: `duplicates` extra copies at the same time, and the
    message again (same id) after each answer that is not 2xx, up to `attempts` times."""
    statuses: list[int | None] = []

    async def until_accepted() -> None:
        for retry in range(attempts):
            answer = await _post(sub, message_type, body, message_id, retry)
            statuses.append(answer.status_code if answer is not None else None)
            if answer is not None and answer.status_code < 300:
                return
            await asyncio.sleep(retry_delay * 2**retry)

    await asyncio.gather(*(until_accepted() for _ in range(1 + duplicates)))
    return statuses


class Notify(BaseModel):
    subscription_id: str
    entitlement_ids: list[str]
    message_id: str | None = None
    duplicates: int = Field(default=0, ge=0, le=200)
    attempts: int = Field(default=3, ge=1, le=10)


@emulator_router.post("/eventsub/notify")
async def notify(body: Notify, request: Request) -> Response:
    """Send one batched `drop.entitlement.grant` notification for these entitlements (as
    Twitch does after viewers claim them) and answer with every delivery's HTTP status."""
    state = twitch_state(request)
    sub = state.subscriptions.get(body.subscription_id)
    if sub is None:
        return twitch_error(404, "subscription not found")
    events = []
    for entitlement_id in body.entitlement_ids:
        row = state.entitlements[entitlement_id]
        events.append(
            {
                "id": str(uuid.uuid4()),
                "data": {
                    "organization_id": row.get("organization_id", "org-1"),
                    "category_id": row["game_id"],
                    "category_name": "Game",
                    "campaign_id": "twitch-campaign",
                    "user_id": row["user_id"],
                    "user_name": f"viewer{row['user_id']}",
                    "user_login": f"viewer{row['user_id']}",
                    "entitlement_id": entitlement_id,
                    "benefit_id": row["benefit_id"],
                    "created_at": row["timestamp"],
                },
            }
        )
    message_id = body.message_id or str(uuid.uuid4())
    statuses = await deliver(
        sub,
        "notification",
        {"subscription": _public(sub), "events": events},
        message_id=message_id,
        duplicates=body.duplicates,
        attempts=body.attempts,
    )
    return JSONResponse({"message_id": message_id, "statuses": statuses})


class Revoke(BaseModel):
    subscription_id: str
    status: str = "authorization_revoked"


@emulator_router.post("/eventsub/revoke")
async def revoke(body: Revoke, request: Request) -> Response:
    """Twitch revokes a subscription and says so once."""
    sub = twitch_state(request).subscriptions.get(body.subscription_id)
    if sub is None:
        return twitch_error(404, "subscription not found")
    sub["status"] = body.status
    statuses = await deliver(
        sub, "revocation", {"subscription": _public(sub)}, message_id=str(uuid.uuid4())
    )
    return JSONResponse({"statuses": statuses})


@emulator_router.post("/eventsub/subscriptions/{subscription_id}/verify")
async def verify_again(subscription_id: str, request: Request) -> Response:
    """Run the callback verification now (it also runs right after creation)."""
    sub = twitch_state(request).subscriptions.get(subscription_id)
    if sub is None:
        return twitch_error(404, "subscription not found")
    await _verify(sub)
    return JSONResponse(_public(sub))
