"""Webhook and drops test helpers: deliveries signed the way Twitch and a studio service sign
them, campaigns made through the admin API, and the webhook_processing jobs run on demand."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.drops.models import Drop
from playerplatform.jobs import repository as jobs_repository
from playerplatform.jobs.retry import RetryPolicy
from playerplatform.jobs.runner import JobRunner, Outcome
from playerplatform.kit.db import utcnow
from playerplatform.runtime import Runtime
from playerplatform.webhooks.models import WebhookEvent
from tests.conftest import STUDIO_WEBHOOK_SECRET, TWITCH_EVENTSUB_SECRET
from tests.support.commerce import create_sku
from tests.support.db import rows
from tests.support.platforms import twitch_code
from tests.support.players import auth, device_login

TWITCH_PATH = "/api/v1/webhooks/twitch"
STUDIO_PATH = "/api/v1/webhooks/studio"
DROP_GRANT = "drop.entitlement.grant"


def nano_timestamp(at: dt.datetime | None = None) -> str:
    at = at or dt.datetime.now(dt.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S") + f".{at.microsecond:06d}123Z"


def twitch_headers(
    body: bytes,
    *,
    message_id: str | None = None,
    timestamp: str | None = None,
    message_type: str = "notification",
    subscription_type: str = DROP_GRANT,
    secret: str = TWITCH_EVENTSUB_SECRET,
) -> dict[str, str]:
    message_id = message_id or str(uuid.uuid4())
    timestamp = timestamp or nano_timestamp()
    digest = hmac.new(
        secret.encode(), message_id.encode() + timestamp.encode() + body, hashlib.sha256
    ).hexdigest()
    return {
        "Content-Type": "application/json",
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Message-Signature": f"sha256={digest}",
        "Twitch-Eventsub-Message-Type": message_type,
        "Twitch-Eventsub-Subscription-Type": subscription_type,
        "Twitch-Eventsub-Subscription-Version": "1",
    }


def studio_headers(
    body: bytes, *, at: int | None = None, secret: str = STUDIO_WEBHOOK_SECRET
) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Webhook-Signature": f"t={t},v1={digest}"}


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Entitlement:
    entitlement_id: str
    twitch_user_id: str
    benefit_id: str
    game_id: str


def drops_notification(*entitlements: Entitlement) -> dict[str, Any]:
    return {
        "subscription": {
            "id": str(uuid.uuid4()),
            "type": DROP_GRANT,
            "version": "1",
            "status": "enabled",
            "condition": {"organization_id": "org-1"},
        },
        "events": [
            {
                "id": str(uuid.uuid4()),
                "data": {
                    "organization_id": "org-1",
                    "category_id": e.game_id,
                    "category_name": "Game",
                    "campaign_id": "tw-campaign",
                    "user_id": e.twitch_user_id,
                    "user_name": "viewer",
                    "user_login": "viewer",
                    "entitlement_id": e.entitlement_id,
                    "benefit_id": e.benefit_id,
                    "created_at": nano_timestamp(),
                },
            }
            for e in entitlements
        ],
    }


async def send_twitch(
    client: httpx.AsyncClient, payload: dict[str, Any], **headers: Any
) -> httpx.Response:
    body = compact(payload)
    return await client.post(TWITCH_PATH, content=body, headers=twitch_headers(body, **headers))


async def send_studio(
    client: httpx.AsyncClient, event: dict[str, Any], **headers: Any
) -> httpx.Response:
    body = compact(event)
    return await client.post(STUDIO_PATH, content=body, headers=studio_headers(body, **headers))


async def run_webhook_jobs(runtime: Runtime, *, include_future: bool = False) -> list[Outcome]:
    """Run every due webhook_processing job (as the embedded worker would), follow-ups too."""
    runner = JobRunner(runtime.db, runtime.jobs.registry, runtime, RetryPolicy(0.2, 0.2))
    outcomes: list[Outcome] = []
    for _ in range(100):
        now = utcnow() + (dt.timedelta(days=1) if include_future else dt.timedelta())
        async with runtime.db.unit_of_work() as uow:
            claimed = await jobs_repository.claim_due(
                uow, queues=["webhook_processing"], limit=20, now=now
            )
        if not claimed:
            break
        for row in claimed:
            outcomes.append(await runner.run_claimed(row))
    return outcomes


async def drop_rows(runtime: Runtime, *entitlement_ids: str) -> list[Any]:
    found = await rows(
        runtime, sa.select(Drop).where(Drop.entitlement_id.in_(list(entitlement_ids)))
    )
    return [r[0] for r in found]


async def event_row(runtime: Runtime, message_id: str, provider: str = "twitch") -> Any:
    found = await rows(
        runtime,
        sa.select(WebhookEvent).where(
            WebhookEvent.provider == provider, WebhookEvent.message_id == message_id
        ),
    )
    return found[0][0] if found else None


@dataclass
class DropsWorld:
    client: httpx.AsyncClient
    runtime: Runtime
    admin: dict[str, Any]
    emulators: dict[str, str]

    async def campaign(
        self,
        *,
        sku_type: str = "consumable",
        quantity: int = 1,
        status: str = "active",
        **fields: Any,
    ) -> dict[str, Any]:
        """An active campaign for a new game, with one benefit granting a new SKU."""
        sku_fields: dict[str, Any] = {"type": sku_type, "metadata": {}}
        if sku_type == "consumable":
            sku_fields["quantity"] = 1
        sku = await create_sku(self.client, self.admin, **sku_fields)
        now = dt.datetime.now(dt.UTC)
        body = {
            "name": "Launch week drops",
            "twitch_game_id": fields.pop("twitch_game_id", str(secrets.randbelow(10**9))),
            "starts_at": (now - dt.timedelta(days=1)).isoformat(),
            "ends_at": (now + dt.timedelta(days=7)).isoformat(),
            "rewards": [
                {
                    "benefit_id": f"benefit-{secrets.token_hex(4)}",
                    "grants": [{"sku_id": sku["sku_id"], "quantity": quantity}],
                }
            ],
            "status": status,
            **fields,
        }
        response = await self.client.post(
            "/api/v1/admin/campaigns", json=body, headers=auth(self.admin)
        )
        assert response.status_code == 201, response.text
        campaign: dict[str, Any] = response.json()
        campaign["sku_id"] = sku["sku_id"]
        campaign["benefit_id"] = campaign["rewards"][0]["benefit_id"]
        return campaign

    async def linked_player(self, twitch_user_id: str | None = None) -> tuple[dict[str, Any], str]:
        """A player with a Twitch account linked; returns (tokens, twitch user id)."""
        player = await device_login(self.client)
        code, twitch_id = await twitch_code(self.emulators, twitch_user_id)
        await self.link(player, code)
        return player, twitch_id

    async def link(self, player: dict[str, Any], code: str) -> None:
        response = await self.client.post(
            "/api/v1/auth/links/twitch",
            json={"code": code, "redirect_uri": "http://localhost/cb"},
            headers=auth(player),
        )
        assert response.status_code == 200, response.text

    async def claim(self, campaign: dict[str, Any], twitch_user_id: str) -> Entitlement:
        """A viewer claims the campaign's drop at Twitch (the emulator)."""
        async with httpx.AsyncClient(base_url=self.emulators["twitch"]) as http:
            response = await http.post(
                "/emulator/drops",
                json={
                    "user_id": twitch_user_id,
                    "benefit_id": campaign["benefit_id"],
                    "game_id": campaign["twitch_game_id"],
                },
            )
            response.raise_for_status()
        return Entitlement(
            entitlement_id=str(response.json()["id"]),
            twitch_user_id=twitch_user_id,
            benefit_id=campaign["benefit_id"],
            game_id=campaign["twitch_game_id"],
        )

    async def twitch_state(self, entitlement_id: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.emulators["twitch"]) as http:
            response = await http.get(f"/emulator/drops/{entitlement_id}")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def fail_patches(
        self, ids: list[str], status: str = "UPDATE_FAILED", times: int = 1
    ) -> None:
        async with httpx.AsyncClient(base_url=self.emulators["twitch"]) as http:
            response = await http.post(
                "/emulator/drops/failures", json={"ids": ids, "status": status, "times": times}
            )
            response.raise_for_status()

    async def my_drops(self, player: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.get("/api/v1/drops", headers=auth(player))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
