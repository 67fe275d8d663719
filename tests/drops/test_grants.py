"""The drop grant flow: EventSub notification → exactly one grant through commerce → the
entitlement FULFILLED at Twitch → the player can see it. Concurrent redeliveries, the same
entitlement arriving by two paths, link-later, unmapped benefits and Helix partial
failures."""

from __future__ import annotations

import asyncio
import uuid

from playerplatform.commerce.models import Entitlement, LedgerEntry
from playerplatform.drops.models import Drop
from tests.support.commerce import balance, owned
from tests.support.db import count
from tests.support.drops import (
    DropsWorld,
    drop_rows,
    drops_notification,
    run_webhook_jobs,
    send_twitch,
)
from tests.support.platforms import twitch_code
from tests.support.players import auth, device_login


async def _grants(world: DropsWorld, entitlement_id: str) -> int:
    return await count(
        world.runtime, LedgerEntry, LedgerEntry.grant_key.like(f"twitch:{entitlement_id}:%")
    )


async def _stats(world: DropsWorld, campaign_id: str) -> dict[str, int]:
    response = await world.client.get(
        f"/api/v1/admin/campaigns/{campaign_id}/stats", headers=auth(world.admin)
    )
    assert response.status_code == 200, response.text
    stats: dict[str, int] = response.json()
    return stats


async def test_an_eventsub_drop_is_granted_fulfilled_and_shown_to_the_player(
    world: DropsWorld,
) -> None:
    campaign = await world.campaign(quantity=3)
    player, twitch_id = await world.linked_player()
    entitlement = await world.claim(campaign, twitch_id)
    assert await world.my_drops(player) == []  # read (and kept) before the drop arrives

    response = await send_twitch(world.client, drops_notification(entitlement))
    assert response.status_code == 202
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, campaign["sku_id"]) == 3
    assert (await world.twitch_state(entitlement.entitlement_id))[
        "fulfillment_status"
    ] == "FULFILLED"
    [drop] = await world.my_drops(player)
    assert drop["status"] == "fulfilled"
    assert drop["campaign_id"] == campaign["campaign_id"]
    assert drop["benefit_id"] == campaign["benefit_id"]
    assert drop["grants"] == [{"sku_id": campaign["sku_id"], "quantity": 3}]
    assert await _stats(world, campaign["campaign_id"]) == {
        "granted": 0,
        "pending_link": 0,
        "fulfilled": 1,
        "failed": 0,
    }


async def test_a_hundred_concurrent_deliveries_of_one_message_grant_once_and_fulfil_once(
    world: DropsWorld,
) -> None:
    campaign = await world.campaign(sku_type="durable")
    player, twitch_id = await world.linked_player()
    entitlement = await world.claim(campaign, twitch_id)
    payload = drops_notification(entitlement)
    message_id = str(uuid.uuid4())

    answers = await asyncio.gather(
        *(send_twitch(world.client, payload, message_id=message_id) for _ in range(100))
    )
    assert all(a.status_code == 202 for a in answers), {a.status_code for a in answers}
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    # Twitch keeps redelivering while processing runs: still one of everything.
    await asyncio.gather(
        run_webhook_jobs(world.runtime),
        *(send_twitch(world.client, payload, message_id=message_id) for _ in range(10)),
    )
    await run_webhook_jobs(world.runtime)

    assert await owned(world.client, player, campaign["sku_id"])
    grant_keys = Entitlement.grant_key.like(f"twitch:{entitlement.entitlement_id}:%")
    assert await count(world.runtime, Entitlement, grant_keys) == 1
    state = await world.twitch_state(entitlement.entitlement_id)
    assert state["fulfillment_status"] == "FULFILLED" and state["patches"] == 1
    [drop] = await drop_rows(world.runtime, entitlement.entitlement_id)
    assert drop.status == "fulfilled"


