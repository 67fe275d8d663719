"""Broadcasts: one row at send, segments (later sign-ups included when the segment allows),
scheduling and cancelling, firing once across two schedulers, stats, audit."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event as sa_event

from playerplatform.kit.http import in_unit_of_work
from playerplatform.kit.settings import Settings
from playerplatform.messaging import broadcasts
from playerplatform.messaging.models import Broadcast, InboxMessage
from playerplatform.runtime import Runtime
from tests.conftest import asgi_client, running_app
from tests.support.commerce import balance, create_sku
from tests.support.db import count
from tests.support.messaging import INBOX, inbox, set_locale
from tests.support.players import auth, device_login

BROADCASTS = "/api/v1/admin/broadcasts"
# Broadcasts to everyone reach every player of the run: they expire soon, and the module
# waits for them to, so other tests' inboxes hold only their own messages.
EVERYONE_TTL = dt.timedelta(seconds=3)
_expiries: list[dt.datetime] = []


@pytest.fixture(scope="module", autouse=True)
async def _everyone_broadcasts_expire() -> AsyncIterator[None]:
    yield
    if _expiries:
        await asyncio.sleep(max(0.0, (max(_expiries) - dt.datetime.now(dt.UTC)).total_seconds()))


async def _broadcast(
    client: httpx.AsyncClient, admin: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "system", "title": "News", "body": "Patch notes"}
    body.update(fields)
    if "segment" not in body and "expires_at" not in body:
        start = dt.datetime.fromisoformat(body.get("send_at", dt.datetime.now(dt.UTC).isoformat()))
        body["expires_at"] = (start + EVERYONE_TTL).isoformat()
        _expiries.append(start + EVERYONE_TTL)
    response = await client.post(BROADCASTS, json=body, headers=auth(admin))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _titles(client: httpx.AsyncClient, player: dict[str, Any]) -> list[str]:
    return [m["title"] for m in (await inbox(client, player))["items"]]


async def _in_country(client: httpx.AsyncClient, country: str) -> dict[str, Any]:
    player = await device_login(client)
    await set_locale(client, player, country=country)
    return player


async def test_a_broadcast_writes_one_row_and_reaches_players_on_read(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    before = await count(runtime, InboxMessage)
    player = await device_login(client)
    sent = await _broadcast(client, admin, title={"en": "Hello all", "fr": "Bonjour"})
    assert sent["status"] == "sent"
    assert await count(runtime, Broadcast, Broadcast.broadcast_id == sent["broadcast_id"]) == 1
    assert await count(runtime, InboxMessage) == before  # nothing per player at send

    assert "Hello all" in await _titles(client, player)
    assert (await _titles(client, player)).count("Hello all") == 1  # taken in once
    late = await device_login(client)
    await set_locale(client, late, locale="fr")
    assert "Bonjour" in await _titles(client, late)

    stats = await client.get(f"{BROADCASTS}/{sent['broadcast_id']}", headers=auth(admin))
    assert stats.status_code == 200
    assert stats.json()["recipients"] >= 2 and stats.json()["read"] == 0


async def test_a_segment_broadcast_reaches_exactly_its_players(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    french, german = await _in_country(client, "FR"), await _in_country(client, "DE")
    title = "Only for France"
    await _broadcast(client, admin, title=title, segment={"countries": ["FR"]})
    joined_later = await _in_country(client, "FR")
    german_later = await _in_country(client, "DE")
    assert title in await _titles(client, french)
    assert title in await _titles(client, joined_later)
    assert title not in await _titles(client, german)
    assert title not in await _titles(client, german_later)


async def test_a_segment_closed_to_new_accounts_skips_later_sign_ups(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    veteran = await device_login(client)
    cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=5)
    await asyncio.sleep(0.05)
    title = "Veterans only"
    await _broadcast(client, admin, title=title, segment={"created_before": cutoff.isoformat()})
    newcomer = await device_login(client)
    assert title in await _titles(client, veteran)
    assert title not in await _titles(client, newcomer)


async def test_owners_of_a_sku_segment_and_claiming_a_broadcast_gift(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    season_pass = await create_sku(client, admin)
    gems = await create_sku(client, admin, type="consumable", quantity=5)
    owner, other = await device_login(client), await device_login(client)
    granted = await client.post(
        f"/api/v1/admin/users/{owner['user']['canonical_id']}/grants",
        json={"sku_id": season_pass["sku_id"], "reason": "test"},
        headers=auth(admin),
    )
    assert granted.status_code == 200
    sent = await _broadcast(
        client,
        admin,
        kind="gift",
        title="Thanks, pass holders",
        segment={"has_sku": season_pass["sku_id"]},
        attachments=[{"sku_id": gems["sku_id"], "quantity": 2}],
    )
    assert "Thanks, pass holders" not in await _titles(client, other)
    [message] = [m for m in (await inbox(client, owner))["items"] if m["kind"] == "gift"]
    claim = await client.post(f"{INBOX}/{message['message_id']}/claim", headers=auth(owner))
    assert claim.status_code == 200, claim.text
    assert await balance(client, owner, gems["sku_id"]) == 10
    stats = (await client.get(f"{BROADCASTS}/{sent['broadcast_id']}", headers=auth(admin))).json()
    assert (stats["recipients"], stats["read"], stats["claimed"]) == (1, 1, 1)


async def test_a_scheduled_broadcast_waits_and_can_be_cancelled_until_then(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    player = await device_login(client)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    planned = await _broadcast(
        client,
        admin,
        title="Tomorrow",
        send_at=later.isoformat(),
        expires_at=(later + dt.timedelta(hours=1)).isoformat(),  # cancelled below
    )
    assert planned["status"] == "scheduled"
    assert "Tomorrow" not in await _titles(client, player)
    cancel = await client.post(
        f"{BROADCASTS}/{planned['broadcast_id']}/cancel", headers=auth(admin)
    )
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    sent = await _broadcast(client, admin, title="Now")
    too_late = await client.post(f"{BROADCASTS}/{sent['broadcast_id']}/cancel", headers=auth(admin))
    assert too_late.status_code == 409
    listed = await client.get(BROADCASTS, headers=auth(admin))
    ids = [b["broadcast_id"] for b in listed.json()["items"]]
    assert planned["broadcast_id"] in ids and sent["broadcast_id"] in ids
    audit = await client.get(
        "/api/v1/admin/audit-logs",
        params={"action": "messaging.broadcast_cancel"},
        headers=auth(admin),
    )
    assert audit.status_code == 200
    assert planned["broadcast_id"] in audit.text


async def test_a_scheduled_broadcast_fires_once_across_two_schedulers(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    runtime: Runtime,
    make_settings: Callable[..., Settings],
) -> None:
    player = await device_login(client)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=300)
    planned = await _broadcast(client, admin, title="At the hour", send_at=soon.isoformat())
    await asyncio.sleep(0.4)
    async with running_app(make_settings()) as (other_app, other), asgi_client(other_app) as there:
        fired = await asyncio.gather(
            in_unit_of_work(runtime.db, lambda uow: broadcasts.fire_due_broadcasts(uow, runtime)),
            in_unit_of_work(other.db, lambda uow: broadcasts.fire_due_broadcasts(uow, other)),
        )
        # At most one of them fired it: none when the first app's own schedule (every minute)
        # came first, as it may on a slow machine while the second app starts.
        assert sum(planned["broadcast_id"] in ids for ids in fired) <= 1
        after = await client.get(f"{BROADCASTS}/{planned['broadcast_id']}", headers=auth(admin))
        assert after.json()["status"] == "sent" and after.json()["sent_at"] is not None
        # Read through the process that fired it: the other one's cached list of live
        # broadcasts learns of it by invalidation, which in the embedded shape (one process by
        # design, here two) never crosses, and on Redis arrives a moment later.
        reader = there if planned["broadcast_id"] in fired[1] else client
        assert (await _titles(reader, player)).count("At the hour") == 1


async def test_bad_broadcasts_are_refused(client: httpx.AsyncClient, admin: dict[str, Any]) -> None:
    bad: list[dict[str, Any]] = [
        {"kind": "nope"},
        {"segment": {"countries": ["ZZ"]}},
        {"segment": {"planet": "mars"}},
        {"attachments": [{"sku_id": "no-such-sku"}]},
        {"attachments": [{"sku_id": "x", "quantity": -3}]},
        {"send_at": "tomorrow"},
    ]
    for fields in bad:
        body = {"kind": "system", "title": "t", "body": "b", **fields}
        answer = await client.post(BROADCASTS, json=body, headers=auth(admin))
        assert answer.status_code == 422, (fields, answer.text)
    unknown = await client.get(f"{BROADCASTS}/b{'0' * 24}", headers=auth(admin))
    assert unknown.status_code == 404


async def test_a_player_who_has_every_live_broadcast_reads_the_inbox_without_a_query(
    client: httpx.AsyncClient, admin: dict[str, Any], runtime: Runtime
) -> None:
    if _expiries:  # other tests' broadcasts to everyone: gone before this one counts queries
        await asyncio.sleep(max(0.0, (max(_expiries) - dt.datetime.now(dt.UTC)).total_seconds()))
    player = await _in_country(client, "NZ")
    await _broadcast(client, admin, title="Kia ora", segment={"countries": ["NZ"]})
    assert await _titles(client, player) == ["Kia ora"]  # taken in on this read
    # Taking it in changed the inbox: the next read looks once more at what it lacks (none).
    assert await _titles(client, player) == ["Kia ora"]

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "inbox_messages" in statement:
            statements.append(statement)

    engines = {runtime.db.write_engine.sync_engine, runtime.db.read_engine.sync_engine}
    for engine in engines:
        sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            assert await _titles(client, player) == ["Kia ora"]
        assert statements == []
    finally:
        for engine in engines:
            sa_event.remove(engine, "before_cursor_execute", seen)
    assert await count(runtime, InboxMessage, InboxMessage.broadcast_id.isnot(None)) >= 1
