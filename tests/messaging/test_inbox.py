"""The inbox: listing, reading, localization, claiming exactly once, expiry, deleting, and
another player's ids."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.commerce.models import Entitlement, LedgerEntry
from playerplatform.messaging.models import InboxMessage
from playerplatform.runtime import Runtime
from playerplatform.users import service as users
from tests.support.commerce import balance, create_sku, owned
from tests.support.db import count, rows
from tests.support.messaging import INBOX, inbox, send, set_locale
from tests.support.players import auth, device_login


async def test_a_message_is_listed_counted_and_read(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    player = await device_login(client)
    first = await send(client, admin, player, title="First")
    second = await send(client, admin, player, kind="social", title="Second")

    listed = await inbox(client, player)
    assert [m["message_id"] for m in listed["items"]] == [second["message_id"], first["message_id"]]
    assert listed["unread_count"] == 2
    assert listed["items"][0]["title"] == "Second" and listed["items"][0]["read_at"] is None
    assert [m["title"] for m in (await inbox(client, player, kind="social"))["items"]] == ["Second"]

    read = await client.post(f"{INBOX}/{first['message_id']}/read", headers=auth(player))
    assert read.status_code == 204
    assert (await inbox(client, player))["unread_count"] == 1
    again = await client.post(f"{INBOX}/{first['message_id']}/read", headers=auth(player))
    assert again.status_code == 204  # read already: nothing changes, still no error
    unknown = await client.post(f"{INBOX}/m{'0' * 24}/read", headers=auth(player))
    assert unknown.status_code == 404
    unread = await inbox(client, player, unread="true")
    assert [m["message_id"] for m in unread["items"]] == [second["message_id"]]

    assert (await client.post(f"{INBOX}/read-all", headers=auth(player))).status_code == 204
    assert (await inbox(client, player))["unread_count"] == 0
    assert (await client.post(f"{INBOX}/read-all", headers=auth(player))).status_code == 204
    third = await send(client, admin, player, title="Third")
    listed = await inbox(client, player)  # a message sent after renews the kept page
    assert listed["unread_count"] == 1 and listed["items"][0]["message_id"] == third["message_id"]
    one = await client.get(f"{INBOX}/{first['message_id']}", headers=auth(player))
    assert one.status_code == 200 and one.json()["read_at"] is not None


async def test_pages_follow_the_cursor(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    player = await device_login(client)
    sent = [(await send(client, admin, player, title=f"n{i}"))["message_id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await inbox(client, player, **params)
        seen += [m["message_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent))


async def test_titles_are_served_in_the_profile_locale_falling_back_to_english(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    texts = {"title": {"en": "Gift", "fr": "Cadeau"}, "body": {"en": "Enjoy", "fr": "Profitez"}}
    for locale, expected in (("fr", "Cadeau"), ("fr-CA", "Cadeau"), ("de", "Gift"), (None, "Gift")):
        player = await device_login(client)
        if locale:
            await set_locale(client, player, locale=locale)
        await send(client, admin, player, **texts)
        item = (await inbox(client, player))["items"][0]
        assert item["title"] == expected, locale
        assert item["body"] == ("Profitez" if expected == "Cadeau" else "Enjoy")


async def test_claim_grants_once_and_a_second_claim_is_409(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin)
    gems = await create_sku(client, admin, type="consumable", quantity=10)
    player = await device_login(client)
    message = await send(
        client,
        admin,
        player,
        kind="gift",
        attachments=[{"sku_id": sword["sku_id"]}, {"sku_id": gems["sku_id"], "quantity": 3}],
    )
    claimed = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(player))
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert body["message"]["claimed_at"] is not None
    assert [e["sku_id"] for e in body["entitlements"]] == [sword["sku_id"]]
    assert body["balances"] == [{"sku_id": gems["sku_id"], "balance": 30}]
    assert await owned(client, player, sword["sku_id"])
    assert await balance(client, player, gems["sku_id"]) == 30

    again = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(player))
    assert again.status_code == 409 and again.json()["code"] == "already_claimed"
    assert await balance(client, player, gems["sku_id"]) == 30


async def test_fifty_concurrent_claims_grant_once(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=7)
    player = await device_login(client)
    message = await send(
        client, admin, player, kind="gift", attachments=[{"sku_id": gems["sku_id"]}]
    )
    url = f"{INBOX}/{message['message_id']}/claim"
    answers = await asyncio.gather(*(client.post(url, headers=auth(player)) for _ in range(50)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 49, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"already_claimed"}
    assert await balance(client, player, gems["sku_id"]) == 7
    async with runtime.db.unit_of_work(write=False) as uow:
        user = await users.get_by_canonical(uow, player["user"]["canonical_id"])
    grants = await count(
        runtime, LedgerEntry, LedgerEntry.user_id == user.id, LedgerEntry.sku_id == gems["sku_id"]
    )
    assert grants == 1


async def test_a_claim_replayed_with_its_idempotency_key_answers_the_same(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin)
    player = await device_login(client)
    message = await send(
        client, admin, player, kind="gift", attachments=[{"sku_id": sword["sku_id"]}]
    )
    url = f"{INBOX}/{message['message_id']}/claim"
    headers = {**auth(player), "Idempotency-Key": "claim-once-1"}
    first, second = await client.post(url, headers=headers), await client.post(url, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == second.json()


async def test_an_expired_message_cannot_be_claimed(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    sword = await create_sku(client, admin)
    player = await device_login(client)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    message = await send(
        client,
        admin,
        player,
        kind="gift",
        attachments=[{"sku_id": sword["sku_id"]}],
        expires_at=soon.isoformat(),
    )
    await asyncio.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    late = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(player))
    assert late.status_code == 410 and late.json()["code"] == "expired"
    assert not await owned(client, player, sword["sku_id"])
    # An expired message's attachments no longer hold its deletion back.
    gone = await client.delete(f"{INBOX}/{message['message_id']}", headers=auth(player))
    assert gone.status_code == 204


async def test_delete_refuses_unclaimed_attachments_unless_forced(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin)
    player = await device_login(client)
    plain = await send(client, admin, player)
    gift = await send(client, admin, player, kind="gift", attachments=[{"sku_id": sword["sku_id"]}])
    assert (
        await client.delete(f"{INBOX}/{plain['message_id']}", headers=auth(player))
    ).status_code == 204
    refused = await client.delete(f"{INBOX}/{gift['message_id']}", headers=auth(player))
    assert refused.status_code == 409 and refused.json()["code"] == "unclaimed_attachments"
    forced = await client.delete(
        f"{INBOX}/{gift['message_id']}", params={"force": "true"}, headers=auth(player)
    )
    assert forced.status_code == 204
    assert (await inbox(client, player))["items"] == []
    gone = await client.get(f"{INBOX}/{gift['message_id']}", headers=auth(player))
    assert gone.status_code == 404


async def test_another_players_message_is_404_and_unchanged(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    sword = await create_sku(client, admin)
    owner, other = await device_login(client), await device_login(client)
    message = await send(
        client, admin, owner, kind="gift", attachments=[{"sku_id": sword["sku_id"]}]
    )
    url = f"{INBOX}/{message['message_id']}"
    for method, path in (
        ("GET", url),
        ("POST", f"{url}/read"),
        ("POST", f"{url}/claim"),
        ("DELETE", f"{url}?force=true"),
    ):
        answer = await client.request(method, path, headers=auth(other))
        assert answer.status_code == 404, (method, path, answer.text)
    found = await rows(
        runtime,
        sa.select(InboxMessage.read_at, InboxMessage.claimed_at, InboxMessage.deleted_at).where(
            InboxMessage.message_id == message["message_id"]
        ),
    )
    row = tuple(found[0])
    assert row == (None, None, None)
    assert not await owned(client, other, sword["sku_id"])
    assert await count(runtime, Entitlement, Entitlement.sku_id == sword["sku_id"]) == 0


async def test_sending_refuses_bad_attachments_and_kinds(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin)
    retired = await create_sku(client, admin)
    patched = await client.patch(
        f"/api/v1/admin/skus/{retired['sku_id']}", json={"is_active": False}, headers=auth(admin)
    )
    assert patched.status_code == 200, patched.text
    player = await device_login(client)
    base = {"canonical_id": player["user"]["canonical_id"], "title": "t", "body": "b"}
    bad: list[dict[str, Any]] = [
        {"kind": "spam"},
        {"kind": "gift", "attachments": [{"sku_id": "no-such-sku"}]},
        {"kind": "gift", "attachments": [{"sku_id": retired["sku_id"]}]},
        {"kind": "gift", "attachments": [{"sku_id": sword["sku_id"], "quantity": -1}]},
        {"kind": "gift", "attachments": [{"sku_id": sword["sku_id"], "quantity": 0}]},
        {"kind": "gift", "attachments": [{"sku_id": sword["sku_id"], "quantity": 2}]},
        {"kind": "gift", "attachments": [{"sku_id": "bad id!"}]},
        {"kind": "system", "title": {"fr": "pas d'anglais"}},
        {"kind": "system", "title": ""},
        {"kind": "system", "body": "x" * 5000},
    ]
    for fields in bad:
        answer = await client.post(
            "/api/v1/admin/messages", json={**base, **fields}, headers=auth(admin)
        )
        assert answer.status_code == 422, (fields, answer.text)
    assert (await inbox(client, player))["items"] == []


async def test_players_cannot_send_and_ids_are_checked(client: httpx.AsyncClient) -> None:
    player = await device_login(client)
    refused = await client.post(
        "/api/v1/admin/messages",
        json={
            "canonical_id": player["user"]["canonical_id"],
            "kind": "system",
            "title": "t",
            "body": "b",
        },
        headers=auth(player),
    )
    assert refused.status_code == 403
    assert (await client.get(f"{INBOX}/not-an-id", headers=auth(player))).status_code == 422
    assert (await client.get(INBOX)).status_code == 401
