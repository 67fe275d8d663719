"""`GET /users/me` is served from a cached user object: every change to what it shows must
reach the next read (profile, identities, email verification, roles, bans, merges), and its
answers must be the same as the route's own model."""

from __future__ import annotations

from typing import Any

import httpx

from playerplatform.runtime import Runtime
from playerplatform.users.schemas import UserOut
from tests.support.db import latest_mail, token_from_mail
from tests.support.platforms import steam_ticket
from tests.support.players import auth, device_login, email_register
from tests.support.staff import staff_login


async def _me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/v1/users/me", headers=auth(tokens))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "RateLimit-Remaining" in response.headers
    body: dict[str, Any] = response.json()
    UserOut.model_validate(body)  # the documented model, field for field
    return body


async def test_me_shows_profile_and_identity_changes_at_once(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    player = await device_login(client)
    first = await _me(client, player)
    assert first == await _me(client, player)  # cached now
    assert first == player["user"]

    patched = await client.patch(
        "/api/v1/users/me", json={"display_name": "Cached Hero"}, headers=auth(player)
    )
    assert patched.status_code == 200
    assert (await _me(client, player))["profile"]["display_name"] == "Cached Hero"

    ticket, steamid = await steam_ticket(emulators)
    linked = await client.post(
        "/api/v1/auth/links/steam", json={"ticket": ticket}, headers=auth(player)
    )
    assert linked.status_code == 200, linked.text
    providers = {i["provider"] for i in (await _me(client, player))["identities"]}
    assert providers == {"device", "steam"}

    unlinked = await client.delete(f"/api/v1/auth/links/steam/{steamid}", headers=auth(player))
    assert unlinked.status_code == 200, unlinked.text
    providers = {i["provider"] for i in (await _me(client, player))["identities"]}
    assert providers == {"device"}


async def test_me_shows_email_verification(client: httpx.AsyncClient, runtime: Runtime) -> None:
    player = await email_register(client)
    assert (await _me(client, player))["email_verified"] is False
    token = token_from_mail(await latest_mail(runtime, player["email"], "verify_email"))
    assert (await client.post("/api/v1/auth/email/verify", json={"token": token})).is_success
    assert (await _me(client, player))["email_verified"] is True


async def test_me_shows_role_changes_and_refuses_a_ban(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    player = await device_login(client)
    canonical_id = player["user"]["canonical_id"]
    assert (await _me(client, player))["roles"] == ["player"]

    response = await client.put(
        f"/api/v1/admin/users/{canonical_id}/roles",
        json={"roles": ["player", "moderator"]},
        headers=auth(admin),
    )
    assert response.status_code == 200, response.text
    assert sorted((await _me(client, player))["roles"]) == ["moderator", "player"]

    banned = await client.post(
        f"/api/v1/admin/users/{canonical_id}/ban", json={"reason": "test"}, headers=auth(admin)
    )
    assert banned.status_code == 200, banned.text
    refused = await client.get("/api/v1/users/me", headers=auth(player))
    assert refused.status_code == 403
    assert refused.json()["code"] == "account_banned"


async def test_me_after_a_merge_shows_the_moved_identities(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    ticket, steamid = await steam_ticket(emulators)
    old = (await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})).json()
    guest = await device_login(client)
    await _me(client, guest)  # cached before the merge
    ticket, _ = await steam_ticket(emulators, steamid)
    conflict = await client.post(
        "/api/v1/auth/links/steam", json={"ticket": ticket}, headers=auth(guest)
    )
    assert conflict.status_code == 409
    merged = await client.post(
        "/api/v1/auth/merge",
        json={"merge_token": conflict.json()["merge_token"]},
        headers=auth(guest),
    )
    assert merged.status_code == 200, merged.text
    providers = {i["provider"] for i in (await _me(client, guest))["identities"]}
    assert providers == {"device", "steam"}
    gone = await client.get("/api/v1/users/me", headers=auth(old))
    assert gone.status_code == 401


async def test_me_without_a_token_or_with_a_service_token(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    anonymous = await client.get("/api/v1/users/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    garbage = await client.get("/api/v1/users/me", headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401
    admin = await staff_login(client, runtime, "admin")
    created = await client.post(
        "/api/v1/admin/service-accounts",
        json={"name": "me-probe", "scopes": ["leaderboards:write"]},
        headers=auth(admin),
    )
    assert created.status_code in (200, 201), created.text
    secret = created.json()
    token = await client.post(
        "/api/v1/auth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": secret["client_id"],
            "client_secret": secret["client_secret"],
        },
    )
    assert token.status_code == 200, token.text
    refused = await client.get("/api/v1/users/me", headers=auth(token.json()["access_token"]))
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
