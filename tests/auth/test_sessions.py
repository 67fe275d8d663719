"""Refresh-token rotation with reuse detection, logout, and the session list."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.players import auth, device_login


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_the_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = await device_login(client)
    response = await _refresh(client, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert rotated["user"]["canonical_id"] == tokens["user"]["canonical_id"]
    assert (await client.get("/api/v1/auth/sessions", headers=auth(rotated))).status_code == 200
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 200


async def test_refresh_token_reuse_revokes_the_whole_session(client: httpx.AsyncClient) -> None:
    tokens = await device_login(client)
    rotated = (await _refresh(client, tokens["refresh_token"])).json()
    replay = await _refresh(client, tokens["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_token"
    # The thief's replay ended the session: the legitimate, newer tokens die with it.
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 401
    response = await client.get("/api/v1/auth/sessions", headers=auth(rotated))
    assert response.status_code == 401


async def test_concurrent_refreshes_of_one_token_grant_at_most_one(
    client: httpx.AsyncClient,
) -> None:
    tokens = await device_login(client)
    responses = await asyncio.gather(
        *(_refresh(client, tokens["refresh_token"]) for _ in range(10))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) <= 1
    assert all(code in (200, 401) for code in codes)


async def test_unknown_and_malformed_refresh_tokens(client: httpx.AsyncClient) -> None:
    assert (await _refresh(client, "rt_" + "x" * 40)).status_code == 401
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": 42})
    assert response.status_code == 422
    response = await client.post("/api/v1/auth/refresh", json={})
    assert response.status_code == 422


async def test_logout_ends_this_session_only(client: httpx.AsyncClient) -> None:
    first = await device_login(client)
    second = await device_login(client, first["device_id"])
    response = await client.post("/api/v1/auth/logout", headers=auth(first))
    assert response.status_code == 204
    assert (await client.get("/api/v1/auth/sessions", headers=auth(first))).status_code == 401
    assert (await _refresh(client, first["refresh_token"])).status_code == 401
    listing = await client.get("/api/v1/auth/sessions", headers=auth(second))
    assert listing.status_code == 200
    assert [s["current"] for s in listing.json()["items"]] == [True]


async def test_logout_all_ends_every_session(client: httpx.AsyncClient) -> None:
    first = await device_login(client)
    second = await device_login(client, first["device_id"])
    response = await client.post("/api/v1/auth/logout", json={"all": True}, headers=auth(second))
    assert response.status_code == 204
    for tokens in (first, second):
        assert (await client.get("/api/v1/auth/sessions", headers=auth(tokens))).status_code == 401
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401


async def test_sessions_are_listed_and_revocable_by_their_owner_only(
    client: httpx.AsyncClient,
) -> None:
    mine = await device_login(client)
    other_device = await device_login(client, mine["device_id"])
    stranger = await device_login(client)
    listing = (await client.get("/api/v1/auth/sessions", headers=auth(mine))).json()["items"]
    assert len(listing) == 2
    other_sid = next(s["session_id"] for s in listing if not s["current"])
    strangers_sid = (await client.get("/api/v1/auth/sessions", headers=auth(stranger))).json()[
        "items"
    ][0]["session_id"]

    response = await client.delete(f"/api/v1/auth/sessions/{strangers_sid}", headers=auth(mine))
    assert response.status_code == 404
    assert (await client.get("/api/v1/auth/sessions", headers=auth(stranger))).status_code == 200

    response = await client.delete(f"/api/v1/auth/sessions/{other_sid}", headers=auth(mine))
    assert response.status_code == 204
    assert (
        await client.get("/api/v1/auth/sessions", headers=auth(other_device))
    ).status_code == 401
    assert (await client.get("/api/v1/auth/sessions", headers=auth(mine))).status_code == 200
