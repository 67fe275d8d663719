"""Webhook intake: signatures on the raw bytes, freshness, the verification challenge,
deduplication by message id, secret rotation and the studio webhook switch."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from playerplatform.jobs.models import Job
from playerplatform.kit.settings import Settings
from playerplatform.webhooks.intake import QUEUE
from playerplatform.webhooks.models import WebhookEvent
from tests.conftest import asgi_client, running_app
from tests.support.db import count, rows
from tests.support.drops import (
    STUDIO_PATH,
    TWITCH_PATH,
    DropsWorld,
    Entitlement,
    compact,
    drops_notification,
    event_row,
    nano_timestamp,
    run_webhook_jobs,
    send_studio,
    send_twitch,
    studio_headers,
    twitch_headers,
)


def _entitlement() -> Entitlement:
    return Entitlement(str(uuid.uuid4()), "9001", "benefit-x", "4242")


async def _stored(world: DropsWorld, message_id: str) -> int:
    return await count(world.runtime, WebhookEvent, WebhookEvent.message_id == message_id)


async def test_a_bad_signature_a_stale_timestamp_or_a_missing_header_is_403_and_stores_nothing(
    world: DropsWorld,
) -> None:
    body = compact(drops_notification(_entitlement()))
    message_id = str(uuid.uuid4())

    forged = twitch_headers(body, message_id=message_id, secret="not-the-secret-at-all")
    response = await world.client.post(TWITCH_PATH, content=body, headers=forged)
    assert response.status_code == 403 and response.json()["code"] == "invalid_signature"

    # A signature over other bytes: one byte of the body changed after signing.
    signed = twitch_headers(body, message_id=message_id)
    tampered = body.replace(b"benefit-x", b"benefit-y")
    response = await world.client.post(TWITCH_PATH, content=tampered, headers=signed)
    assert response.status_code == 403 and response.json()["code"] == "invalid_signature"

    old = nano_timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11))
    stale = twitch_headers(body, message_id=message_id, timestamp=old)
    response = await world.client.post(TWITCH_PATH, content=body, headers=stale)
    assert response.status_code == 403 and response.json()["code"] == "stale_message"

    for header in (
        "Twitch-Eventsub-Message-Signature",
        "Twitch-Eventsub-Message-Id",
        "Twitch-Eventsub-Message-Timestamp",
    ):
        headers = twitch_headers(body, message_id=message_id)
        del headers[header]
        response = await world.client.post(TWITCH_PATH, content=body, headers=headers)
        assert response.status_code == 403, header
        assert response.json()["code"] == "invalid_signature"

    # Not even a malformed body is looked at before the signature.
    response = await world.client.post(
        TWITCH_PATH,
        content=b"{not json",
        headers=twitch_headers(b"{not json", secret="wrong-secret-123"),
    )
    assert response.status_code == 403

    response = await world.client.post(
        STUDIO_PATH, content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 403 and response.json()["code"] == "invalid_signature"
    stale_studio = studio_headers(b"{}", at=int(dt.datetime.now(dt.UTC).timestamp()) - 601)
    response = await world.client.post(STUDIO_PATH, content=b"{}", headers=stale_studio)
    assert response.status_code == 403 and response.json()["code"] == "stale_message"

    assert await _stored(world, message_id) == 0


async def test_the_verification_challenge_is_echoed_exactly_as_plain_text(
    world: DropsWorld,
) -> None:
    challenge = "pogchamp-kappa-" + secrets.token_urlsafe(16) + "=="
    subscription_id = str(uuid.uuid4())
    payload = {
        "challenge": challenge,
        "subscription": {
            "id": subscription_id,
            "status": "webhook_callback_verification_pending",
            "type": "drop.entitlement.grant",
            "version": "1",
            "condition": {"organization_id": "org-1"},
        },
    }
    response = await send_twitch(
        world.client, payload, message_type="webhook_callback_verification"
    )
    assert response.status_code == 200
    assert response.text == challenge
    assert response.headers["content-type"].startswith("text/plain")

    await run_webhook_jobs(world.runtime)
    admin_view = await world.client.get(
        "/api/v1/admin/twitch/subscriptions",
        headers={"Authorization": f"Bearer {world.admin['access_token']}"},
    )
    assert admin_view.status_code == 200
    [sub] = [s for s in admin_view.json() if s["subscription_id"] == subscription_id]
    assert sub["status"] == "enabled"


async def test_a_message_stored_before_answers_2xx_and_stores_and_queues_nothing(
    world: DropsWorld,
) -> None:
    payload = drops_notification(_entitlement())
    message_id = str(uuid.uuid4())
    first = await send_twitch(world.client, payload, message_id=message_id)
    assert first.status_code == 202 and first.json()["duplicate"] is False
    again = await send_twitch(world.client, payload, message_id=message_id)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["event_id"] == first.json()["event_id"]
    assert await _stored(world, message_id) == 1

    event = await event_row(world.runtime, message_id)
    assert event.status == "received"
    stored = await world.runtime.objects.get(event.object_key)
    assert stored == compact(payload)  # the raw bytes, as signed
    day = event.sent_at
    assert event.object_key == (f"webhooks/twitch/{day:%Y}/{day:%m}/{day:%d}/{event.event_id}.json")


async def test_during_a_rotation_both_secrets_are_accepted_and_no_other(
    drops_settings: Callable[..., Settings],
) -> None:
    settings = drops_settings(
        twitch_eventsub_secret="new-eventsub-secret-0001",
        twitch_eventsub_secret_previous="old-eventsub-secret-0001",
        studio_webhook_secret="new-studio-secret-0001",
        studio_webhook_secret_previous="old-studio-secret-0001",
    )
    async with running_app(settings) as (app, _runtime), asgi_client(app) as client:
        for secret in ("new-eventsub-secret-0001", "old-eventsub-secret-0001"):
            response = await send_twitch(client, drops_notification(_entitlement()), secret=secret)
            assert response.status_code == 202, response.text
        response = await send_twitch(
            client, drops_notification(_entitlement()), secret="eventsub-test-secret-0123"
        )
        assert response.status_code == 403

        event = {"id": str(uuid.uuid4()), "type": "message", "data": _message("nobody")}
        for secret in ("new-studio-secret-0001", "old-studio-secret-0001"):
            event["id"] = str(uuid.uuid4())
            response = await send_studio(client, event, secret=secret)
            assert response.status_code == 202, response.text
        response = await send_studio(client, event, secret="studio-test-secret-0123")
        assert response.status_code == 403


def _message(canonical_id: str) -> dict[str, Any]:
    return {"canonical_id": canonical_id, "title": "Patch notes", "body": "Thanks for playing."}


async def test_the_studio_webhook_is_off_without_a_secret(
    drops_settings: Callable[..., Settings],
) -> None:
    settings = drops_settings(studio_webhook_secret=None, twitch_eventsub_secret=None)
    async with running_app(settings) as (app, _runtime), asgi_client(app) as client:
        event = {"id": "x", "type": "message", "data": _message("nobody")}
        response = await send_studio(client, event)
        assert response.status_code == 404
        response = await send_twitch(client, drops_notification(_entitlement()))
        assert response.status_code == 404


async def test_a_signed_studio_event_of_the_wrong_shape_is_422_and_not_stored(
    world: DropsWorld,
) -> None:
    message_id = str(uuid.uuid4())
    bad = {"id": message_id, "type": "grant", "data": {"canonical_id": "p", "grants": []}}
    response = await send_studio(world.client, bad)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    body = b"[1, 2]"
    response = await world.client.post(STUDIO_PATH, content=body, headers=studio_headers(body))
    assert response.status_code == 400
    assert await count(world.runtime, WebhookEvent, WebhookEvent.message_id == message_id) == 0
    assert json.loads(response.text)["code"] == "malformed_json"


async def test_intake_is_rate_limited_per_ip_with_the_webhook_class(
    drops_settings: Callable[..., Settings],
) -> None:
    settings = drops_settings(rate_limit_webhook="3/minute")
    async with running_app(settings) as (app, _), asgi_client(app, "203.0.113.9") as client:
        answers = [await send_twitch(client, drops_notification(_entitlement())) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert answers[0].headers["RateLimit-Limit"] == "3"


async def _jobs_holding(world: DropsWorld, event_ids: set[str]) -> list[dict[str, Any]]:
    found = await rows(world.runtime, sa.select(Job.payload).where(Job.queue == QUEUE))
    return [
        p
        for (p,) in found
        if event_ids & set(p.get("event_ids") or [p.get("event_id")]) and p.get("kind")
    ]


async def test_deliveries_arriving_together_are_stored_together_each_once(
    world: DropsWorld,
) -> None:
    payloads = [drops_notification(_entitlement()) for _ in range(24)]
    message_ids = [str(uuid.uuid4()) for _ in payloads]
    repeated = message_ids[5]
    sends = [
        send_twitch(world.client, p, message_id=m)
        for p, m in zip(payloads, message_ids, strict=False)
    ]
    sends += [send_twitch(world.client, payloads[5], message_id=repeated) for _ in range(4)]
    answers = await asyncio.gather(*sends)

    assert [a.status_code for a in answers] == [202] * len(answers)
    copies = [a.json() for a in answers[5:6] + answers[24:]]
    assert sorted(c["duplicate"] for c in copies) == [False, True, True, True, True]
    assert len({c["event_id"] for c in copies}) == 1
    for message_id, payload in zip(message_ids, payloads, strict=False):
        assert await _stored(world, message_id) == 1
        event = await event_row(world.runtime, message_id)
        assert await world.runtime.objects.get(event.object_key) == compact(payload)

    # Every event is in exactly one job, and deliveries that waited for a batch to be written
    # went together in the next: fewer jobs than events.
    event_ids = {a.json()["event_id"] for a in answers}
    jobs = await _jobs_holding(world, event_ids)
    held = [e for job in jobs for e in job["event_ids"]]
    assert sorted(held) == sorted(event_ids)
    assert {job["kind"] for job in jobs} == {"webhook_events"}
    assert len(jobs) < len(event_ids)
