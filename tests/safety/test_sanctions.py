"""Sanctions apply from the player's very next request, on every path their scope covers (the
fast dispatch and FastAPI's own path alike), in every API process, and timed ones end by
themselves."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.auth.state import user_key
from playerplatform.kit.settings import Settings
from playerplatform.users.models import User
from tests.conftest import asgi_client, running_app
from tests.kit import REDIS_URL
from tests.support.leaderboards import Boards
from tests.support.players import auth, device_login, email_register, plain_tag
from tests.support.safety import sanction
from tests.support.staff import staff_login
from tests.support.ugc import World, sha256

PLAYER_VIEW = {
    "sanction_id",
    "type",
    "scope",
    "reason",
    "message",
    "starts_at",
    "ends_at",
    "lifted_at",
    "active",
    "appealable",
}


def _in(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def _draft_body() -> dict[str, Any]:
    data = b"some notes"
    return {
        "type": "text",
        "name": f"Notes {plain_tag()}",
        "file": {
            "filename": "notes.txt",
            "size": len(data),
            "content_type": "text/plain",
            "sha256": sha256(data),
        },
    }


async def _season(world: World) -> str:
    boards = await Boards.open(world.client, world.runtime)
    return str((await boards.season())["season_id"])


async def _score(client: httpx.AsyncClient, season_id: str, player: Any, score: float) -> int:
    response = await client.post(
        f"/api/v1/leaderboards/{season_id}/scores", json={"score": score}, headers=auth(player)
    )
    return response.status_code


def _refused(response: httpx.Response, scope: str) -> bool:
    body = response.json()
    return response.status_code == 403 and body["code"] == "restricted" and body["scope"] == scope


async def test_leaderboard_restriction_refuses_scores_until_lifted(world: World) -> None:
    season_id = await _season(world)
    player = await device_login(world.client)
    canonical_id = player["user"]["canonical_id"]
    assert await _score(world.client, season_id, player, 10) == 200
    staff = await world.moderator()

    placed = await sanction(world.client, staff, canonical_id, scope="leaderboards")
    assert placed["active"] and placed["type"] == "restriction"
    refused = await world.client.post(
        f"/api/v1/leaderboards/{season_id}/scores", json={"score": 20}, headers=auth(player)
    )
    assert _refused(refused, "leaderboards"), refused.text
    # Only that scope: the player still uploads and names themselves.
    created = await world.client.post("/api/v1/ugc", json=_draft_body(), headers=auth(player))
    assert created.status_code == 201, created.text

    lifted = await world.client.post(
        f"/api/v1/moderation/sanctions/{placed['sanction_id']}/lift",
        json={"reason": "mistake"},
        headers=staff,
    )
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["active"] is False
    assert await _score(world.client, season_id, player, 30) == 200
    again = await world.client.post(
        f"/api/v1/moderation/sanctions/{placed['sanction_id']}/lift",
        json={"reason": "twice"},
        headers=staff,
    )
    assert again.status_code == 409 and again.json()["code"] == "already_lifted"


async def test_ugc_restriction_refuses_drafts_and_uploads(world: World) -> None:
    player = await world.player()
    created = await world.client.post("/api/v1/ugc", json=_draft_body(), headers=player)
    assert created.status_code == 201
    ugc_id = created.json()["ugc"]["ugc_id"]
    await sanction(
        world.client, await world.moderator(), await world.canonical_id(player), scope="ugc"
    )
    assert _refused(
        await world.client.post("/api/v1/ugc", json=_draft_body(), headers=player), "ugc"
    )
    for path in (f"/api/v1/ugc/{ugc_id}/complete", f"/api/v1/ugc/{ugc_id}/upload-url"):
        assert _refused(await world.client.post(path, headers=player), "ugc")


@pytest.mark.parametrize("kind", [{"type": "restriction", "scope": "social"}, {"type": "mute"}])
async def test_social_restriction_and_mute_refuse_friend_requests(
    world: World, kind: dict[str, str]
) -> None:
    player, friend = await world.player(), await world.player()
    friend_id = await world.canonical_id(friend)
    await sanction(world.client, await world.moderator(), await world.canonical_id(player), **kind)
    asked = await world.client.put(f"/api/v1/users/me/friends/{friend_id}", headers=player)
    assert _refused(asked, "social"), asked.text
    # Others may still befriend them, and they may still drop friends.
    other = await world.player()
    assert (
        await world.client.put(
            f"/api/v1/users/me/friends/{await world.canonical_id(other)}", headers=friend
        )
    ).status_code == 200


async def test_name_restriction_clears_the_name_and_locks_it(world: World) -> None:
    player = await world.player()
    named = await world.client.patch(
        "/api/v1/users/me", json={"display_name": "Rude Name"}, headers=player
    )
    assert named.status_code == 200 and named.json()["profile"]["display_name"] == "Rude Name"
    await sanction(
        world.client, await world.moderator(), await world.canonical_id(player), scope="name"
    )
    me = await world.client.get("/api/v1/users/me", headers=player)
    assert me.json()["profile"]["display_name"] is None
    renamed = await world.client.patch(
        "/api/v1/users/me", json={"display_name": "Another"}, headers=player
    )
    assert _refused(renamed, "name"), renamed.text
    # Other profile fields stay the player's.
    located = await world.client.patch("/api/v1/users/me", json={"locale": "fr"}, headers=player)
    assert located.status_code == 200, located.text


async def test_suspension_refuses_sign_in_and_ends_by_itself(world: World) -> None:
    player = await device_login(world.client)
    await sanction(
        world.client,
        await world.moderator(),
        player["user"]["canonical_id"],
        type="suspension",
        scope="all",
        ends_at=_in(1.5),
    )
    me = await world.client.get("/api/v1/users/me", headers=auth(player))
    assert me.status_code in (401, 403)
    login = await world.client.post(
        "/api/v1/auth/device/login", json={"device_id": player["device_id"]}
    )
    assert login.status_code == 403 and login.json()["code"] == "account_banned"
    assert login.json()["reason"] == "cheating" and login.json()["until"]  # told why, and until
    await asyncio.sleep(2)
    after = await device_login(world.client, player["device_id"])
    assert (await world.client.get("/api/v1/users/me", headers=auth(after))).status_code == 200


async def test_timed_restriction_ends_by_itself(world: World) -> None:
    player = await world.player()
    await sanction(
        world.client,
        await world.moderator(),
        await world.canonical_id(player),
        scope="ugc",
        ends_at=_in(1.0),
    )
    refused = await world.client.post("/api/v1/ugc", json=_draft_body(), headers=player)
    assert _refused(refused, "ugc") and refused.json()["ends_at"] is not None
    # Read while in force: the player's list is kept, but only until the sanction ends.
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()["items"]
    assert mine[0]["active"] is True and mine[0]["appealable"] is True
    await asyncio.sleep(1.5)
    created = await world.client.post("/api/v1/ugc", json=_draft_body(), headers=player)
    assert created.status_code == 201, created.text
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()["items"]
    assert mine[0]["active"] is False and mine[0]["appealable"] is False


async def test_players_see_their_sanctions_but_not_who_reported_them(world: World) -> None:
    player, reporter = await world.player(), await world.player()
    canonical_id = await world.canonical_id(player)
    filed = await world.client.post(
        "/api/v1/reports",
        json={"target": {"type": "player", "id": canonical_id}, "reason": "cheating"},
        headers=reporter,
    )
    assert filed.status_code == 201, filed.text
    staff = await world.moderator()
    placed = await sanction(
        world.client,
        staff,
        canonical_id,
        type="warning",
        scope="all",
        report_ids=[filed.json()["report_id"]],
        notes="reported by a friend of theirs",
    )
    assert placed["report_ids"] == [filed.json()["report_id"]]
    mine = await world.client.get("/api/v1/users/me/sanctions", headers=player)
    assert mine.status_code == 200
    (item,) = mine.json()["items"]
    assert set(item) == PLAYER_VIEW
    assert item["type"] == "warning" and item["reason"] == "cheating" and item["appealable"]
    assert "report" not in mine.text and "friend" not in mine.text
    # Nobody else's sanctions are reachable through the player routes.
    assert (await world.client.get("/api/v1/users/me/sanctions", headers=reporter)).json() == {
        "items": []
    }


async def test_players_are_refused_moderator_routes(world: World) -> None:
    player = await world.player()
    other = await world.canonical_id(await world.player())
    for method, path, body in (
        (
            "POST",
            "/api/v1/moderation/sanctions",
            {"canonical_id": other, "type": "ban", "reason": "spam"},
        ),
        ("GET", "/api/v1/moderation/sanctions/s0", None),
        ("GET", "/api/v1/moderation/queue", None),
        ("GET", "/api/v1/moderation/feedback", None),
        ("POST", "/api/v1/moderation/appeals/ap0/decision", {"action": "grant"}),
    ):
        response = await world.client.request(method, path, json=body, headers=player)
        assert response.status_code == 403, (path, response.text)


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "exile"},
        {"scope": "everything"},
        {"reason": "being_annoying"},
        {"type": "restriction", "scope": "all"},
        {"type": "ban", "scope": "ugc"},
        {"type": "suspension", "scope": "all"},  # a suspension needs its end
        {"ends_at": "2001-01-01T00:00:00Z"},
        {"notes": "x" * 2001},
        {"message": "two\nlines"},
        {"report_ids": ["r" * 33]},
        {"extra": True},
    ],
)
async def test_bad_sanctions_are_refused(world: World, fields: dict[str, Any]) -> None:
    staff = await world.moderator()
    canonical_id = await world.canonical_id(await world.player())
    body = {"canonical_id": canonical_id, "type": "restriction", "scope": "ugc", "reason": "spam"}
    response = await world.client.post(
        "/api/v1/moderation/sanctions", json={**body, **fields}, headers=staff
    )
    assert response.status_code == 422, response.text


async def test_sanctioning_an_unknown_player_is_404_and_self_is_refused(world: World) -> None:
    staff_tokens = await staff_login(world.client, world.runtime, "moderator")
    staff = auth(staff_tokens)
    body = {"type": "warning", "reason": "spam"}
    unknown = await world.client.post(
        "/api/v1/moderation/sanctions",
        json={**body, "canonical_id": f"p{secrets.token_hex(12)}"},
        headers=staff,
    )
    assert unknown.status_code == 404
    own = await world.client.post(
        "/api/v1/moderation/sanctions",
        json={**body, "canonical_id": staff_tokens["user"]["canonical_id"]},
        headers=staff,
    )
    assert own.status_code == 422 and own.json()["code"] == "cannot_sanction_self"


async def test_linking_reports_about_someone_else_is_refused(world: World) -> None:
    player, other, reporter = await world.player(), await world.player(), await world.player()
    filed = await world.client.post(
        "/api/v1/reports",
        json={
            "target": {"type": "player", "id": await world.canonical_id(other)},
            "reason": "spam",
        },
        headers=reporter,
    )
    response = await world.client.post(
        "/api/v1/moderation/sanctions",
        json={
            "canonical_id": await world.canonical_id(player),
            "type": "warning",
            "reason": "spam",
            "report_ids": [filed.json()["report_id"]],
        },
        headers=await world.moderator(),
    )
    assert response.status_code == 422, response.text


async def _attempt(
    client: httpx.AsyncClient, scope: str, player: dict[str, Any], targets: dict[str, str]
) -> httpx.Response:
    """One request a restriction of `scope` refuses (repeatable: each succeeds again)."""
    headers = auth(player)
    if scope == "ugc":  # renewing a draft's upload URL writes nothing
        return await client.post(f"/api/v1/ugc/{targets['draft']}/upload-url", headers=headers)
    if scope == "leaderboards":
        return await client.post(
            f"/api/v1/leaderboards/{targets['season']}/scores", json={"score": 1}, headers=headers
        )
    if scope == "social":
        return await client.put(f"/api/v1/users/me/friends/{targets['friend']}", headers=headers)
    return await client.patch("/api/v1/users/me", json={"display_name": "Ace"}, headers=headers)


@pytest.mark.parametrize("fast_dispatch", [True, False])
@pytest.mark.parametrize("scope", ["ugc", "leaderboards", "social", "name"])
async def test_a_restriction_reaches_every_api_process(
    world: World, safety_settings: Callable[..., Settings], fast_dispatch: bool, scope: str
) -> None:
    """Two API processes on Redis: the one serving the player from its copy of their state
    refuses the restricted action as soon as the sanction reaches it through Redis."""
    async with (
        running_app(safety_settings(redis_url=REDIS_URL, fast_dispatch=fast_dispatch)) as (
            here_app,
            _,
        ),
        running_app(safety_settings(redis_url=REDIS_URL, fast_dispatch=fast_dispatch)) as (
            there_app,
            there,
        ),
        asgi_client(here_app) as here,
        asgi_client(there_app) as elsewhere,
    ):
        player = await device_login(here)
        canonical_id = player["user"]["canonical_id"]
        staff = auth(await staff_login(here, world.runtime, "moderator"))
        created = await elsewhere.post("/api/v1/ugc", json=_draft_body(), headers=auth(player))
        assert created.status_code == 201, created.text
        targets = {
            "draft": created.json()["ugc"]["ugc_id"],
            "season": str((await (await Boards.open(here, world.runtime)).season())["season_id"])
            if scope == "leaderboards"
            else "",
            "friend": (await device_login(here))["user"]["canonical_id"],
        }
        near = there.hot.near  # type: ignore[attr-defined]
        async with asyncio.timeout(5):  # listening since the first request there
            await near.wait_live()
        for _ in range(2):  # copied there, then served from the copy
            allowed = await _attempt(elsewhere, scope, player, targets)
            assert allowed.status_code == 200, allowed.text
        assert user_key(canonical_id) in near._entries
        await sanction(here, staff, canonical_id, scope=scope)
        started = time.monotonic()
        while (refused := await _attempt(elsewhere, scope, player, targets)).status_code == 200:
            assert time.monotonic() - started < 1.0, "the sanction did not reach the other process"
            await asyncio.sleep(0.001)
        assert _refused(refused, scope), refused.text


async def test_merging_a_restricted_account_carries_the_restriction(world: World) -> None:
    old = await device_login(world.client)
    await sanction(world.client, await world.moderator(), old["user"]["canonical_id"], scope="ugc")
    guest = await device_login(world.client)
    before = await world.client.get("/api/v1/users/me/sanctions", headers=auth(guest))
    assert before.json()["items"] == []  # read (and kept) before the merge
    conflict = await world.client.post(
        "/api/v1/auth/links/device", json={"device_id": old["device_id"]}, headers=auth(guest)
    )
    assert conflict.status_code == 409, conflict.text
    merged = await world.client.post(
        "/api/v1/auth/merge",
        json={"merge_token": conflict.json()["merge_token"]},
        headers=auth(guest),
    )
    assert merged.status_code == 200, merged.text
    refused = await world.client.post("/api/v1/ugc", json=_draft_body(), headers=auth(guest))
    assert _refused(refused, "ugc"), refused.text
    mine = await world.client.get("/api/v1/users/me/sanctions", headers=auth(guest))
    assert [s["scope"] for s in mine.json()["items"]] == ["ugc"]


async def test_a_game_server_cannot_submit_for_a_restricted_player(world: World) -> None:
    boards = await Boards.open(world.client, world.runtime)
    season_id = (await boards.season(authoritative=True))["season_id"]
    account = (
        await world.client.post(
            "/api/v1/admin/service-accounts",
            json={"name": "match server", "scopes": ["leaderboards:write"]},
            headers=auth(boards.admin),
        )
    ).json()
    token = (
        await world.client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": account["client_id"],
                "client_secret": account["client_secret"],
            },
        )
    ).json()["access_token"]
    player = await device_login(world.client)
    canonical_id = player["user"]["canonical_id"]
    scored = await boards.submit(season_id, token, 10, canonical_id=canonical_id)
    assert scored.status_code == 200, scored.text
    await sanction(world.client, await world.moderator(), canonical_id, scope="leaderboards")
    refused = await boards.submit(season_id, token, 20, canonical_id=canonical_id)
    assert _refused(refused, "leaderboards"), refused.text


async def test_the_player_is_told_by_mail_when_they_have_an_address(world: World) -> None:
    registered = await email_register(world.client)
    async with world.runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            sa.update(User)
            .where(User.canonical_id == registered["user"]["canonical_id"])
            .values(email_verified=True)
        )
    admin = auth(await staff_login(world.client, world.runtime, "admin"))
    placed = await sanction(
        world.client,
        admin,
        registered["user"]["canonical_id"],
        scope="ugc",
        message="Please stop uploading other studios' maps.",
    )
    mail = await world.client.get(
        "/api/v1/admin/mailbox", params={"to": registered["email"]}, headers=admin
    )
    (notice,) = [m for m in mail.json()["items"] if m["template"].startswith("safety_notice")]
    assert notice["template"] == "safety_notice:sanction"
    assert placed["sanction_id"] in notice["body_text"]
    assert "other studios' maps" in notice["body_text"]


async def test_staff_list_a_players_sanctions_and_those_in_force(world: World) -> None:
    player = await world.player()
    canonical_id = await world.canonical_id(player)
    staff = await world.moderator()
    warned = await sanction(world.client, staff, canonical_id, type="warning", reason="spam")
    restricted = await sanction(world.client, staff, canonical_id, scope="ugc", notes="uploads")
    await world.client.post(
        f"/api/v1/moderation/sanctions/{warned['sanction_id']}/lift",
        json={"reason": "old"},
        headers=staff,
    )
    listed = await world.client.get(
        "/api/v1/moderation/sanctions", params={"canonical_id": canonical_id}, headers=staff
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["sanction_id"] for i in items] == [restricted["sanction_id"], warned["sanction_id"]]
    assert items[0]["canonical_id"] == canonical_id and items[0]["notes"] == "uploads"
    active = await world.client.get(
        "/api/v1/moderation/sanctions",
        params={"canonical_id": canonical_id, "active": "true"},
        headers=staff,
    )
    assert [i["sanction_id"] for i in active.json()["items"]] == [restricted["sanction_id"]]
    unknown = await world.client.get(
        "/api/v1/moderation/sanctions", params={"canonical_id": "p" + "0" * 24}, headers=staff
    )
    assert unknown.status_code == 404
    assert (
        await world.client.get("/api/v1/moderation/sanctions", headers=player)
    ).status_code == 403


async def test_a_retried_sanction_with_a_key_is_placed_once(world: World) -> None:
    player = await world.player()
    canonical_id = await world.canonical_id(player)
    staff = await world.moderator()
    body = {"canonical_id": canonical_id, "type": "warning", "reason": "spam"}
    headers = {**staff, "Idempotency-Key": f"warn-{secrets.token_hex(4)}"}
    first = await world.client.post("/api/v1/moderation/sanctions", json=body, headers=headers)
    again = await world.client.post("/api/v1/moderation/sanctions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["sanction_id"] == again.json()["sanction_id"]
    mine = (await world.client.get("/api/v1/users/me/sanctions", headers=player)).json()
    assert len(mine["items"]) == 1
