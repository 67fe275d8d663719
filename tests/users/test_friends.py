"""Friend requests, acceptance, declining and removal."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from tests.support.players import auth, device_login

FRIENDS = "/api/v1/users/me/friends"


def _ids(items: list[dict]) -> list[str]:
    return [item["canonical_id"] for item in items]


async def _lists(client: httpx.AsyncClient, player: dict) -> dict[str, list[str]]:
    response = await client.get(FRIENDS, headers=auth(player))
    assert response.status_code == 200
    return {name: _ids(items) for name, items in response.json().items()}


async def test_request_then_accept_makes_both_friends(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    alice_id, bob_id = alice["user"]["canonical_id"], bob["user"]["canonical_id"]

    sent = await client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice))
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "pending"
    assert sent.json()["user"]["canonical_id"] == bob_id
    assert await _lists(client, alice) == {"friends": [], "incoming": [], "outgoing": [bob_id]}
    assert await _lists(client, bob) == {"friends": [], "incoming": [alice_id], "outgoing": []}

    accepted = await client.put(f"{FRIENDS}/{alice_id}", headers=auth(bob))
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert await _lists(client, alice) == {"friends": [bob_id], "incoming": [], "outgoing": []}
    assert await _lists(client, bob) == {"friends": [alice_id], "incoming": [], "outgoing": []}


async def test_friend_entries_are_public_profiles_with_since(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    await client.patch("/api/v1/users/me", headers=auth(bob), json={"display_name": "Bobby"})
    await client.put(f"{FRIENDS}/{bob['user']['canonical_id']}", headers=auth(alice))
    entry = (await client.get(FRIENDS, headers=auth(alice))).json()["outgoing"][0]
    assert set(entry) == {"canonical_id", "profile", "created_at", "since"}
    assert entry["profile"]["display_name"] == "Bobby"
    assert bob["device_id"] not in str(entry)


async def test_repeating_a_request_or_acceptance_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await device_login(client), await device_login(client)
    alice_id, bob_id = alice["user"]["canonical_id"], bob["user"]["canonical_id"]
    first = await client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice))
    again = await client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice))
    assert again.status_code == 200
    assert again.json() == first.json()
    await client.put(f"{FRIENDS}/{alice_id}", headers=auth(bob))
    for who, other in ((alice, bob_id), (bob, alice_id)):
        response = await client.put(f"{FRIENDS}/{other}", headers=auth(who))
        assert response.json()["status"] == "accepted"
    assert await _lists(client, alice) == {"friends": [bob_id], "incoming": [], "outgoing": []}


async def test_declining_an_incoming_request(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    alice_id, bob_id = alice["user"]["canonical_id"], bob["user"]["canonical_id"]
    await client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice))
    declined = await client.delete(f"{FRIENDS}/{alice_id}", headers=auth(bob))
    assert declined.status_code == 204
    assert await _lists(client, alice) == {"friends": [], "incoming": [], "outgoing": []}
    assert await _lists(client, bob) == {"friends": [], "incoming": [], "outgoing": []}


async def test_cancelling_an_outgoing_request(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    bob_id = bob["user"]["canonical_id"]
    await client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice))
    assert (await client.delete(f"{FRIENDS}/{bob_id}", headers=auth(alice))).status_code == 204
    assert (await _lists(client, bob))["incoming"] == []


async def test_removing_a_friend_ends_it_for_both(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    alice_id, bob_id = alice["user"]["canonical_id"], bob["user"]["canonical_id"]
    await client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice))
    await client.put(f"{FRIENDS}/{alice_id}", headers=auth(bob))
    assert (await client.delete(f"{FRIENDS}/{alice_id}", headers=auth(bob))).status_code == 204
    assert (await _lists(client, alice))["friends"] == []
    assert (await _lists(client, bob))["friends"] == []
    again = await client.delete(f"{FRIENDS}/{alice_id}", headers=auth(bob))
    assert again.status_code == 404


async def test_removing_nothing_is_404(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    response = await client.delete(f"{FRIENDS}/{bob['user']['canonical_id']}", headers=auth(alice))
    assert response.status_code == 404
    unknown = await client.delete(f"{FRIENDS}/p{secrets.token_hex(12)}", headers=auth(alice))
    assert unknown.status_code == 404


async def test_befriending_yourself_is_refused(client: httpx.AsyncClient) -> None:
    alice = await device_login(client)
    response = await client.put(f"{FRIENDS}/{alice['user']['canonical_id']}", headers=auth(alice))
    assert response.status_code == 422
    assert response.json()["code"] == "cannot_befriend_self"
    assert await _lists(client, alice) == {"friends": [], "incoming": [], "outgoing": []}


async def test_befriending_an_unknown_player_is_404(client: httpx.AsyncClient) -> None:
    alice = await device_login(client)
    response = await client.put(f"{FRIENDS}/p{secrets.token_hex(12)}", headers=auth(alice))
    assert response.status_code == 404


async def test_friends_routes_need_a_token(client: httpx.AsyncClient) -> None:
    alice = await device_login(client)
    assert (await client.get(FRIENDS)).status_code == 401
    response = await client.put(f"{FRIENDS}/{alice['user']['canonical_id']}")
    assert response.status_code == 401


async def test_crossing_requests_end_as_friends(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    alice_id, bob_id = alice["user"]["canonical_id"], bob["user"]["canonical_id"]
    responses = await asyncio.gather(
        client.put(f"{FRIENDS}/{bob_id}", headers=auth(alice)),
        client.put(f"{FRIENDS}/{alice_id}", headers=auth(bob)),
    )
    assert sorted(r.json()["status"] for r in responses) == ["accepted", "pending"]
    assert await _lists(client, alice) == {"friends": [bob_id], "incoming": [], "outgoing": []}
    assert await _lists(client, bob) == {"friends": [alice_id], "incoming": [], "outgoing": []}