async def test_the_same_entitlement_by_eventsub_and_by_sync_grants_once(world: DropsWorld) -> None:
    campaign = await world.campaign()
    player, twitch_id = await world.linked_player()
    entitlement = await world.claim(campaign, twitch_id)

    # Both paths at the same time: the notification's processing and the player's sync.
    assert (await send_twitch(world.client, drops_notification(entitlement))).status_code == 202
    sync, _ = await asyncio.gather(
        world.client.post("/api/v1/drops/sync", headers=auth(player)),
        run_webhook_jobs(world.runtime),
    )
    assert sync.status_code == 200, sync.text
    again = await world.client.post("/api/v1/drops/sync", headers=auth(player))
    assert again.status_code == 200 and again.json()["items"] == []
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, campaign["sku_id"]) == 1
    assert await _grants(world, entitlement.entitlement_id) == 1
    assert [d["status"] for d in await world.my_drops(player)] == ["fulfilled"]


async def test_sync_alone_pulls_claimed_drops_and_is_idempotent_per_key(world: DropsWorld) -> None:
    campaign = await world.campaign(quantity=2)
    player, twitch_id = await world.linked_player()
    first = await world.claim(campaign, twitch_id)
    second = await world.claim(campaign, twitch_id)
    headers = {**auth(player), "Idempotency-Key": f"sync-{uuid.uuid4()}"}

    response = await world.client.post("/api/v1/drops/sync", headers=headers)
    assert response.status_code == 200, response.text
    assert sorted(d["status"] for d in response.json()["items"]) == ["granted", "granted"]
    replay = await world.client.post("/api/v1/drops/sync", headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == response.json()
    assert len(await world.my_drops(player)) == 2  # read (and kept) before the fulfilment
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, campaign["sku_id"]) == 4
    for e in (first, second):
        assert (await world.twitch_state(e.entitlement_id))["fulfillment_status"] == "FULFILLED"
    assert [d["status"] for d in await world.my_drops(player)] == ["fulfilled", "fulfilled"]

    unlinked = await device_login(world.client)
    response = await world.client.post("/api/v1/drops/sync", headers=auth(unlinked))
    assert response.status_code == 409 and response.json()["code"] == "twitch_not_linked"


async def test_a_drop_for_an_unlinked_twitch_user_waits_and_is_granted_when_linked(
    world: DropsWorld,
) -> None:
    campaign = await world.campaign()
    twitch_id = str(uuid.uuid4().int % 10**9)
    entitlement = await world.claim(campaign, twitch_id)
    assert (await send_twitch(world.client, drops_notification(entitlement))).status_code == 202
    await run_webhook_jobs(world.runtime)

    [drop] = await drop_rows(world.runtime, entitlement.entitlement_id)
    assert drop.status == "pending_link" and drop.user_id is None
    assert (await world.twitch_state(entitlement.entitlement_id))["fulfillment_status"] == "CLAIMED"
    assert (await _stats(world, campaign["campaign_id"]))["pending_link"] == 1

    player = await device_login(world.client)
    code, _ = await twitch_code(world.emulators, twitch_id)
    await world.link(player, code)
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, campaign["sku_id"]) == 1
    assert [d["status"] for d in await world.my_drops(player)] == ["fulfilled"]
    assert (await world.twitch_state(entitlement.entitlement_id))[
        "fulfillment_status"
    ] == "FULFILLED"
    # The link job again (a redelivery) grants nothing more.
    from playerplatform.drops.grants import queue_link_grants

    async with world.runtime.db.unit_of_work() as uow:
        await queue_link_grants(uow, twitch_id)
    await run_webhook_jobs(world.runtime)
    assert await _grants(world, entitlement.entitlement_id) == 1


async def test_a_benefit_no_active_campaign_maps_is_recorded_not_granted(world: DropsWorld) -> None:
    draft = await world.campaign(status="draft")
    player, twitch_id = await world.linked_player()
    entitlement = await world.claim(draft, twitch_id)
    assert (await send_twitch(world.client, drops_notification(entitlement))).status_code == 202
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, draft["sku_id"]) == 0
    [drop] = await drop_rows(world.runtime, entitlement.entitlement_id)
    assert drop.status == "unmapped" and drop.campaign_id is None
    assert await world.my_drops(player) == []
    response = await world.client.get(
        "/api/v1/admin/drops/unmapped", params={"limit": 100}, headers=auth(world.admin)
    )
    assert response.status_code == 200
    assert entitlement.entitlement_id in [d["entitlement_id"] for d in response.json()["items"]]


