"""Appeals against sanctions and content: one open per target, only by the player concerned,
decided by another moderator than the one who imposed the sanction; granting lifts the
sanction (on the next request) or restores the content."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.safety import report, sanction
from tests.support.ugc import World


async def _appeal(world: World, player: dict[str, str], type_: str, id_: str) -> Any:
    return await world.client.post(
        "/api/v1/appeals",
        json={"target": {"type": type_, "id": id_}, "message": "I did not do it."},
        headers=player,
    )


async def _decide(world: World, staff: dict[str, str], appeal_id: str, action: str) -> Any:
    return await world.client.post(
        f"/api/v1/moderation/appeals/{appeal_id}/decision",
        json={"action": action, "notes": f"{action} in a test"},
        headers=staff,
    )


async def test_granted_appeal_lifts_the_sanction_on_the_next_request(world: World) -> None:
    player = await world.player()
    imposer, other = await world.moderator(), await world.moderator()
    placed = await sanction(world.client, imposer, await world.canonical_id(player), scope="social")
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()
    assert mine["items"][0]["appealable"] is True  # read (and kept) before the appeal
    friend = await world.canonical_id(await world.player())
    assert (
        await world.client.put(f"/api/v1/users/me/friends/{friend}", headers=player)
    ).status_code == 403

    opened = await _appeal(world, player, "sanction", placed["sanction_id"])
    assert opened.status_code == 201, opened.text
    appeal = opened.json()
    assert appeal["status"] == "open"
    assert appeal["target"] == {"type": "sanction", "id": placed["sanction_id"]}
    twice = await _appeal(world, player, "sanction", placed["sanction_id"])
    assert twice.status_code == 409 and twice.json()["code"] == "appeal_open"
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()
    assert mine["items"][0]["appealable"] is False  # one is open

    own = await _decide(world, imposer, appeal["appeal_id"], "grant")
    assert own.status_code == 403 and own.json()["code"] == "own_sanction"

    queue = await world.client.get("/api/v1/moderation/queue?type=appeal&limit=100", headers=other)
    assert appeal["appeal_id"] in [i["subject"].get("appeal_id") for i in queue.json()["items"]]

    granted = await _decide(world, other, appeal["appeal_id"], "grant")
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "granted"
    asked = await world.client.put(f"/api/v1/users/me/friends/{friend}", headers=player)
    assert asked.status_code == 200, asked.text
    staff_view = await world.client.get(
        f"/api/v1/moderation/sanctions/{placed['sanction_id']}", headers=other
    )
    assert staff_view.json()["active"] is False and staff_view.json()["lifted_by"]
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()
    assert mine["items"][0]["active"] is False and mine["items"][0]["lifted_at"]
    again = await _decide(world, other, appeal["appeal_id"], "deny")
    assert again.status_code == 409
    queue = await world.client.get("/api/v1/moderation/queue?type=appeal&limit=100", headers=other)
    assert appeal["appeal_id"] not in str(queue.json()["items"])


async def test_denied_appeal_keeps_the_sanction(world: World) -> None:
    player = await world.player()
    placed = await sanction(
        world.client, await world.moderator(), await world.canonical_id(player), scope="ugc"
    )
    opened = (await _appeal(world, player, "sanction", placed["sanction_id"])).json()
    denied = await _decide(world, await world.moderator(), opened["appeal_id"], "deny")
    assert denied.status_code == 200 and denied.json()["status"] == "denied"
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()
    assert mine["items"][0]["active"] is True


async def test_only_the_sanctioned_player_may_appeal(world: World) -> None:
    player, stranger = await world.player(), await world.player()
    placed = await sanction(
        world.client, await world.moderator(), await world.canonical_id(player), scope="ugc"
    )
    response = await _appeal(world, stranger, "sanction", placed["sanction_id"])
    assert response.status_code == 404
    unknown = await _appeal(world, player, "sanction", "s" + "0" * 24)
    assert unknown.status_code == 404


async def test_a_lifted_sanction_cannot_be_appealed(world: World) -> None:
    player = await world.player()
    staff = await world.moderator()
    placed = await sanction(world.client, staff, await world.canonical_id(player), scope="ugc")
    await world.client.post(
        f"/api/v1/moderation/sanctions/{placed['sanction_id']}/lift",
        json={"reason": "mistake"},
        headers=staff,
    )
    response = await _appeal(world, player, "sanction", placed["sanction_id"])
    assert response.status_code == 409 and response.json()["code"] == "not_appealable"


async def test_the_second_moderator_rule_can_be_turned_off(
    world: World, safety_settings: Any
) -> None:
    from tests.conftest import asgi_client, running_app

    async with (
        running_app(safety_settings(safety_appeal_second_moderator=False)) as (app, runtime),
        asgi_client(app) as client,
    ):
        local = World(store="local", client=client, runtime=runtime)
        player, staff = await local.player(), await local.moderator()
        placed = await sanction(client, staff, await local.canonical_id(player), scope="ugc")
        opened = (await _appeal(local, player, "sanction", placed["sanction_id"])).json()
        assert (await _decide(local, staff, opened["appeal_id"], "grant")).status_code == 200


async def test_content_appeals_restore_the_item(world: World) -> None:
    creator = await world.player()
    ugc_id = await world.published(creator, b"satire, honestly")
    staff = await world.moderator()
    removed = await world.decide(staff, ugc_id, "remove")
    assert removed.status_code == 200, removed.text
    stranger = await world.player()
    assert (await _appeal(world, stranger, "ugc", ugc_id)).status_code == 404

    opened = await _appeal(world, creator, "ugc", ugc_id)
    assert opened.status_code == 201, opened.text
    appeal = opened.json()
    assert appeal["target"] == {"type": "ugc", "id": ugc_id}
    twice = await _appeal(world, creator, "ugc", ugc_id)
    assert twice.status_code == 409 and twice.json()["code"] == "appeal_open"

    queue = await world.client.get("/api/v1/moderation/queue?type=appeal&limit=100", headers=staff)
    listed = [i["subject"].get("appeal_id") for i in queue.json()["items"]]
    assert appeal["appeal_id"] in listed
    granted = await _decide(world, staff, appeal["appeal_id"], "grant")
    assert granted.status_code == 200, granted.text
    assert granted.json()["status"] == "granted"
    assert (await world.item(creator, ugc_id))["status"] == "published"


@pytest.mark.parametrize(
    "body",
    [
        {"target": {"type": "player", "id": "p1"}, "message": "hi"},
        {"target": {"type": "sanction", "id": "s1"}, "message": ""},
        {"target": {"type": "sanction", "id": "s1"}, "message": "x" * 4001},
        {"target": {"type": "sanction", "id": "s/../1"}, "message": "hi"},
        {"target": {"type": "sanction", "id": "s1"}},
    ],
)
async def test_bad_appeals_are_422(world: World, body: dict[str, Any]) -> None:
    response = await world.client.post("/api/v1/appeals", json=body, headers=await world.player())
    assert response.status_code == 422, response.text


async def test_report_linked_then_appealed_sanction_keeps_reporters_hidden(world: World) -> None:
    player, reporter = await world.player(), await world.player()
    canonical_id = await world.canonical_id(player)
    filed = await report(world.client, reporter, "player", canonical_id, "hate")
    placed = await sanction(
        world.client,
        await world.moderator(),
        canonical_id,
        type="mute",
        reason="hate",
        report_ids=[filed.json()["report_id"]],
    )
    opened = await _appeal(world, player, "sanction", placed["sanction_id"])
    assert filed.json()["report_id"] not in opened.text
    assert await world.canonical_id(reporter) not in opened.text
