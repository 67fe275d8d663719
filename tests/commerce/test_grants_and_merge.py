"""Staff grants, grant/revoke jobs, the admin user view and account merges."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.commerce.models import Entitlement, Order
from playerplatform.jobs.service import enqueue
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.commerce import (
    balance,
    buy,
    create_sku,
    ledger_consistent,
    owned,
    spend,
    steam_player,
)
from tests.support.db import count, scalar
from tests.support.platforms import steam_ticket
from tests.support.players import auth, device_login


async def test_admin_grant_is_idempotent_audited_and_shown_in_the_user_view(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]
) -> None:
    cape = await create_sku(client, admin, is_active=False)  # make-goods may be off sale
    gems = await create_sku(client, admin, type="consumable", quantity=5)
    player = await device_login(client)
    canonical_id = player["user"]["canonical_id"]
    url = f"/api/v1/admin/users/{canonical_id}/grants"
    headers = {**auth(admin), "Idempotency-Key": "grant-1"}
    body = {"sku_id": gems["sku_id"], "quantity": 2, "reason": "outage make-good"}
    first = await client.post(url, json=body, headers=headers)
    second = await client.post(url, json=body, headers=headers)
    assert first.status_code == second.status_code == 200, first.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await balance(client, player, gems["sku_id"]) == 10
    cape_grant = await client.post(
        url, json={"sku_id": cape["sku_id"], "reason": "apology"}, headers=auth(admin)
    )
    assert cape_grant.status_code == 200
    assert await owned(client, player, cape["sku_id"]) is True

    detail = await client.get(f"/api/v1/admin/users/{canonical_id}", headers=auth(admin))
    assert detail.status_code == 200
    assert [e["sku_id"] for e in detail.json()["entitlements"]] == [cape["sku_id"]]
    assert detail.json()["balances"] == [{"sku_id": gems["sku_id"], "balance": 10}]
    assert (
        await count(
            runtime,
            AuditLog,
            AuditLog.action == "commerce.grant",
            AuditLog.resource_id == canonical_id,
        )
        == 2
    )

    for bad, code in (
        ({"sku_id": "missing", "reason": "x"}, 404),
        ({"sku_id": gems["sku_id"], "quantity": -1, "reason": "x"}, 422),
        ({"sku_id": gems["sku_id"], "reason": "   "}, 422),
    ):
        response = await client.post(url, json=bad, headers=auth(admin))
        assert response.status_code == code, response.text
    not_staff = await client.post(url, json=body, headers=auth(player))
    assert not_staff.status_code == 403
    assert await balance(client, player, gems["sku_id"]) == 10


async def _wait_for(check: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_grant_and_revoke_jobs_run_once_per_provider_key(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=3)
    cape = await create_sku(client, admin)
    player = await device_login(client)
    payload = {"canonical_id": player["user"]["canonical_id"], "reason": "twitch drop"}
    for _ in range(2):  # the same provider id enqueued twice: one job
        async with runtime.db.unit_of_work() as uow:
            await enqueue(
                uow, "grant_entitlement", {**payload, "sku_id": gems["sku_id"]}, key="twitch:drop-1"
            )
            await enqueue(
                uow, "grant_entitlement", {**payload, "sku_id": cape["sku_id"]}, key="twitch:drop-2"
            )

    async def granted() -> bool:
        return (
            await owned(client, player, cape["sku_id"])
            and await balance(client, player, gems["sku_id"]) == 3
        )

    await _wait_for(granted)
    entitlement_id = await scalar(
        runtime, sa.select(Entitlement.entitlement_id).where(Entitlement.sku_id == cape["sku_id"])
    )
    async with runtime.db.unit_of_work() as uow:
        await enqueue(
            uow,
            "revoke_entitlement",
            {"entitlement_id": entitlement_id, "reason": "ban"},
            key=f"ban:{entitlement_id}",
        )

    async def revoked() -> bool:
        return not await owned(client, player, cape["sku_id"])

    await _wait_for(revoked)
    assert await balance(client, player, gems["sku_id"]) == 3
    reason = await scalar(
        runtime,
        sa.select(Entitlement.revocation_reason).where(
            Entitlement.entitlement_id == entitlement_id
        ),
    )
    assert reason == "ban"


async def test_merge_moves_entitlements_orders_and_balances(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    cape = await create_sku(client, admin)
    gems = await create_sku(client, admin, type="consumable", quantity=10)
    old = await steam_player(client, emulators)
    order = await buy(client, emulators, old, cape["sku_id"])
    await buy(client, emulators, old, gems["sku_id"])
    assert (await spend(client, old, gems["sku_id"], 4)).status_code == 200

    guest = await device_login(client)
    await client.post(
        f"/api/v1/admin/users/{guest['user']['canonical_id']}/grants",
        json={"sku_id": gems["sku_id"], "quantity": 1, "reason": "welcome"},
        headers=auth(admin),
    )
    assert await owned(client, guest, cape["sku_id"]) is False  # cached "not owned"
    ticket, _ = await steam_ticket(emulators, old["steamid"])
    conflict = await client.post(
        "/api/v1/auth/links/steam", json={"ticket": ticket}, headers=auth(guest)
    )
    assert conflict.status_code == 409
    merged = await client.post(
        "/api/v1/auth/merge",
        json={"merge_token": conflict.json()["merge_token"]},
        headers=auth(guest),
    )
    assert merged.status_code == 200, merged.text

    assert await owned(client, guest, cape["sku_id"]) is True
    assert await balance(client, guest, gems["sku_id"]) == 16
    mine = await client.get(f"/api/v1/commerce/orders/{order['order_id']}", headers=auth(guest))
    assert mine.status_code == 200
    ids = {}
    for who in (old, guest):
        ids[who["user"]["canonical_id"]] = await scalar(
            runtime, sa.select(User.id).where(User.canonical_id == who["user"]["canonical_id"])
        )
    source, target = ids[old["user"]["canonical_id"]], ids[guest["user"]["canonical_id"]]
    assert await count(runtime, Order, Order.user_id == source) == 0
    assert await ledger_consistent(runtime, source, gems["sku_id"]) == (0, 0, 0)
    assert await ledger_consistent(runtime, target, gems["sku_id"]) == (16, 16, 16)
