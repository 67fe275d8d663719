"""The catalog: staff create, change and deactivate SKUs; players see what is on sale."""

from __future__ import annotations

from typing import Any

import httpx

from playerplatform.audit.models import AuditLog
from playerplatform.commerce.models import Sku
from playerplatform.runtime import Runtime
from tests.support.commerce import create_sku, new_sku_id
from tests.support.db import count
from tests.support.players import auth, device_login


async def _all_public(client: httpx.AsyncClient) -> list[str]:
    ids, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/commerce/skus", params=params)).json()
        ids += [s["sku_id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


async def test_admin_creates_updates_and_deactivates_skus(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(
        client, admin, type="consumable", name="Gems", quantity=100, description="Shiny"
    )
    assert gems["quantity"] == 100 and gems["is_active"] is True
    assert gems["metadata"]["steam"]["amount"] == 199
    assert gems["sku_id"] in await _all_public(client)  # public, no token needed

    patch = await client.patch(
        f"/api/v1/admin/skus/{gems['sku_id']}",
        json={"is_active": False, "name": "Old gems"},
        headers=auth(admin),
    )
    assert patch.status_code == 200, patch.text
    assert patch.json()["is_active"] is False and patch.json()["name"] == "Old gems"
    assert gems["sku_id"] not in await _all_public(client)
    staff_view = await client.get(f"/api/v1/admin/skus/{gems['sku_id']}", headers=auth(admin))
    assert staff_view.json()["name"] == "Old gems"
    actions = await count(
        runtime,
        AuditLog,
        AuditLog.resource_id == gems["sku_id"],
        AuditLog.action.in_(["commerce.sku_create", "commerce.sku_update"]),
    )
    assert actions == 2


async def test_bad_catalog_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]
) -> None:
    existing = await create_sku(client, admin)
    nested = await create_sku(
        client, admin, type="bundle", contents=[{"sku_id": existing["sku_id"]}]
    )
    before = await count(runtime, Sku)
    cases = [
        ({"sku_id": existing["sku_id"], "type": "durable", "name": "x"}, 409, "sku_exists"),
        ({"sku_id": new_sku_id(), "type": "bundle", "name": "x"}, 422, "validation_error"),
        (
            {
                "sku_id": new_sku_id(),
                "type": "bundle",
                "name": "x",
                "contents": [{"sku_id": "missing-sku"}],
            },
            422,
            "validation_error",
        ),
        (
            {
                "sku_id": new_sku_id(),
                "type": "bundle",
                "name": "x",
                "contents": [{"sku_id": nested["sku_id"]}],
            },
            422,
            "validation_error",
        ),
        ({"sku_id": "bad id!", "type": "durable", "name": "x"}, 422, "validation_error"),
        (
            {"sku_id": new_sku_id(), "type": "durable", "name": "x", "quantity": -5},
            422,
            "validation_error",
        ),
        ({"sku_id": new_sku_id(), "type": "weapon", "name": "x"}, 422, "validation_error"),
        (
            {
                "sku_id": new_sku_id(),
                "type": "durable",
                "name": "x",
                "metadata": {"steam": {"itemid": "abc", "amount": 1}},
            },
            422,
            "validation_error",
        ),
    ]
    for body, status, code in cases:
        response = await client.post("/api/v1/admin/skus", json=body, headers=auth(admin))
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
    assert await count(runtime, Sku) == before

    player = await device_login(client)
    response = await client.post(
        "/api/v1/admin/skus",
        json={"sku_id": new_sku_id(), "type": "durable", "name": "x"},
        headers=auth(player),
    )
    assert response.status_code == 403
    missing = await client.patch(
        "/api/v1/admin/skus/no-such-sku", json={"name": "y"}, headers=auth(admin)
    )
    assert missing.status_code == 404
    wrong_kind = await client.patch(
        f"/api/v1/admin/skus/{existing['sku_id']}", json={"quantity": 5}, headers=auth(admin)
    )
    assert wrong_kind.status_code == 422
    assert await count(runtime, Sku, Sku.sku_id == existing["sku_id"], Sku.quantity == 1) == 1


async def test_entitlement_check_of_an_unknown_sku_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    player = await device_login(client)
    response = await client.get(
        "/api/v1/commerce/entitlements/check", params={"sku_id": "nope"}, headers=auth(player)
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    anonymous = await client.get("/api/v1/commerce/entitlements/check", params={"sku_id": "x"})
    assert anonymous.status_code == 401
