"""What a stranger sees of other players: every public shape carries exactly its documented
fields (docs/users.md), so nothing private (roles, status, identities, email) leaks by a
field added to a model later."""

from __future__ import annotations

from typing import Any

import httpx

from playerplatform.runtime import Runtime
from tests.support.commerce import create_sku
from tests.support.leaderboards import Boards
from tests.support.players import auth, device_login
from tests.support.staff import staff_login

PUBLIC_USER = {"canonical_id", "profile", "created_at"}
PROFILE = {"display_name", "avatar_url", "locale", "country"}
FRIEND = PUBLIC_USER | {"since"}
ENTRY = {"rank", "user", "score", "metadata", "submitted_at", "region"}
ENTRY_USER = {"canonical_id", "display_name"}
SKU = {"sku_id", "type", "name", "description", "is_active", "metadata", "quantity", "contents"}


def assert_public_user(body: dict[str, Any]) -> None:
    assert set(body) == PUBLIC_USER, body
    assert set(body["profile"]) == PROFILE, body


async def test_a_moderators_public_profile_does_not_say_so(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, role="moderator")
    stranger = await device_login(client)
    me = (await client.get("/api/v1/users/me", headers=auth(moderator))).json()
    assert "moderator" in me["roles"]

    for headers in (auth(stranger), {}):
        response = await client.get(f"/api/v1/users/{me['canonical_id']}", headers=headers)
        assert response.status_code == 200, response.text
        assert_public_user(response.json())
        assert "moderator" not in response.text


async def test_friends_and_friend_requests_show_public_profiles(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await device_login(client)
    admin = await staff_login(client, runtime, role="admin")
    admin_id = (await client.get("/api/v1/users/me", headers=auth(admin))).json()["canonical_id"]

    request = await client.put(f"/api/v1/users/me/friends/{admin_id}", headers=auth(player))
    assert request.status_code in (200, 201), request.text
    assert set(request.json()) == {"user", "status", "since"}
    assert_public_user(request.json()["user"])

    friends = (await client.get("/api/v1/users/me/friends", headers=auth(player))).json()
    (outgoing,) = friends["outgoing"]
    assert set(outgoing) == FRIEND
    assert set(outgoing["profile"]) == PROFILE
    assert "admin" not in str(friends)


async def test_leaderboard_entries_show_name_and_id_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    boards = await Boards.open(client, runtime)
    season = await boards.season()
    (player,) = await boards.players(1, named="Shape")
    await boards.scored(season["season_id"], player, 10)
    for path in ("", "/around-me", "/me", "/friends"):
        response = await client.get(
            f"/api/v1/leaderboards/{season['season_id']}{path}", headers=auth(player)
        )
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        entries = [body] if path == "/me" else body["items"]
        assert entries, path
        for entry in entries:
            assert set(entry) == ENTRY, (path, entry)
            assert set(entry["user"]) == ENTRY_USER, (path, entry)


async def test_the_public_catalog_shows_sku_fields_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, role="admin")
    await create_sku(client, admin)
    response = await client.get("/api/v1/commerce/skus")
    assert response.status_code == 200
    items = response.json()["items"]
    assert items
    for sku in items:
        assert set(sku) == SKU, sku