async def test_helix_partial_failures_are_retried_and_final_refusals_counted(
    world: DropsWorld,
) -> None:
    campaign = await world.campaign()
    player, twitch_id = await world.linked_player()
    flaky, fine, gone = [await world.claim(campaign, twitch_id) for _ in range(3)]
    await world.fail_patches([flaky.entitlement_id], "UPDATE_FAILED", times=2)
    await world.fail_patches([gone.entitlement_id], "NOT_FOUND", times=1)

    payload = drops_notification(flaky, fine, gone)  # one batched message
    assert (await send_twitch(world.client, payload)).status_code == 202
    await run_webhook_jobs(world.runtime, include_future=True)

    assert await balance(world.client, player, campaign["sku_id"]) == 3
    states = {
        e.entitlement_id: await world.twitch_state(e.entitlement_id) for e in (flaky, fine, gone)
    }
    assert states[fine.entitlement_id]["fulfillment_status"] == "FULFILLED"
    assert states[flaky.entitlement_id]["fulfillment_status"] == "FULFILLED"
    assert states[flaky.entitlement_id]["patches"] == 3  # two failures, then success
    assert states[fine.entitlement_id]["patches"] == 1  # not patched again
    rows = {d.entitlement_id: d for d in await drop_rows(world.runtime, *states)}
    assert rows[flaky.entitlement_id].status == "fulfilled"
    assert rows[flaky.entitlement_id].fulfil_attempts == 2
    assert rows[gone.entitlement_id].status == "failed"
    assert await _stats(world, campaign["campaign_id"]) == {
        "granted": 0,
        "pending_link": 0,
        "fulfilled": 2,
        "failed": 1,
    }
    # The player still sees the refused one as granted: the items are theirs.
    assert sorted(d["status"] for d in await world.my_drops(player)) == [
        "fulfilled",
        "fulfilled",
        "granted",
    ]


async def test_a_batch_of_more_than_a_hundred_is_fulfilled_in_patches_of_a_hundred(
    world: DropsWorld,
) -> None:
    campaign = await world.campaign()
    player, twitch_id = await world.linked_player()
    claims = await asyncio.gather(*(world.claim(campaign, twitch_id) for _ in range(130)))
    assert (await send_twitch(world.client, drops_notification(*claims))).status_code == 202
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, campaign["sku_id"]) == 130
    ids = [c.entitlement_id for c in claims]
    assert (
        await count(world.runtime, Drop, Drop.entitlement_id.in_(ids), Drop.status == "fulfilled")
        == 130
    )


async def test_a_merge_moves_the_drops_with_the_twitch_account(world: DropsWorld) -> None:
    campaign = await world.campaign()
    first, twitch_id = await world.linked_player()
    claim = await world.claim(campaign, twitch_id)
    assert (await send_twitch(world.client, drops_notification(claim))).status_code == 202
    await run_webhook_jobs(world.runtime)
    assert len(await world.my_drops(first)) == 1

    second = await device_login(world.client)
    code, _ = await twitch_code(world.emulators, twitch_id)
    conflict = await world.client.post(
        "/api/v1/auth/links/twitch",
        json={"code": code, "redirect_uri": "http://localhost/cb"},
        headers=auth(second),
    )
    assert conflict.status_code == 409, conflict.text
    merged = await world.client.post(
        "/api/v1/auth/merge",
        json={"merge_token": conflict.json()["merge_token"]},
        headers=auth(second),
    )
    assert merged.status_code == 200, merged.text
    assert [d["drop_id"] for d in await world.my_drops(second)] == [
        (await drop_rows(world.runtime, claim.entitlement_id))[0].drop_id
    ]
    assert await balance(world.client, second, campaign["sku_id"]) == 1
