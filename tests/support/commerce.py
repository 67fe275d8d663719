"""Commerce test helpers: catalog entries made through the admin API, players signed in with
Steam or Epic, and the emulators' stand-ins for the Steam overlay, support refunds and the
Epic store."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.commerce.models import Balance, LedgerEntry
from playerplatform.runtime import Runtime
from tests.support.db import rows, scalar
from tests.support.platforms import epic_id_token, steam_ticket
from tests.support.players import auth


def new_sku_id(prefix: str = "sku") -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def new_itemid() -> str:
    return str(1000 + secrets.randbelow(10**12))


async def create_sku(
    client: httpx.AsyncClient, admin: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A SKU made by an admin; sold on Steam (price 199) unless `metadata` says otherwise."""
    body: dict[str, Any] = {
        "sku_id": new_sku_id(fields.get("type", "durable")),
        "type": "durable",
        "name": "Golden Sword",
        "metadata": {"steam": {"itemid": new_itemid(), "amount": 199, "currency": "USD"}},
    }
    body.update(fields)
    response = await client.post("/api/v1/admin/skus", json=body, headers=auth(admin))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def steam_player(client: httpx.AsyncClient, emulators: dict[str, str]) -> dict[str, Any]:
    """A player signed in with Steam; `steamid` added to the token response."""
    ticket, steamid = await steam_ticket(emulators)
    response = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["steamid"] = steamid
    return body


async def epic_player(client: httpx.AsyncClient, emulators: dict[str, str]) -> dict[str, Any]:
    """A player signed in with Epic Account Services; `account_id` added."""
    id_token, sub = await epic_id_token(emulators, kind="eas")
    response = await client.post("/api/v1/auth/epic/login", json={"id_token": id_token})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["account_id"] = sub
    return body


async def overlay(emulators: dict[str, str], orderid: str, action: str, **body: Any) -> None:
    """What happens in the Steam overlay (approve / deny) or at Steam support (refund)."""
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        response = await http.post(f"/emulator/microtxn/{orderid}/{action}", json=body or None)
        response.raise_for_status()


async def set_steam_wallet(
    emulators: dict[str, str], steamid: str, currency: str, country: str = "US"
) -> None:
    """The player's Steam wallet is in `currency` (what GetUserInfo answers)."""
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        response = await http.put(
            f"/emulator/microtxn/users/{steamid}/wallet",
            json={"currency": currency, "country": country},
        )
        response.raise_for_status()


async def steam_txn(emulators: dict[str, str], orderid: str) -> dict[str, Any] | None:
    """The transaction as Steam holds it, or None when Steam never heard of it."""
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        response = await http.get(f"/emulator/microtxn/{orderid}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


async def start_order(
    client: httpx.AsyncClient, player: dict[str, Any], sku_id: str, quantity: int = 1
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/commerce/steam/orders",
        json={"sku_id": sku_id, "quantity": quantity},
        headers=auth(player),
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def verify(
    client: httpx.AsyncClient, player: dict[str, Any], order_id: str, key: str | None = None
) -> httpx.Response:
    headers = auth(player)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/api/v1/commerce/verify-receipt",
        json={"provider": "steam", "order_id": order_id},
        headers=headers,
    )


async def buy(
    client: httpx.AsyncClient,
    emulators: dict[str, str],
    player: dict[str, Any],
    sku_id: str,
    quantity: int = 1,
) -> dict[str, Any]:
    """Order, approve in the overlay, verify: the whole Steam purchase. Returns the order."""
    order = await start_order(client, player, sku_id, quantity)
    await overlay(emulators, order["provider_order_id"], "approve")
    response = await verify(client, player, order["order_id"])
    assert response.status_code == 200, response.text
    verified: dict[str, Any] = response.json()["order"]
    assert verified["status"] == "verified"
    return verified


async def owned(client: httpx.AsyncClient, player: dict[str, Any], sku_id: str) -> bool:
    response = await client.get(
        "/api/v1/commerce/entitlements/check", params={"sku_id": sku_id}, headers=auth(player)
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["owned"])


async def balance(client: httpx.AsyncClient, player: dict[str, Any], sku_id: str) -> int:
    response = await client.get("/api/v1/commerce/wallet", headers=auth(player))
    assert response.status_code == 200, response.text
    for row in response.json()["balances"]:
        if row["sku_id"] == sku_id:
            return int(row["balance"])
    return 0


async def spend(
    client: httpx.AsyncClient,
    player: dict[str, Any],
    sku_id: str,
    quantity: int,
    key: str | None = None,
) -> httpx.Response:
    return await client.post(
        "/api/v1/commerce/wallet/spend",
        json={"sku_id": sku_id, "quantity": quantity, "reason": "shop"},
        headers={**auth(player), "Idempotency-Key": key or secrets.token_hex(8)},
    )


async def give_epic_entitlement(
    emulators: dict[str, str], account_id: str, catalog_item_id: str, consumable: bool = False
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=emulators["epic"]) as http:
        response = await http.post(
            "/emulator/ecom/entitlements",
            json={
                "identity_id": account_id,
                "catalog_item_id": catalog_item_id,
                "consumable": consumable,
            },
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


async def ledger_consistent(runtime: Runtime, user_id: Any, sku_id: str) -> tuple[int, int, int]:
    """(balance row, sum of entries, balance_after of the newest entry) for one wallet."""
    stored = await scalar(
        runtime,
        sa.select(Balance.balance).where(Balance.user_id == user_id, Balance.sku_id == sku_id),
    )
    entries = await rows(
        runtime,
        sa.select(LedgerEntry.change, LedgerEntry.balance_after)
        .where(LedgerEntry.user_id == user_id, LedgerEntry.sku_id == sku_id)
        .order_by(LedgerEntry.id),
    )
    total = sum(e[0] for e in entries)
    newest = entries[-1][1] if entries else 0
    return int(stored or 0), total, newest
