"""Domain events that reach the inbox through `notify`: friend requests, admin gifts, bans."""

from __future__ import annotations

from typing import Any

import httpx

from playerplatform.runtime import Runtime
from tests.support.commerce import create_sku, owned
from tests.support.messaging import INBOX, inbox
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def test_a_friend_request_and_its_acceptance_are_told(client: httpx.AsyncClient) -> None:
    alice, bob = await device_login(client), await device_login(client)
    alice_id, bob_id = alice["user"]["canonical_id"], bob["user"]["canonical_id"]
    asked = await client.put(f"/api/v1/users/me/friends/{bob_id}", headers=auth(alice))
    assert asked.status_code == 200
    [request] = (await inbox(client, bob, kind="social"))["items"]
    assert request["title"] == "New friend request"
    assert request["data"] == {"canonical_id": alice_id, "status": "pending"}
    again = await client.put(f"/api/v1/users/me/friends/{bob_id}", headers=auth(alice))
    assert again.status_code == 200
    assert len((await inbox(client, bob, kind="social"))["items"]) == 1  # a repeat tells nothing

    accepted = await client.put(f"/api/v1/users/me/friends/{alice_id}", headers=auth(bob))
    assert accepted.json()["status"] == "accepted"
    [told] = (await inbox(client, alice, kind="social"))["items"]
    assert told["data"] == {"canonical_id": bob_id, "status": "accepted"}


async def test_an_admin_grant_as_a_gift_waits_in_the_inbox(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin)
    player = await device_login(client)
    granted = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": sword["sku_id"], "reason": "Sorry for the outage", "as_gift": True},
        headers=auth(admin),
    )
    assert granted.status_code == 200, granted.text
    assert not await owned(client, player, sword["sku_id"])  # not granted silently
    [gift] = (await inbox(client, player, kind="gift"))["items"]
    assert gift["message_id"] == granted.json()["message_id"]
    assert gift["body"] == "Sorry for the outage"
    assert gift["attachments"] == [{"sku_id": sword["sku_id"], "quantity": 1}]
    claimed = await client.post(f"{INBOX}/{gift['message_id']}/claim", headers=auth(player))
    assert claimed.status_code == 200
    assert await owned(client, player, sword["sku_id"])


async def test_a_ban_is_told_in_the_inbox(client: httpx.AsyncClient, runtime: Runtime) -> None:
    moderator = await staff_login(client, runtime, "moderator")
    player = await device_login(client)
    banned = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/ban",
        json={"reason": "cheating"},
        headers=auth(moderator),
    )
    assert banned.status_code == 200, banned.text
    lifted = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/unban",
        json={"reason": "appeal granted"},
        headers=auth(moderator),
    )
    assert lifted.status_code == 200, lifted.text
    fresh = await device_login(client, player["device_id"])
    # A ban is a sanction: the notice names it, with the reason the player can appeal.
    [notice] = (await inbox(client, fresh, kind="moderation"))["items"]
    assert notice["data"]["sanction_id"].startswith("s") and "cheating" in notice["body"]
