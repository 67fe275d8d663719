"""Epic Games Store purchases: entitlements read, granted once, consumables redeemed, and
clawbacks taken back."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from playerplatform.commerce.models import Order
from playerplatform.commerce.reconcile import reconcile_now
from playerplatform.runtime import Runtime
from tests.support.commerce import (
    balance,
    create_sku,
    epic_player,
    give_epic_entitlement,
    owned,
    steam_player,
)
from tests.support.db import count
from tests.support.players import auth


def _epic_item() -> str:
    return f"catalog-{secrets.token_hex(6)}"


async def _verify(client: httpx.AsyncClient, player: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/v1/commerce/verify-receipt", json={"provider": "epic"}, headers=auth(player)
    )


async def test_epic_entitlement_verify_owned_once(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    item, coins_item = _epic_item(), _epic_item()
    cape = await create_sku(client, admin, metadata={"epic": {"catalog_item_id": item}})
    coins = await create_sku(
        client,
        admin,
        type="consumable",
        quantity=40,
        metadata={"epic": {"catalog_item_id": coins_item}},
    )
    player = await epic_player(client, emulators)
    bought = await give_epic_entitlement(emulators, player["account_id"], item)
    await give_epic_entitlement(emulators, player["account_id"], coins_item, consumable=True)
    await give_epic_entitlement(emulators, player["account_id"], _epic_item())  # not ours

    response = await _verify(client, player)
    assert response.status_code == 200, response.text
    orders = response.json()["orders"]
    assert sorted(o["sku_id"] for o in orders) == sorted([cape["sku_id"], coins["sku_id"]])
    assert all(o["provider"] == "epic" and o["status"] == "verified" for o in orders)
    assert await owned(client, player, cape["sku_id"]) is True
    assert await balance(client, player, coins["sku_id"]) == 40

    # Epic now lists the consumable as redeemed; verifying again grants nothing more.
    again = await _verify(client, player)
    assert again.status_code == 200
    assert len(again.json()["orders"]) == 2
    assert await balance(client, player, coins["sku_id"]) == 40
    assert await count(runtime, Order, Order.provider_order_id == bought["id"]) == 1
    async with httpx.AsyncClient(base_url=emulators["epic"]) as http:
        token = await runtime.epic.app_token()
        listed = await http.get(
            f"/epic/ecom/v3/identities/{player['account_id']}/entitlements",
            params={"sandboxId": runtime.settings.epic_sandbox_id, "includeRedeemed": "true"},
            headers={"Authorization": f"Bearer {token}"},
        )
    consumed = [e for e in listed.json() if e["catalogItemId"] == coins_item]
    assert consumed[0]["redeemed"] is True


async def test_epic_clawback_revokes(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    item = _epic_item()
    sku = await create_sku(client, admin, metadata={"epic": {"catalog_item_id": item}})
    player = await epic_player(client, emulators)
    bought = await give_epic_entitlement(emulators, player["account_id"], item)
    assert (await _verify(client, player)).status_code == 200
    async with httpx.AsyncClient(base_url=emulators["epic"]) as http:
        clawed = await http.post(f"/emulator/ecom/entitlements/{bought['id']}/clawback")
        clawed.raise_for_status()
    report = await reconcile_now(runtime)
    assert any(r.provider_order_id == bought["id"] for r in report.ours)
    assert await owned(client, player, sku["sku_id"]) is False
    status = await count(
        runtime, Order, Order.provider_order_id == bought["id"], Order.status == "refunded"
    )
    assert status == 1


async def test_epic_verify_needs_an_epic_account(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    player = await steam_player(client, emulators)
    response = await _verify(client, player)
    assert response.status_code == 409 and response.json()["code"] == "epic_account_required"
    bad = await client.post(
        "/api/v1/commerce/verify-receipt", json={"provider": "steam"}, headers=auth(player)
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    other = await client.post(
        "/api/v1/commerce/verify-receipt", json={"provider": "xbox"}, headers=auth(player)
    )
    assert other.status_code == 422
