"""Campaign administration: create, list, read, edit and stats, admin only and audited;
SKUs must exist, windows must make sense."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.support.commerce import balance, create_sku
from tests.support.drops import DropsWorld, drops_notification, run_webhook_jobs, send_twitch
from tests.support.players import auth, device_login

PATH = "/api/v1/admin/campaigns"


def _body(sku_id: str, **fields: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "name": "Season one drops",
        "twitch_game_id": "509658",
        "starts_at": now.isoformat(),
        "ends_at": (now + dt.timedelta(days=3)).isoformat(),
        "rewards": [{"benefit_id": "b-1", "grants": [{"sku_id": sku_id, "quantity": 2}]}],
        **fields,
    }


async def test_staff_create_list_edit_and_read_campaigns(world: DropsWorld) -> None:
    sku = await create_sku(world.client, world.admin, type="durable", metadata={})
    admin = auth(world.admin)
    created = await world.client.post(PATH, json=_body(sku["sku_id"]), headers=admin)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft" and campaign["provider"] == "twitch"
    assert campaign["rewards"] == [
        {"benefit_id": "b-1", "grants": [{"sku_id": sku["sku_id"], "quantity": 2}]}
    ]
    path = f"{PATH}/{campaign['campaign_id']}"

    edited = await world.client.patch(path, json={"status": "active", "name": "S1"}, headers=admin)
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "active" and edited.json()["name"] == "S1"
    assert (await world.client.get(path, headers=admin)).json()["name"] == "S1"

    listed = await world.client.get(PATH, params={"status": "active", "limit": 100}, headers=admin)
    assert campaign["campaign_id"] in [c["campaign_id"] for c in listed.json()["items"]]
    stats = await world.client.get(f"{path}/stats", headers=admin)
    assert stats.json() == {"granted": 0, "pending_link": 0, "fulfilled": 0, "failed": 0}

    audit = await world.client.get("/api/v1/admin/audit-logs", params={"limit": 100}, headers=admin)
    actions = [e["action"] for e in audit.json()["items"]]
    assert "drops.campaign_create" in actions and "drops.campaign_update" in actions


async def test_campaigns_are_refused_when_they_cannot_work(world: DropsWorld) -> None:
    admin = auth(world.admin)
    unknown = await world.client.post(PATH, json=_body("no-such-sku"), headers=admin)
    assert unknown.status_code == 404
    sku = await create_sku(world.client, world.admin, type="durable", metadata={})
    now = dt.datetime.now(dt.UTC).isoformat()
    backwards = await world.client.post(
        PATH, json=_body(sku["sku_id"], starts_at=now, ends_at=now), headers=admin
    )
    assert backwards.status_code == 422
    twice = _body(sku["sku_id"])
    twice["rewards"] = twice["rewards"] * 2
    assert (await world.client.post(PATH, json=twice, headers=admin)).status_code == 422
    player = auth(await device_login(world.client))
    assert (
        await world.client.post(PATH, json=_body(sku["sku_id"]), headers=player)
    ).status_code == 403
    assert (await world.client.get(f"{PATH}/cmp_nope", headers=admin)).status_code == 404


async def test_an_ended_campaign_grants_nothing_more(world: DropsWorld) -> None:
    campaign = await world.campaign()
    player, twitch_id = await world.linked_player()
    ended = await world.client.patch(
        f"{PATH}/{campaign['campaign_id']}", json={"status": "ended"}, headers=auth(world.admin)
    )
    assert ended.status_code == 200
    claim = await world.claim(campaign, twitch_id)
    assert (await send_twitch(world.client, drops_notification(claim))).status_code == 202
    await run_webhook_jobs(world.runtime)
    assert await balance(world.client, player, campaign["sku_id"]) == 0
