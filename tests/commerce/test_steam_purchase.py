"""Buying on Steam: order, overlay approval, verification, and every way it can go wrong."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from playerplatform.commerce.models import Entitlement, LedgerEntry, Order
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.commerce import (
    balance,
    buy,
    create_sku,
    overlay,
    owned,
    spend,
    start_order,
    steam_player,
    verify,
)
from tests.support.db import count, scalar
from tests.support.players import auth, device_login


async def test_buy_approve_verify_owned(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    assert await owned(client, player, sku["sku_id"]) is False  # cached as "not owned"

    order = await start_order(client, player, sku["sku_id"])
    assert order["status"] == "pending" and order["transid"]
    assert order["amount"] == 199 and order["currency"] == "USD"
    await overlay(emulators, order["provider_order_id"], "approve")
    response = await verify(client, player, order["order_id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order"]["status"] == "verified" and body["order"]["verified_at"]
    assert [e["sku_id"] for e in body["entitlements"]] == [sku["sku_id"]]
    assert await owned(client, player, sku["sku_id"]) is True  # the grant refreshed the cache

    receipt = orjson.loads(await runtime.objects.get(f"receipts/{order['order_id']}.json"))
    assert receipt["provider_order_id"] == order["provider_order_id"]
    assert receipt["response"]["transid"] == order["transid"]

    # Verifying again returns the current state and grants nothing more.
    again = await verify(client, player, order["order_id"], key="another-key")
    assert again.status_code == 200
    assert again.json()["order"]["status"] == "verified"
    order_pk = await scalar(runtime, sa.select(Order.id).where(Order.order_id == order["order_id"]))
    assert await count(runtime, Entitlement, Entitlement.order_id == order_pk) == 1

    listed = await client.get("/api/v1/commerce/orders", headers=auth(player))
    assert [o["order_id"] for o in listed.json()["items"]] == [order["order_id"]]
    single = await client.get(f"/api/v1/commerce/orders/{order['order_id']}", headers=auth(player))
    assert single.json()["status"] == "verified"


async def test_bundle_grants_its_contents(
    client: httpx.AsyncClient, emulators: dict[str, str], admin: dict[str, Any]
) -> None:
    cape = await create_sku(client, admin, name="Cape")
    gems = await create_sku(client, admin, type="consumable", name="Gems", quantity=50)
    bundle = await create_sku(
        client,
        admin,
        type="bundle",
        name="Starter pack",
        contents=[{"sku_id": cape["sku_id"]}, {"sku_id": gems["sku_id"], "quantity": 2}],
    )
    player = await steam_player(client, emulators)
    await buy(client, emulators, player, bundle["sku_id"])
    assert await owned(client, player, cape["sku_id"]) is True
    assert await balance(client, player, gems["sku_id"]) == 100


async def test_consumable_then_spend(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", name="Gems", quantity=10)
    player = await steam_player(client, emulators)
    await buy(client, emulators, player, gems["sku_id"], quantity=3)
    assert await balance(client, player, gems["sku_id"]) == 30

    response = await spend(client, player, gems["sku_id"], 12, key="spend-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"sku_id": gems["sku_id"], "balance_after": 18}
    replay = await spend(client, player, gems["sku_id"], 12, key="spend-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == response.json()
    conflict = await spend(client, player, gems["sku_id"], 13, key="spend-1")
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"

    short = await spend(client, player, gems["sku_id"], 19)
    assert short.status_code == 409 and short.json()["code"] == "insufficient_funds"
    assert await balance(client, player, gems["sku_id"]) == 18

    ledger = await client.get(
        "/api/v1/commerce/wallet/ledger", params={"sku_id": gems["sku_id"]}, headers=auth(player)
    )
    entries = ledger.json()["items"]
    assert [(e["change_type"], e["change"], e["balance_after"]) for e in entries] == [
        ("spend", -12, 18),
        ("grant", 30, 30),
    ]


async def test_denied_purchases_fail_the_order_with_a_clear_code(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    for errorcode, code, status in (
        (10, "purchase_denied", 402),
        (100, "purchase_insufficient_funds", 402),
        (104, "purchase_fraud_suspected", 402),
    ):
        order = await start_order(client, player, sku["sku_id"])
        await overlay(emulators, order["provider_order_id"], "deny", errorcode=errorcode)
        response = await verify(client, player, order["order_id"], key=f"deny-{errorcode}")
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
        # The failure is recorded and replayed, and the order stays failed.
        replay = await verify(client, player, order["order_id"], key=f"deny-{errorcode}")
        assert replay.status_code == status and replay.headers["Idempotent-Replayed"] == "true"
        again = await verify(client, player, order["order_id"])
        assert again.json()["code"] == code
        stored = await scalar(
            runtime, sa.select(Order.status).where(Order.order_id == order["order_id"])
        )
        assert stored == "failed"
    assert await owned(client, player, sku["sku_id"]) is False


async def test_verify_before_approval_leaves_the_order_pending(
    client: httpx.AsyncClient, emulators: dict[str, str], admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    order = await start_order(client, player, sku["sku_id"])
    response = await verify(client, player, order["order_id"])
    assert response.status_code == 409 and response.json()["code"] == "order_not_approved"
    await overlay(emulators, order["provider_order_id"], "approve")
    assert (await verify(client, player, order["order_id"])).status_code == 200


async def test_crash_between_finalize_and_commit_is_recovered_with_querytxn(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=5)
    player = await steam_player(client, emulators)
    order = await start_order(client, player, gems["sku_id"])
    await overlay(emulators, order["provider_order_id"], "approve")
    # Our process finalized (Steam captured the money) and died before committing.
    await runtime.steam.finalize_txn(order["provider_order_id"])
    response = await verify(client, player, order["order_id"])
    assert response.status_code == 200, response.text  # FinalizeTxn: error 6; QueryTxn: Succeeded
    assert response.json()["order"]["status"] == "verified"
    assert await balance(client, player, gems["sku_id"]) == 5


async def test_lost_finalize_answer_is_recovered_with_querytxn(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    order = await start_order(client, player, sku["sku_id"])
    await overlay(emulators, order["provider_order_id"], "approve")
    await overlay(emulators, order["provider_order_id"], "lose-finalize-answer")
    response = await verify(client, player, order["order_id"])
    assert response.status_code == 200, response.text
    assert await owned(client, player, sku["sku_id"]) is True


async def test_bad_orders_write_nothing(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    retired = await create_sku(client, admin, is_active=False)
    player = await steam_player(client, emulators)
    before = await count(runtime, Order)
    cases = [
        ({"sku_id": "no-such-sku"}, 404, "not_found"),
        ({"sku_id": retired["sku_id"]}, 422, "sku_unavailable"),
        ({"sku_id": sku["sku_id"], "quantity": -1}, 422, "validation_error"),
        ({"sku_id": sku["sku_id"], "quantity": 0}, 422, "validation_error"),
        ({"sku_id": "../etc"}, 422, "validation_error"),
        ({}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await client.post(
            "/api/v1/commerce/steam/orders", json=body, headers=auth(player)
        )
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
        assert response.headers["content-type"] == "application/problem+json"
    # Without a linked Steam account there is no one to charge.
    guest = await device_login(client)
    response = await client.post(
        "/api/v1/commerce/steam/orders", json={"sku_id": sku["sku_id"]}, headers=auth(guest)
    )
    assert response.status_code == 409 and response.json()["code"] == "steam_account_required"
    assert await count(runtime, Order) == before


async def test_another_players_order_is_not_found(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    owner = await steam_player(client, emulators)
    thief = await steam_player(client, emulators)
    order = await start_order(client, owner, sku["sku_id"])
    await overlay(emulators, order["provider_order_id"], "approve")
    response = await verify(client, thief, order["order_id"])
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    peek = await client.get(f"/api/v1/commerce/orders/{order['order_id']}", headers=auth(thief))
    assert peek.status_code == 404
    assert await count(runtime, LedgerEntry, LedgerEntry.order_id.is_not(None)) >= 0
    assert await owned(client, thief, sku["sku_id"]) is False
    assert (await verify(client, owner, order["order_id"])).status_code == 200


async def test_idempotent_order_creation_replays_the_same_order(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    headers = {**auth(player), "Idempotency-Key": "order-once"}
    body = {"sku_id": sku["sku_id"]}
    first = await client.post("/api/v1/commerce/steam/orders", json=body, headers=headers)
    second = await client.post("/api/v1/commerce/steam/orders", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["order_id"] == second.json()["order_id"]
    other = await client.post(
        "/api/v1/commerce/steam/orders", json={**body, "quantity": 2}, headers=headers
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    bad_key = await client.post(
        "/api/v1/commerce/steam/orders",
        json=body,
        headers={**auth(player), "Idempotency-Key": "x" * 129},
    )
    assert bad_key.status_code == 422 and bad_key.json()["code"] == "validation_error"


async def test_steam_refusing_the_order_records_a_failed_order(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        refused = await http.post(
            "/emulator/microtxn/refuse-next-init", json={"steamid": player["steamid"]}
        )
        refused.raise_for_status()
    headers = {**auth(player), "Idempotency-Key": "init-refused"}
    body = {"sku_id": sku["sku_id"]}
    response = await client.post("/api/v1/commerce/steam/orders", json=body, headers=headers)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "purchase_pending_elsewhere"
    replay = await client.post("/api/v1/commerce/steam/orders", json=body, headers=headers)
    assert replay.status_code == 409 and replay.headers["Idempotent-Replayed"] == "true"
    user_id = await scalar(
        runtime, sa.select(User.id).where(User.canonical_id == player["user"]["canonical_id"])
    )
    statuses = await scalar(
        runtime,
        sa.select(sa.func.count()).where(Order.user_id == user_id, Order.status == "failed"),
    )
    assert statuses == 1
    # The next attempt goes through.
    fresh = await client.post("/api/v1/commerce/steam/orders", json=body, headers=auth(player))
    assert fresh.status_code == 201
