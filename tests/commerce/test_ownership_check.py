"""`GET /commerce/entitlements/check` is served below the framework from one hot-store round
trip: it must answer as the documented route does, cached answers included."""

from __future__ import annotations

from typing import Any

import httpx

from playerplatform.commerce.schemas import OwnershipOut
from playerplatform.runtime import Runtime
from tests.support.commerce import create_sku
from tests.support.players import auth, device_login
from tests.support.staff import staff_login

CHECK = "/api/v1/commerce/entitlements/check"


async def test_check_follows_a_grant_after_answering_not_owned(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin)
    player = await device_login(client)
    before = await client.get(CHECK, params={"sku_id": sword["sku_id"]}, headers=auth(player))
    assert before.status_code == 200
    assert before.headers["content-type"] == "application/json"
    assert "RateLimit-Remaining" in before.headers
    assert OwnershipOut.model_validate(before.json()) == OwnershipOut(
        sku_id=sword["sku_id"], owned=False
    )
    granted = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": sword["sku_id"], "reason": "make-good"},
        headers=auth(admin),
    )
    assert granted.status_code == 200, granted.text
    after = await client.get(CHECK, params={"sku_id": sword["sku_id"]}, headers=auth(player))
    assert after.json() == {"sku_id": sword["sku_id"], "owned": True}


async def test_malformed_queries_get_the_routes_own_validation_errors(
    client: httpx.AsyncClient,
) -> None:
    player = await device_login(client)
    for query in ("", "?sku_id=", "?sku_id=..%2Fx", "?other=1", f"?sku_id={'a' * 65}"):
        response = await client.get(CHECK + query, headers=auth(player))
        assert response.status_code == 422, (query, response.text)
        assert response.json()["code"] == "validation_error"
    both = await client.get(CHECK + "?sku_id=a&sku_id=b", headers=auth(player))
    assert both.status_code in (404, 422)
    assert both.headers["content-type"] == "application/problem+json"


async def test_service_tokens_and_bad_tokens_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    created = await client.post(
        "/api/v1/admin/service-accounts",
        json={"name": "ownership-probe", "scopes": ["commerce:read"]},
        headers=auth(admin),
    )
    assert created.status_code in (200, 201), created.text
    token = await client.post(
        "/api/v1/auth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": created.json()["client_id"],
            "client_secret": created.json()["client_secret"],
        },
    )
    service = auth(token.json()["access_token"])
    refused = await client.get(CHECK, params={"sku_id": "anything"}, headers=service)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    garbage = await client.get(CHECK, params={"sku_id": "x"}, headers=auth("not-a-token"))
    assert garbage.status_code == 401
