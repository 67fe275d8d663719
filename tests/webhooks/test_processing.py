"""Processing stored events: studio grants and revocations exactly once, messages to the
player, revocations recorded, failures dead-lettered on the event, and replays from the
console that do nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from playerplatform.commerce.models import LedgerEntry
from playerplatform.jobs.models import Job
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, running_app
from tests.support.commerce import balance, create_sku, new_sku_id, owned
from tests.support.db import count
from tests.support.drops import DropsWorld, event_row, run_webhook_jobs, send_studio, send_twitch
from tests.support.players import auth, device_login


def _me(player: dict[str, Any]) -> str:
    return str(player["user"]["canonical_id"])


async def _grant_event(
    player: dict[str, Any], sku_id: str, kind: str = "grant", quantity: int = 1
) -> dict[str, Any]:
    return {
        "id": f"studio-{uuid.uuid4()}",
        "type": kind,
        "data": {
            "canonical_id": _me(player),
            "grants": [{"sku_id": sku_id, "quantity": quantity}],
            "reason": "tournament prize",
        },
    }


async def test_studio_webhooks_grant_and_revoke_exactly_once(world: DropsWorld) -> None:
    player = await device_login(world.client)
    gems = await create_sku(world.client, world.admin, type="consumable", quantity=10, metadata={})
    sword = await create_sku(world.client, world.admin, type="durable", metadata={})

    grant_gems = await _grant_event(player, gems["sku_id"], quantity=5)
    grant_sword = await _grant_event(player, sword["sku_id"])
    for _ in range(3):  # redelivered: stored once, processed once
        for event in (grant_gems, grant_sword):
            assert (await send_studio(world.client, event)).status_code == 202
        await run_webhook_jobs(world.runtime)
    assert await balance(world.client, player, gems["sku_id"]) == 50
    assert await owned(world.client, player, sword["sku_id"])

    revoke_gems = await _grant_event(player, gems["sku_id"], "revoke", quantity=2)
    revoke_sword = await _grant_event(player, sword["sku_id"], "revoke")
    for _ in range(3):
        for event in (revoke_gems, revoke_sword):
            assert (await send_studio(world.client, event)).status_code == 202
        await run_webhook_jobs(world.runtime)
    assert await balance(world.client, player, gems["sku_id"]) == 30
    assert not await owned(world.client, player, sword["sku_id"])
    assert (await event_row(world.runtime, revoke_gems["id"], "studio")).status == "processed"
    clawbacks = await count(
        world.runtime, LedgerEntry, LedgerEntry.grant_key.like(f"studio:{revoke_gems['id']}%")
    )
    assert clawbacks == 1


async def test_a_studio_message_reaches_the_player(world: DropsWorld) -> None:
    player = await device_login(world.client)
    event: dict[str, Any] = {
        "id": f"msg-{uuid.uuid4()}",
        "type": "message",
        "data": {"canonical_id": _me(player), "title": "Server maintenance", "body": "Tonight."},
    }
    assert (await send_studio(world.client, event)).status_code == 202
    await run_webhook_jobs(world.runtime)
    assert (await event_row(world.runtime, event["id"], "studio")).status == "processed"


async def test_a_failing_event_is_dead_lettered_and_replayed_from_the_console_idempotently(
    drops_settings: Callable[..., Settings], world: DropsWorld
) -> None:
    player = await device_login(world.client)
    missing_sku = new_sku_id("later")
    event = await _grant_event(player, missing_sku, quantity=2)
    # One attempt only, so the first failure is the last.
    async with running_app(drops_settings(webhook_max_attempts=1)) as (app, runtime):
        async with asgi_client(app) as client:
            assert (await send_studio(client, event)).status_code == 202
        await run_webhook_jobs(runtime)

    stored = await event_row(world.runtime, event["id"], "studio")
    assert stored.status == "failed"
    assert stored.last_error == f"NotFound: No SKU '{missing_sku}'."
    listed = await world.client.get(
        "/api/v1/admin/webhook-events",
        params={"provider": "studio", "status": "failed", "limit": 100},
        headers=auth(world.admin),
    )
    assert listed.status_code == 200
    assert stored.event_id in [e["event_id"] for e in listed.json()["items"]]

    await create_sku(
        world.client, world.admin, sku_id=missing_sku, type="consumable", quantity=1, metadata={}
    )
    replay_path = f"/api/v1/admin/webhook-events/{stored.event_id}/replay"
    for _ in range(3):  # replayed again and again: granted once
        response = await world.client.post(replay_path, headers=auth(world.admin))
        assert response.status_code == 200, response.text
        await run_webhook_jobs(world.runtime)
    assert await balance(world.client, player, missing_sku) == 2
    assert (await event_row(world.runtime, event["id"], "studio")).status == "processed"

    unknown = await world.client.post(
        "/api/v1/admin/webhook-events/we_nope/replay", headers=auth(world.admin)
    )
    assert unknown.status_code == 404
    not_admin = await world.client.post(replay_path, headers=auth(player))
    assert not_admin.status_code == 403


async def test_a_revocation_is_recorded_and_shown_to_staff(world: DropsWorld) -> None:
    subscription_id = str(uuid.uuid4())
    payload = {
        "subscription": {
            "id": subscription_id,
            "status": "authorization_revoked",
            "type": "drop.entitlement.grant",
            "version": "1",
            "condition": {"organization_id": "org-1"},
        }
    }
    response = await send_twitch(world.client, payload, message_type="revocation")
    assert response.status_code == 202
    await run_webhook_jobs(world.runtime)
    subs = await world.client.get("/api/v1/admin/twitch/subscriptions", headers=auth(world.admin))
    [sub] = [s for s in subs.json() if s["subscription_id"] == subscription_id]
    assert sub["status"] == "authorization_revoked" and sub["revoked_at"] is not None
    events = await world.client.get(
        "/api/v1/admin/webhook-events", params={"provider": "twitch"}, headers=auth(world.admin)
    )
    assert any(e["message_type"] == "revocation" for e in events.json()["items"])


async def test_an_event_its_batch_cannot_process_goes_on_alone_and_holds_up_no_other(
    drops_settings: Callable[..., Settings], world: DropsWorld
) -> None:
    player = await device_login(world.client)
    gems = await create_sku(world.client, world.admin, type="consumable", quantity=1, metadata={})
    missing_sku = new_sku_id("absent")
    good = [await _grant_event(player, gems["sku_id"], quantity=n) for n in (1, 2, 4, 8)]
    bad = await _grant_event(player, missing_sku)
    async with running_app(drops_settings(webhook_max_attempts=1)) as (app, runtime):
        async with asgi_client(app) as client:
            # The first goes alone; the ones that arrive while it is written go together.
            answers = await asyncio.gather(
                *(send_studio(client, e) for e in [good[0], bad, *good[1:]])
            )
            assert [a.status_code for a in answers] == [202] * 5
        await run_webhook_jobs(runtime)

    assert await balance(world.client, player, gems["sku_id"]) == 15
    for event in good:
        assert (await event_row(world.runtime, event["id"], "studio")).status == "processed"
    failed = await event_row(world.runtime, bad["id"], "studio")
    assert failed.status == "failed"
    assert failed.last_error == f"NotFound: No SKU '{missing_sku}'."
    # It went on in a job of its own, once.
    alone = await count(
        world.runtime,
        Job,
        Job.queue == "webhook_processing",
        Job.key == f"webhook:{failed.event_id}",
    )
    assert alone == 1
