"""Finding accounts by canonical id, email, provider id and display name."""

from __future__ import annotations

import base64
import secrets

import httpx

from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login, email_register, plain_tag
from tests.support.staff import staff_login

USER_KEYS = {
    "canonical_id",
    "status",
    "roles",
    "profile",
    "identities",
    "email_verified",
    "created_at",
}


async def _search(client: httpx.AsyncClient, staff: dict, **params: object) -> dict:
    response = await client.get("/api/v1/admin/users", headers=auth(staff), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page: dict) -> list[str]:
    return [item["canonical_id"] for item in page["items"]]


async def test_search_by_email_ignores_case(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await email_register(client)
    page = await _search(client, moderator, q=player["email"].upper())
    assert _ids(page) == [player["user"]["canonical_id"]]
    assert set(page["items"][0]) == USER_KEYS
    assert page["items"][0]["identities"][0]["provider"] == "email"


async def test_search_by_provider_id(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    page = await _search(client, moderator, q=player["device_id"])
    assert _ids(page) == [player["user"]["canonical_id"]]


async def test_search_by_display_name_substring(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    tag = secrets.token_hex(4)
    player = await device_login(client)
    await client.patch(
        "/api/v1/users/me", headers=auth(player), json={"display_name": f"Knight{tag}Rider"}
    )
    page = await _search(client, moderator, q=f"ight{tag.upper()}ri")
    assert _ids(page) == [player["user"]["canonical_id"]]


async def test_search_by_canonical_id_exact_and_prefix(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    canonical_id = player["user"]["canonical_id"]
    assert _ids(await _search(client, moderator, q=canonical_id)) == [canonical_id]
    assert canonical_id in _ids(await _search(client, moderator, q=canonical_id[:-3], limit=100))


async def test_search_wildcards_are_literal(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    await device_login(client)
    assert _ids(await _search(client, moderator, q="%")) == []
    assert _ids(await _search(client, moderator, q="_")) == []


async def test_search_pages_newest_first(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    tag = secrets.token_hex(4)
    made = []
    for n in range(5):
        player = await device_login(client)
        await client.patch(
            "/api/v1/users/me", headers=auth(player), json={"display_name": f"pager{tag}{n}"}
        )
        made.append(player["user"]["canonical_id"])

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"q": f"pager{tag}", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await _search(client, moderator, **params)
        seen += _ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))


async def test_bad_paging_parameters_are_422(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    far_past = base64.urlsafe_b64encode(b'{"t": "0001-01-01T00:00:00+05:00", "c": "p"}')
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"cursor": "garbage!!"},
        {"cursor": "e30"},
        {"cursor": far_past.decode()},
    ):
        response = await client.get("/api/v1/admin/users", headers=auth(moderator), params=params)
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"


async def test_status_lists_banned_players_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    name = f"Banned{plain_tag()}"
    kept, banned = await device_login(client), await device_login(client)
    for player in (kept, banned):
        await client.patch("/api/v1/users/me", json={"display_name": name}, headers=auth(player))
    response = await client.post(
        f"/api/v1/admin/users/{banned['user']['canonical_id']}/ban",
        json={"reason": "cheating"},
        headers=auth(moderator),
    )
    assert response.status_code == 200, response.text
    assert _ids(await _search(client, moderator, q=name, status="banned")) == [
        banned["user"]["canonical_id"]
    ]
    assert _ids(await _search(client, moderator, q=name, status="active")) == [
        kept["user"]["canonical_id"]
    ]
    assert len(_ids(await _search(client, moderator, q=name))) == 2
    refused = await client.get(
        "/api/v1/admin/users", params={"status": "gone"}, headers=auth(moderator)
    )
    assert refused.status_code == 422
