"""Players report players, UGC and leaderboard entries: targets must exist, nobody reports
themselves, one report per reporter, target and reason a day; reports on one target form one
queue item whose priority rises with distinct reporters; reporters learn the outcome only."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.support.leaderboards import Boards
from tests.support.messaging import send
from tests.support.players import auth, device_login
from tests.support.safety import report, sanction
from tests.support.staff import staff_login
from tests.support.ugc import World


async def _queue_item(world: World, staff: dict[str, str], group_id: str) -> dict[str, Any]:
    response = await world.client.get(
        "/api/v1/moderation/queue?type=report&limit=100", headers=staff
    )
    assert response.status_code == 200, response.text
    (item,) = [i for i in response.json()["items"] if i["subject"]["group_id"] == group_id]
    return dict(item)


async def _group_of(world: World, staff: dict[str, str], target_id: str) -> dict[str, Any]:
    response = await world.client.get(
        "/api/v1/moderation/queue?type=report&limit=100", headers=staff
    )
    (item,) = [i for i in response.json()["items"] if i["subject"]["target"]["id"] == target_id]
    return dict(item)


async def test_duplicate_reports_are_refused_and_other_reasons_taken(world: World) -> None:
    reporter = await world.player()
    target = await world.canonical_id(await world.player())
    first = await report(world.client, reporter, "player", target, "cheating")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "open"
    again = await report(world.client, reporter, "player", target, "cheating")
    assert again.status_code == 409 and again.json()["code"] == "duplicate_report"
    other_reason = await report(world.client, reporter, "player", target, "harassment")
    assert other_reason.status_code == 201, other_reason.text


async def test_reporting_yourself_is_422(world: World) -> None:
    player = await world.player()
    response = await report(world.client, player, "player", await world.canonical_id(player))
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("target_type", "target_id"),
    [
        ("player", "p" + "0" * 24),
        ("ugc", "u" + "0" * 24),
        ("leaderboard_entry", "no-such-season:p000"),
        ("leaderboard_entry", "no-colon"),
        ("message", "m" + "0" * 24),
    ],
)
async def test_targets_that_do_not_exist_are_404(
    world: World, target_type: str, target_id: str
) -> None:
    response = await report(world.client, await world.player(), target_type, target_id)
    assert response.status_code == 404, response.text


async def test_a_message_is_reported_for_the_player_behind_it(world: World) -> None:
    """A friend request's message carries its sender's name: reported, the sender is the
    target's player. The studio's messages have no player behind them (422), and another
    player's message cannot be found (404)."""
    reporter, sender, bystander = await world.player(), await world.player(), await world.player()
    sender_id = await world.canonical_id(sender)
    reporter_id = await world.canonical_id(reporter)
    requested = await world.client.put(f"/api/v1/users/me/friends/{reporter_id}", headers=sender)
    assert requested.is_success, requested.text
    mine = await world.client.get("/api/v1/inbox", headers=reporter)
    (message,) = [m for m in mine.json()["items"] if m["kind"] == "social"]

    filed = await report(world.client, reporter, "message", message["message_id"], "harassment")
    assert filed.status_code == 201, filed.text
    assert filed.json()["target"] == {"type": "message", "id": message["message_id"]}
    group = await _group_of(world, await world.moderator(), message["message_id"])
    assert group["subject"]["target"]["type"] == "message"
    assert group["subject"]["target"]["canonical_id"] == sender_id

    # Only the recipient can see (and so report) the message.
    stranger = await report(world.client, bystander, "message", message["message_id"], "spam")
    assert stranger.status_code == 404, stranger.text

    admin = await staff_login(world.client, world.runtime)
    notice = await send(world.client, admin, {"user": {"canonical_id": reporter_id}})
    studio = await report(world.client, reporter, "message", notice["message_id"], "spam")
    assert studio.status_code == 422, studio.text
    assert studio.json()["errors"][0]["field"] == "target.id"


@pytest.mark.parametrize(
    "body",
    [
        {"target": {"type": "guild", "id": "g1"}, "reason": "spam"},
        {"target": {"type": "player", "id": "p1"}, "reason": "smells"},
        {"target": {"type": "player", "id": "../etc"}, "reason": "spam"},
        {"target": {"type": "player", "id": "x" * 65}, "reason": "spam"},
        {"target": {"type": "player"}, "reason": "spam"},
        {"target": {"type": "player", "id": "p1"}, "reason": "spam", "description": "x" * 2001},
        {"target": {"type": "player", "id": "p1"}, "reason": "spam", "context": "not an object"},
        {"target": {"type": "player", "id": "p1"}, "reason": "spam", "extra": 1},
    ],
)
async def test_bad_reports_are_422(world: World, body: dict[str, Any]) -> None:
    response = await world.client.post("/api/v1/reports", json=body, headers=await world.player())
    assert response.status_code == 422, response.text


