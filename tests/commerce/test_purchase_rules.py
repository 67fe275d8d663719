"""What a Steam purchase may not be: in a currency the player's wallet is not in, at a price
the client chose, or a second charge for a durable item the player owns once."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.commerce.models import Order
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.commerce import (
    balance,
    buy,
    create_sku,
    new_itemid,
    overlay,
    owned,
    set_steam_wallet,
    spend,
    start_order,
    steam_player,
    steam_txn,
    verify,
)
from tests.support.db import scalar
from tests.support.players import auth


async def _orders_of(runtime: Runtime, player: dict[str, Any]) -> int:
    user_id = await scalar(
        runtime, sa.select(User.id).where(User.canonical_id == player["user"]["canonical_id"])
    )
    found = await scalar(runtime, sa.select(sa.func.count()).where(Order.user_id == user_id))
    return int(found or 0)


async def _order(client: httpx.AsyncClient, player: dict[str, Any], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/commerce/steam/orders", json=body, headers=auth(player))


def _priced(**prices: int) -> dict[str, Any]:
    return {"steam": {"itemid": new_itemid(), "amount": 499, "currency": "USD", "prices": prices}}


async def test_the_order_is_in_the_steam_wallets_currency_at_the_catalog_price(
    client: httpx.AsyncClient, emulators: dict[str, str], admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin, metadata=_priced(EUR=449, IDR=7_900_000))
    player = await steam_player(client, emulators)
    await set_steam_wallet(emulators, player["steamid"], "IDR", country="ID")

    response = await _order(client, player, sku_id=sku["sku_id"])
    assert response.status_code == 201, response.text
    order = response.json()
    assert (order["currency"], order["amount"]) == ("IDR", 7_900_000)
    txn = await steam_txn(emulators, order["provider_order_id"])
    assert txn is not None and txn["currency"] == "IDR"
    assert [i["amount"] for i in txn["items"]] == [7_900_000]
    await overlay(emulators, order["provider_order_id"], "approve")
    assert (await verify(client, player, order["order_id"])).status_code == 200
    assert await owned(client, player, sku["sku_id"]) is True


async def test_a_currency_chosen_by_the_client_is_refused_before_steam_is_asked(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin, metadata=_priced(IDR=7_900_000))
    player = await steam_player(client, emulators)  # a US wallet in USD
    response = await _order(client, player, sku_id=sku["sku_id"], currency="IDR")
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "currency_mismatch"
    assert "USD" in response.json()["detail"]
    assert await _orders_of(runtime, player) == 0
    # Naming the wallet's own currency is fine.
    same = await _order(client, player, sku_id=sku["sku_id"], currency="USD")
    assert same.status_code == 201 and same.json()["amount"] == 499


async def test_a_wallet_currency_the_sku_has_no_price_in_cannot_buy_it(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin, metadata=_priced(EUR=449))
    player = await steam_player(client, emulators)
    await set_steam_wallet(emulators, player["steamid"], "IDR", country="ID")
    for body in ({"sku_id": sku["sku_id"]}, {"sku_id": sku["sku_id"], "currency": "IDR"}):
        response = await _order(client, player, **body)
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "currency_not_supported"
    assert await _orders_of(runtime, player) == 0


async def test_catalog_prices_must_be_iso_currencies(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    for prices in ({"idr": 5}, {"IDR": -1}, {"EURO": 5}):
        response = await client.post(
            "/api/v1/admin/skus",
            json={
                "sku_id": f"bad-{len(str(prices))}-{new_itemid()}",
                "type": "durable",
                "name": "Hat",
                "metadata": {"steam": {"itemid": "7", "amount": 1, "prices": prices}},
            },
            headers=auth(admin),
        )
        assert response.status_code == 422, (prices, response.text)


async def test_a_durable_is_bought_once_whatever_the_quantity(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    hat = await create_sku(client, admin, name="Hat")
    gems = await create_sku(client, admin, type="consumable", name="Gems", quantity=10)
    pack = await create_sku(
        client, admin, type="bundle", name="Pack", contents=[{"sku_id": hat["sku_id"]}]
    )
    player = await steam_player(client, emulators)
    for body in (
        {"sku_id": hat["sku_id"], "quantity": 5},
        {"sku_id": pack["sku_id"], "quantity": 2},
        {
            "items": [
                {"sku_id": gems["sku_id"], "quantity": 2},
                {"sku_id": hat["sku_id"], "quantity": 3},
            ]
        },
    ):
        response = await _order(client, player, **body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "validation_error"
    assert await _orders_of(runtime, player) == 0
    # Consumables are still bought by the handful.
    await buy(client, emulators, player, gems["sku_id"], quantity=5)
    assert await balance(client, player, gems["sku_id"]) == 50
    # An admin grant of a durable in a quantity is refused the same way.
    grant = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": hat["sku_id"], "quantity": 5, "reason": "make-good"},
        headers=auth(admin),
    )
    assert grant.status_code == 422, grant.text


async def test_an_owned_durable_is_not_charged_again(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    hat = await create_sku(client, admin, name="Hat")
    pack = await create_sku(
        client, admin, type="bundle", name="Pack", contents=[{"sku_id": hat["sku_id"]}]
    )
    player = await steam_player(client, emulators)
    pending = await start_order(client, player, hat["sku_id"])
    # Not approved yet: a second order for the same hat would be a second charge.
    twice = await _order(client, player, sku_id=hat["sku_id"])
    assert twice.status_code == 409 and twice.json()["code"] == "purchase_pending"
    await overlay(emulators, pending["provider_order_id"], "approve")
    assert (await verify(client, player, pending["order_id"])).status_code == 200

    for body in ({"sku_id": hat["sku_id"]}, {"sku_id": pack["sku_id"]}):
        again = await _order(client, player, **body)
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "already_owned"
    assert await _orders_of(runtime, player) == 1


async def test_a_declined_steam_wallet_and_a_low_balance_have_their_own_codes(
    client: httpx.AsyncClient, emulators: dict[str, str], admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", name="Gems", quantity=10)
    player = await steam_player(client, emulators)
    order = await start_order(client, player, gems["sku_id"])
    await overlay(emulators, order["provider_order_id"], "deny", errorcode=100)
    declined = await verify(client, player, order["order_id"])
    assert declined.status_code == 402
    assert declined.json()["code"] == "purchase_insufficient_funds"
    short = await spend(client, player, gems["sku_id"], 1)
    assert short.status_code == 409 and short.json()["code"] == "insufficient_funds"
