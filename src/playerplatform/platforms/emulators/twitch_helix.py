"""Twitch emulator, api.twitch.tv side: Helix Drops entitlements (GET with filters and
pagination, PATCH fulfilment with per-id statuses). EventSub lives in `twitch_eventsub`.

Emulator-only routes (`/emulator/...`) create entitlements, make PATCH answers fail or slow,
and list or invalidate app tokens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from playerplatform.platforms.emulators.twitch import TwitchEmulator, twitch_error, twitch_state

router = APIRouter(prefix="/helix")
emulator_router = APIRouter(prefix="/emulator")


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def nano_timestamp(at: float | None = None) -> str:
    """RFC 3339 with nanoseconds, as Twitch's message timestamps are."""
    ns = time.time_ns() if at is None else int(at * 1e9)
    seconds, nanos = divmod(ns, 1_000_000_000)
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
    )


def refusal(request: Request, state: TwitchEmulator) -> Response | None:
    if request.headers.get("client-id") != state.client_id:
        return twitch_error(401, "Client ID and OAuth token do not match")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        return twitch_error(401, "OAuth token is missing")
    expires = state.app_tokens.get(token)
    if expires is None and token in state.tokens:
        expires = state.tokens[token].expires_at
    if expires is None or expires <= time.time():
        return twitch_error(401, "Invalid OAuth token")
    return None


# -- Drops entitlements. ----------------------------------------------------------------------


@router.get("/entitlements/drops")
async def list_drops(request: Request) -> Response:
    state = twitch_state(request)
    refused = refusal(request, state)
    if refused is not None:
        return refused
    query = request.query_params
    try:
        first = int(query.get("first", "20"))
        offset = int(query.get("after") or "0")
    except ValueError:
        return twitch_error(400, "Invalid first or after")
    if not 1 <= first <= 1000:
        return twitch_error(400, "first must be between 1 and 1000")
    ids = set(query.getlist("id"))
    rows = [
        row
        for row in state.entitlements.values()
        if (not ids or row["id"] in ids)
        and (not query.get("user_id") or row["user_id"] == query["user_id"])
        and (not query.get("game_id") or row["game_id"] == query["game_id"])
        and (
            not query.get("fulfillment_status")
            or row["fulfillment_status"] == query["fulfillment_status"]
        )
    ]
    page = rows[offset : offset + first]
    more = offset + first < len(rows)
    return JSONResponse(
        {"data": page, "pagination": {"cursor": str(offset + first)} if more else {}}
    )


@router.patch("/entitlements/drops")
async def update_drops(request: Request) -> Response:
    state = twitch_state(request)
    refused = refusal(request, state)
    if refused is not None:
        return refused
    body = await request.json()
    ids = body.get("entitlement_ids") if isinstance(body, dict) else None
    status = body.get("fulfillment_status") if isinstance(body, dict) else None
    if status not in ("CLAIMED", "FULFILLED") or not isinstance(ids, list):
        return twitch_error(400, "Invalid fulfillment_status or entitlement_ids")
    if not 1 <= len(ids) <= 100:
        return twitch_error(400, "entitlement_ids must hold 1 to 100 ids")
    state.patch_calls.append([str(i) for i in ids])
    if state.patch_delay:
        await asyncio.sleep(state.patch_delay)
    groups: dict[str, list[str]] = {}
    for entitlement_id in (str(i) for i in ids):
        failures = state.patch_failures.get(entitlement_id)
        row = state.entitlements.get(entitlement_id)
        if failures:
            outcome = failures.pop(0)
        elif row is None:
            outcome = "NOT_FOUND"
        else:
            row["fulfillment_status"] = status
            row["last_updated"] = now_rfc3339()
            outcome = "SUCCESS"
        groups.setdefault(outcome, []).append(entitlement_id)
    return JSONResponse({"data": [{"status": s, "ids": i} for s, i in groups.items()]})


# -- Emulator-only routes. --------------------------------------------------------------------


@emulator_router.get("/app-tokens")
async def app_tokens(request: Request) -> dict[str, int]:
    """How many app access tokens were issued and are still valid."""
    now = time.time()
    return {"valid": sum(1 for t in twitch_state(request).app_tokens.values() if t > now)}


@emulator_router.delete("/app-tokens")
async def expire_app_tokens(request: Request) -> Response:
    """Twitch invalidates every app token (a secret reset, say): Helix answers 401."""
    twitch_state(request).app_tokens.clear()
    return Response(status_code=204)


class NewDrop(BaseModel):
    user_id: str
    benefit_id: str
    game_id: str
    organization_id: str = "org-1"
    id: str | None = None


@emulator_router.post("/drops")
async def create_drop(body: NewDrop, request: Request) -> dict[str, str]:
    """A viewer claims a drop: the entitlement exists at Twitch, CLAIMED."""
    entitlement_id = body.id or str(uuid.uuid4())
    twitch_state(request).entitlements[entitlement_id] = {
        "id": entitlement_id,
        "benefit_id": body.benefit_id,
        "timestamp": now_rfc3339(),
        "user_id": body.user_id,
        "game_id": body.game_id,
        "fulfillment_status": "CLAIMED",
        "last_updated": now_rfc3339(),
        "organization_id": body.organization_id,
    }
    return {"id": entitlement_id}


@emulator_router.get("/drops/{entitlement_id}")
async def drop_state(entitlement_id: str, request: Request) -> Response:
    state = twitch_state(request)
    row = state.entitlements.get(entitlement_id)
    if row is None:
        return twitch_error(404, "no such entitlement")
    patches = sum(call.count(entitlement_id) for call in state.patch_calls)
    return JSONResponse({**row, "patches": patches})


class PatchFailures(BaseModel):
    ids: list[str]
    status: str = "UPDATE_FAILED"
    times: int = Field(default=1, ge=1)


@emulator_router.post("/drops/failures")
async def fail_patches(body: PatchFailures, request: Request) -> dict[str, int]:
    """The next `times` PATCH answers for these ids are `status` instead of SUCCESS."""
    failures = twitch_state(request).patch_failures
    for entitlement_id in body.ids:
        failures.setdefault(entitlement_id, []).extend([body.status] * body.times)
    return {"ids": len(body.ids)}


class Slowness(BaseModel):
    patch_seconds: float = Field(ge=0, le=600)


@emulator_router.post("/drops/slowness")
async def slow_down(body: Slowness, request: Request) -> dict[str, float]:
    """Make every fulfilment PATCH wait this long before answering (0: answer at once)."""
    twitch_state(request).patch_delay = body.patch_seconds
    return {"patch_seconds": body.patch_seconds}
