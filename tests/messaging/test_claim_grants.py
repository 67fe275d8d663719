"""What a claim grants is exactly what commerce's `grant_lines` grants for the same lines:
the same parts (bundles expanded), grant keys, ledger entries with running balances, and
the answer; and the inbox page shows a message as reading it alone does."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.commerce import grants
from playerplatform.commerce.models import Entitlement, LedgerEntry, Sku
from playerplatform.runtime import Runtime
from playerplatform.users import service as users
from tests.support.commerce import balance, create_sku, owned
from tests.support.db import rows
from tests.support.messaging import INBOX, inbox, send, set_locale
from tests.support.players import auth, device_login


async def _user_id(runtime: Runtime, player: dict[str, Any]) -> Any:
    async with runtime.db.unit_of_work(write=False) as uow:
        return (await users.get_by_canonical(uow, player["user"]["canonical_id"])).id


async def _granted(runtime: Runtime, user_id: Any, key: str) -> tuple[list[Any], list[Any]]:
    """The ledger entries and entitlements `key` granted, keys shown past the key."""
    entries = await rows(
        runtime,
        sa.select(
            LedgerEntry.sku_id,
            LedgerEntry.change,
            LedgerEntry.balance_after,
            LedgerEntry.change_type,
            LedgerEntry.grant_key,
        )
        .where(LedgerEntry.user_id == user_id)
        .order_by(LedgerEntry.id),
    )
    held = await rows(
        runtime,
        sa.select(Entitlement.sku_id, Entitlement.status, Entitlement.source, Entitlement.grant_key)
        .where(Entitlement.user_id == user_id)
        .order_by(Entitlement.grant_key),
    )
    cut = len(key)
    return (
        [(e.sku_id, e.change, e.balance_after, e.change_type, e.grant_key[cut:]) for e in entries],
        [(e.sku_id, e.status, e.source, e.grant_key[cut:]) for e in held],
    )


async def test_a_claim_grants_what_grant_lines_grants_for_the_same_lines(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    hat = await create_sku(client, admin, name="Hat")
    cape = await create_sku(client, admin, name="Cape")
    gems = await create_sku(client, admin, type="consumable", quantity=5)
    pack = await create_sku(
        client,
        admin,
        type="bundle",
        name="Pack",
        contents=[{"sku_id": hat["sku_id"]}, {"sku_id": gems["sku_id"], "quantity": 2}],
    )
    lines = [
        {"sku_id": pack["sku_id"], "quantity": 1},
        {"sku_id": gems["sku_id"], "quantity": 3},
        {"sku_id": cape["sku_id"], "quantity": 1},
    ]
    claimer, other = await device_login(client), await device_login(client)
    message = await send(client, admin, claimer, kind="gift", attachments=lines)
    claimed = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(claimer))
    assert claimed.status_code == 200, claimed.text

    key = f"parity-{secrets.token_hex(6)}"
    other_id = await _user_id(runtime, other)
    async with runtime.db.unit_of_work() as uow:
        expected = await grants.grant_lines(
            uow, runtime, user_id=other_id, lines=lines, key=key, reason="parity"
        )
    by_claim = await _granted(
        runtime, await _user_id(runtime, claimer), f"inbox:{message['message_id']}"
    )
    by_grant_lines = await _granted(runtime, other_id, key)
    assert by_claim == by_grant_lines
    entries, held = by_claim
    # The bundle's 2 x 5 gems, then the line's 3 x 5: the ledger runs 10, then 25.
    assert [(e[1], e[2]) for e in entries] == [(10, 10), (15, 25)]
    assert sorted(h[0] for h in held) == sorted([hat["sku_id"], cape["sku_id"]])

    body = claimed.json()
    alone = await client.get(f"{INBOX}/{message['message_id']}", headers=auth(claimer))
    assert body["message"] == alone.json() and body["message"]["claimed_at"] is not None
    assert body["balances"] == [b.model_dump(mode="json") for b in expected.balances]
    assert body["balances"] == [{"sku_id": gems["sku_id"], "balance": 25}]
    assert sorted(e["sku_id"] for e in body["entitlements"]) == sorted(
        e.sku_id for e in expected.entitlements
    )
    assert all(e["source"] == "inbox" and e["status"] == "active" for e in body["entitlements"])
    assert await owned(client, claimer, hat["sku_id"]) and await owned(
        client, claimer, cape["sku_id"]
    )
    assert await balance(client, claimer, gems["sku_id"]) == 25


async def test_a_claim_adds_to_a_balance_the_player_had(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=4)
    player = await device_login(client)
    first = await send(client, admin, player, kind="gift", attachments=[{"sku_id": gems["sku_id"]}])
    second = await send(
        client, admin, player, kind="gift", attachments=[{"sku_id": gems["sku_id"], "quantity": 2}]
    )
    for message in (first, second):
        answer = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(player))
        assert answer.status_code == 200, answer.text
    assert answer.json()["balances"] == [{"sku_id": gems["sku_id"], "balance": 12}]
    entries, _ = await _granted(runtime, await _user_id(runtime, player), "")
    assert [(e[1], e[2]) for e in entries] == [(4, 4), (8, 12)]


async def test_claiming_a_message_without_attachments_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    player = await device_login(client)
    message = await send(client, admin, player)
    answer = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(player))
    assert answer.status_code == 409 and answer.json()["code"] == "nothing_to_claim"
    listed = (await inbox(client, player))["items"][0]
    assert listed["claimed_at"] is None and listed["read_at"] is None


async def test_the_inbox_page_shows_a_message_as_reading_it_alone_does(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=5)
    player = await device_login(client)
    await set_locale(client, player, locale="fr-CA")
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    message = await send(
        client,
        admin,
        player,
        kind="gift",
        title={"en": "Gift", "fr": "Cadeau"},
        body={"en": "For you", "fr": "Pour toi"},
        data={"event": "winter", "nested": {"n": [1, 2.5, None, "é"]}},
        attachments=[{"sku_id": gems["sku_id"], "quantity": 2}],
        expires_at=expires.isoformat(),
    )
    await send(client, admin, player, title="Plain")
    listed = await inbox(client, player)
    alone = await client.get(f"{INBOX}/{message['message_id']}", headers=auth(player))
    assert alone.status_code == 200
    (item,) = [m for m in listed["items"] if m["message_id"] == message["message_id"]]
    assert item == alone.json()
    assert item["title"] == "Cadeau" and item["data"]["nested"] == {"n": [1, 2.5, None, "é"]}
    assert listed["unread_count"] == 2


async def test_a_claim_naming_a_sku_gone_from_the_catalog_is_404_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=5)
    gone = await create_sku(client, admin, name="Gone")
    player = await device_login(client)
    message = await send(
        client,
        admin,
        player,
        kind="gift",
        attachments=[{"sku_id": gems["sku_id"]}, {"sku_id": gone["sku_id"]}],
    )
    # SKUs are retired, never deleted, by the API: a row removed by hand stands for the case.
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(sa.delete(Sku).where(Sku.sku_id == gone["sku_id"]))
    answer = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(player))
    assert answer.status_code == 404, answer.text
    listed = (await inbox(client, player))["items"][0]
    assert listed["message_id"] == message["message_id"] and listed["claimed_at"] is None
    assert await balance(client, player, gems["sku_id"]) == 0