async def test_reports_on_one_target_are_grouped_and_rise_in_priority(world: World) -> None:
    target = await world.canonical_id(await world.player())
    staff = await world.moderator()
    reporters = [await world.player() for _ in range(3)]
    first = await report(world.client, reporters[0], "player", target, "cheating")
    group = await _group_of(world, staff, target)
    assert group["priority"] == 1 and group["subject"]["reporters"] == 1
    await report(world.client, reporters[0], "player", target, "harassment")  # same reporter
    assert (await _group_of(world, staff, target))["priority"] == 1
    for reporter in reporters[1:]:
        filed = await report(world.client, reporter, "player", target, "cheating")
        assert filed.status_code == 201
    grouped = await _group_of(world, staff, target)
    assert grouped["item_id"] == group["item_id"]
    assert grouped["priority"] == 3
    assert grouped["subject"]["reasons"] == {"cheating": 3, "harassment": 1}
    assert grouped["type"] == "report" and grouped["age_seconds"] >= 0
    assert first.json()["report_id"] not in str(grouped)  # reporters stay out of the queue


async def test_reporters_learn_the_outcome_without_details(world: World) -> None:
    reporter, bystander = await world.player(), await world.player()
    target = await world.canonical_id(await world.player())
    assert (await world.client.get("/api/v1/reports", headers=reporter)).json()["items"] == []
    filed = await report(world.client, reporter, "player", target, "cheating")
    (item,) = (await world.client.get("/api/v1/reports", headers=reporter)).json()["items"]
    assert item["status"] == "open"  # filing renewed the list read (and kept) before
    staff = await world.moderator()
    await sanction(
        world.client, staff, target, scope="leaderboards", report_ids=[filed.json()["report_id"]]
    )
    mine = await world.client.get("/api/v1/reports", headers=reporter)
    (item,) = mine.json()["items"]
    assert item["status"] == "actioned"
    assert set(item) == {"report_id", "target", "reason", "status", "created_at"}
    # Another player sees none of it.
    assert (await world.client.get("/api/v1/reports", headers=bystander)).json()["items"] == []
    # The group left the queue.
    listed = await world.client.get("/api/v1/moderation/queue?type=report&limit=100", headers=staff)
    assert target not in str(listed.json()["items"])


async def test_a_dismissed_group_tells_its_reporters(world: World) -> None:
    reporter = await world.player()
    target = await world.canonical_id(await world.player())
    await report(world.client, reporter, "player", target, "spam")
    staff = await world.moderator()
    group = await _group_of(world, staff, target)
    decided = await world.client.post(
        f"/api/v1/moderation/report-groups/{group['subject']['group_id']}/decision",
        json={"action": "dismiss", "notes": "nothing there"},
        headers=staff,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "dismissed"
    mine = (await world.client.get("/api/v1/reports", headers=reporter)).json()["items"]
    assert mine[0]["status"] == "dismissed"
    twice = await world.client.post(
        f"/api/v1/moderation/report-groups/{group['subject']['group_id']}/decision",
        json={"action": "action"},
        headers=staff,
    )
    assert twice.status_code == 409
    # A new report on the same target opens a new group.
    again = await report(world.client, await world.player(), "player", target, "spam")
    assert again.status_code == 201
    assert (await _group_of(world, staff, target))["item_id"] != group["item_id"]


async def test_ugc_and_leaderboard_entries_can_be_reported(world: World) -> None:
    creator = await world.player()
    item = await world.draft(creator, b"fine notes")
    ugc_id = item["ugc"]["ugc_id"]
    reporter = await world.player()
    # A draft is not visible to other players: as good as absent.
    assert (await report(world.client, reporter, "ugc", ugc_id)).status_code == 404
    assert (await report(world.client, creator, "ugc", ugc_id)).status_code == 422  # own item

    boards = await Boards.open(world.client, world.runtime)
    season_id = (await boards.season())["season_id"]
    scorer = await device_login(world.client)
    await boards.scored(season_id, scorer, 99)
    entry = f"{season_id}:{scorer['user']['canonical_id']}"
    filed = await report(world.client, reporter, "leaderboard_entry", entry, "cheating")
    assert filed.status_code == 201, filed.text
    assert filed.json()["target"] == {"type": "leaderboard_entry", "id": entry}
    own = await report(world.client, auth(scorer), "leaderboard_entry", entry, "cheating")
    assert own.status_code == 422
    nobody = f"{season_id}:p{secrets.token_hex(12)}"
    assert (await report(world.client, reporter, "leaderboard_entry", nobody)).status_code == 404


async def test_reporters_are_rate_limited(world: World, safety_settings: Any) -> None:
    from tests.conftest import asgi_client, running_app

    async with (
        running_app(safety_settings(safety_report_rate="2/hour")) as (app, _),
        asgi_client(app) as client,
    ):
        reporter = auth(await device_login(client))
        targets = [(await device_login(client))["user"]["canonical_id"] for _ in range(3)]
        codes = [(await report(client, reporter, "player", t)).status_code for t in targets]
        assert codes == [201, 201, 429]
