"""The caller's own account and other players' public profiles."""

from __future__ import annotations

import secrets

import httpx
import pytest

from playerplatform.auth.providers import device_key
from tests.support.players import auth, device_login

PUBLIC_KEYS = {"canonical_id", "profile", "created_at"}


async def test_me_is_the_user_object(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    response = await client.get("/api/v1/users/me", headers=auth(player))
    assert response.status_code == 200
    body = response.json()
    assert body["canonical_id"] == player["user"]["canonical_id"]
    assert body["status"] == "active"
    assert body["roles"] == ["player"]
    assert [i["provider"] for i in body["identities"]] == ["device"]
    # A device is shown by the hash stored of its id, never by the id (a credential).
    assert body["identities"][0]["provider_id"] == device_key(player["device_id"])
    assert set(body["profile"]) == {"display_name", "avatar_url", "locale", "country"}


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_patch_sets_cleans_and_clears_profile_fields(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    response = await client.patch(
        "/api/v1/users/me",
        headers=auth(player),
        json={
            "display_name": "  Ada Lovelace  ",
            "avatar_url": "https://cdn.example.com/a/ada.png",
            "locale": "pt-BR",
            "country": "gb",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["profile"] == {
        "display_name": "Ada Lovelace",
        "avatar_url": "https://cdn.example.com/a/ada.png",
        "locale": "pt-BR",
        "country": "GB",
    }

    # Only sent fields change; null clears one.
    response = await client.patch(
        "/api/v1/users/me", headers=auth(player), json={"avatar_url": None, "locale": "en"}
    )
    assert response.status_code == 200
    profile = (await client.get("/api/v1/users/me", headers=auth(player))).json()["profile"]
    assert profile == {
        "display_name": "Ada Lovelace",
        "avatar_url": None,
        "locale": "en",
        "country": "GB",
    }


async def test_rude_display_name_is_rejected_and_nothing_is_written(
    client: httpx.AsyncClient,
) -> None:
    player = await device_login(client)
    await client.patch("/api/v1/users/me", headers=auth(player), json={"display_name": "Nice"})
    response = await client.patch(
        "/api/v1/users/me",
        headers=auth(player),
        json={"display_name": "shit lord", "country": "FR"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "text_rejected"
    assert [e["field"] for e in body["errors"]] == ["display_name"]
    profile = (await client.get("/api/v1/users/me", headers=auth(player))).json()["profile"]
    assert profile["display_name"] == "Nice"
    assert profile["country"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "x" * 33}, "display_name"),
        ({"display_name": "bell\x07name"}, "display_name"),
        ({"display_name": "evil\u202ename"}, "display_name"),
        ({"display_name": 42}, "display_name"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
        ({"avatar_url": "https://example.com/" + "a" * 520}, "avatar_url"),
        ({"avatar_url": "https://exa mple.com/a.png"}, "avatar_url"),
        ({"avatar_url": "http://[::1/a.png"}, "avatar_url"),
        ({"locale": "english please"}, "locale"),
        ({"locale": "en-" + "x" * 20}, "locale"),
        ({"country": "XX"}, "country"),
        ({"country": "GBR"}, "country"),
        ({"email": "new@example.com"}, "email"),
        ({"status": "active"}, "status"),
    ],
)
async def test_bad_profile_fields_are_refused_with_the_field_named(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    player = await device_login(client)
    response = await client.patch("/api/v1/users/me", headers=auth(player), json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in [e["field"] for e in problem["errors"]]
    me = (await client.get("/api/v1/users/me", headers=auth(player))).json()
    assert me["profile"] == {
        "display_name": None,
        "avatar_url": None,
        "locale": None,
        "country": None,
    }
    assert me["status"] == "active"


async def test_patch_body_must_be_an_object(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    response = await client.patch("/api/v1/users/me", headers=auth(player), json=["x"])
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_public_profile_hides_identities_email_and_status(
    client: httpx.AsyncClient,
) -> None:
    owner = await device_login(client)
    await client.patch(
        "/api/v1/users/me", headers=auth(owner), json={"display_name": "Grace", "country": "US"}
    )
    viewer = await device_login(client)
    canonical_id = owner["user"]["canonical_id"]
    for headers in (auth(viewer), {}):
        response = await client.get(f"/api/v1/users/{canonical_id}", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == PUBLIC_KEYS
        assert body["profile"]["display_name"] == "Grace"
        assert owner["device_id"] not in response.text


async def test_public_profile_of_unknown_player_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/users/p{secrets.token_hex(12)}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_an_invalid_token_on_a_public_route_is_refused(client: httpx.AsyncClient) -> None:
    owner = await device_login(client)
    response = await client.get(
        f"/api/v1/users/{owner['user']['canonical_id']}", headers=auth("not-a-jwt")
    )
    assert response.status_code == 401


async def test_no_users_route_reaches_another_players_private_data(
    client: httpx.AsyncClient,
) -> None:
    alice = await device_login(client)
    bob = await device_login(client)
    bob_id = bob["user"]["canonical_id"]
    await client.put(
        "/api/v1/users/me/progression",
        headers={**auth(bob), "If-Match": "0"},
        json={"data": {"gold": 7}},
    )
    headers = auth(alice)
    public = await client.get(f"/api/v1/users/{bob_id}", headers=headers)
    assert set(public.json()) == PUBLIC_KEYS
    for method, path in [
        ("PATCH", f"/api/v1/users/{bob_id}"),
        ("PUT", f"/api/v1/users/{bob_id}"),
        ("DELETE", f"/api/v1/users/{bob_id}"),
        ("GET", f"/api/v1/users/{bob_id}/progression"),
        ("PUT", f"/api/v1/users/{bob_id}/progression"),
        ("GET", f"/api/v1/users/{bob_id}/friends"),
    ]:
        response = await client.request(
            method, path, headers={**headers, "If-Match": "1"}, json={"data": {"gold": 0}}
        )
        assert response.status_code in (404, 405), (method, path, response.status_code)
    # Alice's own routes only ever show Alice.
    mine = await client.get("/api/v1/users/me/progression", headers=headers)
    assert mine.json()["data"] == {}
    theirs = await client.get("/api/v1/users/me/progression", headers=auth(bob))
    assert theirs.json()["data"] == {"gold": 7}
