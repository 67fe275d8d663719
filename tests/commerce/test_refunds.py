"""Refunds and chargebacks: reported by Steam's GetReport, or made by an admin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from playerplatform.audit.models import AuditLog
from playerplatform.commerce.models import CommerceCursor, Entitlement, LedgerEntry, Order
from playerplatform.commerce.reconcile import STEAM_CURSOR, reconcile_now
from playerplatform.jobs.models import Job
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.commerce import (
    balance,
    buy,
    create_sku,
    ledger_consistent,
    overlay,
    owned,
    spend,
    start_order,
    steam_player,
    verify,
)
from tests.support.db import count, rows, scalar
from tests.support.platforms import steam_ticket
from tests.support.players import auth


async def _user_id(runtime: Runtime, player: dict[str, Any]) -> Any:
    return await scalar(
        runtime, sa.select(User.id).where(User.canonical_id == player["user"]["canonical_id"])
    )


async def _rewind_steam_cursor(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            sa.delete(CommerceCursor).where(CommerceCursor.name == STEAM_CURSOR)
        )


async def test_refund_after_spend_leaves_debt_and_blocks_spending(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=100)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, gems["sku_id"])
    assert (await spend(client, player, gems["sku_id"], 70)).status_code == 200

    await overlay(emulators, order["provider_order_id"], "refund")
    report = await reconcile_now(runtime)
    assert any(r.provider_order_id == order["provider_order_id"] for r in report.ours)

    assert await balance(client, player, gems["sku_id"]) == -70
    wallet = await client.get("/api/v1/commerce/wallet", headers=auth(player))
    assert wallet.json()["in_debt"] is True
    blocked = await spend(client, player, gems["sku_id"], 1)
    assert blocked.status_code == 409 and blocked.json()["code"] == "wallet_in_debt"
    mine = await client.get(f"/api/v1/commerce/orders/{order['order_id']}", headers=auth(player))
    assert mine.json()["status"] == "refunded"
    ledger = await client.get(
        "/api/v1/commerce/wallet/ledger", params={"sku_id": gems["sku_id"]}, headers=auth(player)
    )
    newest = ledger.json()["items"][0]
    assert (newest["change_type"], newest["change"], newest["balance_after"]) == (
        "clawback",
        -100,
        -70,
    )

    # Repaying the debt (here: a make-good grant) lets the player spend again.
    repaid = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": gems["sku_id"], "quantity": 1, "reason": "make-good"},
        headers=auth(admin),
    )
    assert repaid.status_code == 200
    assert await balance(client, player, gems["sku_id"]) == 30
    assert (await spend(client, player, gems["sku_id"], 30)).status_code == 200
    stored, total, newest_after = await ledger_consistent(
        runtime, await _user_id(runtime, player), gems["sku_id"]
    )
    assert stored == total == newest_after == 0


@pytest.mark.parametrize(
    "status", ["Refunded", "Chargedback", "RefundedSuspectedFraud", "RefundedFriendlyFraud"]
)
async def test_every_reversal_status_revokes_the_entitlement(
    status: str,
    client: httpx.AsyncClient,
    emulators: dict[str, str],
    runtime: Runtime,
    admin: dict[str, Any],
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, sku["sku_id"])
    assert await owned(client, player, sku["sku_id"]) is True
    await overlay(emulators, order["provider_order_id"], "refund", status=status)
    await reconcile_now(runtime)
    assert await owned(client, player, sku["sku_id"]) is False
    listed = await client.get(
        "/api/v1/commerce/entitlements", params={"status": "revoked"}, headers=auth(player)
    )
    [entitlement] = listed.json()["items"]
    assert entitlement["revocation_reason"] == "refund"
    stored = await scalar(
        runtime, sa.select(Order.provider_status).where(Order.order_id == order["order_id"])
    )
    assert stored == status


async def test_partial_refund_revokes_only_the_refunded_items(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sword = await create_sku(client, admin, name="Sword")
    shield = await create_sku(client, admin, name="Shield")
    gems = await create_sku(client, admin, type="consumable", quantity=10)
    player = await steam_player(client, emulators)
    response = await client.post(
        "/api/v1/commerce/steam/orders",
        json={
            "items": [
                {"sku_id": sword["sku_id"]},
                {"sku_id": shield["sku_id"]},
                {"sku_id": gems["sku_id"], "quantity": 2},
            ]
        },
        headers=auth(player),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["amount"] == 199 * 4
    await overlay(emulators, order["provider_order_id"], "approve")
    verified = await client.post(
        "/api/v1/commerce/verify-receipt",
        json={"provider": "steam", "order_id": order["order_id"]},
        headers=auth(player),
    )
    assert verified.status_code == 200, verified.text
    assert await balance(client, player, gems["sku_id"]) == 20

    refunded = [shield["metadata"]["steam"]["itemid"], gems["metadata"]["steam"]["itemid"]]
    await overlay(emulators, order["provider_order_id"], "refund", itemids=refunded)
    await reconcile_now(runtime)
    assert await owned(client, player, sword["sku_id"]) is True
    assert await owned(client, player, shield["sku_id"]) is False
    assert await balance(client, player, gems["sku_id"]) == 0
    mine = await client.get(f"/api/v1/commerce/orders/{order['order_id']}", headers=auth(player))
    assert mine.json()["status"] == "verified"
    assert mine.json()["provider_status"] == "PartialRefund"
    assert [i["status"] for i in mine.json()["items"]] == ["granted", "reversed", "reversed"]


async def test_a_report_page_seen_twice_changes_nothing(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=10)
    cape = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    first = await buy(client, emulators, player, gems["sku_id"])
    second = await buy(client, emulators, player, cape["sku_id"])
    await overlay(emulators, first["provider_order_id"], "refund")
    await overlay(emulators, second["provider_order_id"], "refund", status="Chargedback")
    await reconcile_now(runtime)

    def snapshot() -> Any:
        return (
            count(runtime, LedgerEntry),
            count(runtime, Entitlement, Entitlement.status == "revoked"),
            # Reversal jobs only: the scheduler adds a `reconcile` job every minute.
            count(runtime, Job, Job.queue == "revoke_entitlement", Job.key.like("steam:%")),
        )

    before = [await c for c in snapshot()]
    await _rewind_steam_cursor(runtime)  # the next poll reads the same orders again
    report = await reconcile_now(runtime)
    ids = {r.provider_order_id for r in report.ours}
    assert {first["provider_order_id"], second["provider_order_id"]} <= ids
    assert report.enqueued == 0
    assert [await c for c in snapshot()] == before
    assert await balance(client, player, gems["sku_id"]) == 0


async def test_scheduled_reconciliation_revokes_through_jobs(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    import asyncio

    from playerplatform.jobs.service import enqueue

    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, sku["sku_id"])
    await overlay(emulators, order["provider_order_id"], "refund")
    async with runtime.db.unit_of_work() as uow:
        # What the `commerce_reconcile` schedule enqueues every minute.
        schedule = runtime.wiring.jobs.schedules["commerce_reconcile"]
        await enqueue(uow, schedule.queue, schedule.payload(None))
    for _ in range(100):
        if not await owned(client, player, sku["sku_id"]):
            break
        await asyncio.sleep(0.1)
    assert await owned(client, player, sku["sku_id"]) is False
    key = f"steam:{order['provider_order_id']}:Refunded:*"
    assert await count(runtime, Job, Job.key == key) == 1


async def test_admin_refund_goes_through_steam_and_the_same_path(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=10)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, gems["sku_id"])
    forbidden = await client.post(
        f"/api/v1/admin/orders/{order['order_id']}/refund",
        json={"reason": "x"},
        headers=auth(player),
    )
    assert forbidden.status_code == 403
    response = await client.post(
        f"/api/v1/admin/orders/{order['order_id']}/refund",
        json={"reason": "player asked nicely"},
        headers=auth(admin),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "refunded"
    assert await balance(client, player, gems["sku_id"]) == 0
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        steam_side = (await http.get(f"/emulator/microtxn/{order['provider_order_id']}")).json()
    assert steam_side["status"] == "Refunded"
    again = await client.post(
        f"/api/v1/admin/orders/{order['order_id']}/refund",
        json={"reason": "twice"},
        headers=auth(admin),
    )
    assert again.status_code == 409 and again.json()["code"] == "order_not_refundable"
    # The report that follows finds the order already reversed.
    await reconcile_now(runtime)
    assert await balance(client, player, gems["sku_id"]) == 0
    audits = await rows(
        runtime,
        sa.select(AuditLog.action).where(
            AuditLog.action == "commerce.order_refund", AuditLog.resource_id == order["order_id"]
        ),
    )
    assert len(audits) == 1


async def test_reconcile_command_prints_what_it_found_and_did(
    client: httpx.AsyncClient,
    emulators: dict[str, str],
    runtime: Runtime,
    settings: Settings,
    admin: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playerplatform.cli import main

    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, sku["sku_id"])
    await overlay(emulators, order["provider_order_id"], "refund", status="Chargedback")
    env = {
        "PP_DATABASE_URL": settings.database_url,
        "PP_REDIS_URL": settings.redis_url or "",
        "PP_REDIS_CLUSTER": str(settings.redis_cluster).lower(),
        "PP_REDIS_PREFIX": settings.redis_prefix,
        "PP_STORAGE_URL": settings.storage_url,
        "PP_STEAM_APP_ID": str(settings.steam_app_id),
        "PP_STEAM_PUBLISHER_KEY": settings.steam_publisher_key.get_secret_value()
        if settings.steam_publisher_key
        else "",
        "PP_STEAM_API_URL": settings.steam_api_url,
        "PP_EPIC_API_URL": settings.epic_api_url,
        "PP_EPIC_CLIENT_ID": settings.epic_client_id or "",
        "PP_EPIC_CLIENT_SECRET": settings.epic_client_secret.get_secret_value()
        if settings.epic_client_secret
        else "",
        "PP_EPIC_SANDBOX_ID": settings.epic_sandbox_id or "",
        "PP_EPIC_DEPLOYMENT_ID": settings.epic_deployment_id or "",
        "PP_LOG_JSON": "true",
    }
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    import asyncio

    result = await asyncio.to_thread(CliRunner().invoke, main, ["commerce", "reconcile"])
    assert result.exit_code == 0, result.output
    assert f"steam {order['provider_order_id']}: Chargedback" in result.output
    assert "did {'order_id': '" + order["order_id"] in result.output
    # The command runs in a process of its own (in the embedded shape its hot store is not
    # the server's, whose cached answer expires on its own): check the durable state.
    revoked = await scalar(
        runtime,
        sa.select(Entitlement.status)
        .join(Order, Order.id == Entitlement.order_id)
        .where(Order.order_id == order["order_id"]),
    )
    assert revoked == "revoked"


async def test_reconciliation_reads_past_small_pages_and_shared_seconds(
    client: httpx.AsyncClient,
    emulators: dict[str, str],
    make_settings: Any,
    admin: dict[str, Any],
) -> None:
    skus = [await create_sku(client, admin) for _ in range(3)]
    player = await steam_player(client, emulators)
    orders = [await buy(client, emulators, player, sku["sku_id"]) for sku in skus]
    for order in orders:  # three reversals, most likely within the same second
        await overlay(emulators, order["provider_order_id"], "refund")
    small_pages = Runtime.build(make_settings(commerce_report_page_size=1))
    try:
        report = await reconcile_now(small_pages)
    finally:
        await small_pages.close()
    found = {r.provider_order_id for r in report.ours}
    assert {o["provider_order_id"] for o in orders} <= found
    listed = await client.get(
        "/api/v1/commerce/entitlements", params={"status": "active"}, headers=auth(player)
    )
    assert listed.json()["items"] == []


async def test_debt_follows_the_steam_account_to_a_fresh_player_account(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    gems = await create_sku(client, admin, type="consumable", quantity=100)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, gems["sku_id"])
    assert (await spend(client, player, gems["sku_id"], 70)).status_code == 200
    await overlay(emulators, order["provider_order_id"], "refund")
    await reconcile_now(runtime)
    assert await balance(client, player, gems["sku_id"]) == -70

    # The dodge: keep the old account on a device, unlink Steam, sign in with it afresh.
    device = await client.post(
        "/api/v1/auth/links/device",
        json={"device_id": f"debtor-{player['steamid']}"},
        headers=auth(player),
    )
    assert device.status_code == 200, device.text
    unlinked = await client.delete(
        f"/api/v1/auth/links/steam/{player['steamid']}", headers=auth(player)
    )
    assert unlinked.status_code == 200, unlinked.text
    ticket, _ = await steam_ticket(emulators, player["steamid"])
    fresh = (await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})).json()
    assert fresh["created"] is True

    refused = await client.post(
        "/api/v1/commerce/steam/orders", json={"sku_id": gems["sku_id"]}, headers=auth(fresh)
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "wallet_in_debt"

    # Once the debt is repaid, the Steam account buys again, on whichever account holds it.
    repaid = await client.post(
        f"/api/v1/admin/users/{player['user']['canonical_id']}/grants",
        json={"sku_id": gems["sku_id"], "quantity": 1, "reason": "make-good"},
        headers=auth(admin),
    )
    assert repaid.status_code == 200
    await buy(client, emulators, fresh, gems["sku_id"])
    assert await balance(client, fresh, gems["sku_id"]) == 100


async def test_the_cached_order_list_and_ledger_follow_every_change(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    """Both lists are cached views: a purchase, a spend and a refund found by a background
    reconciliation (a unit of work of its own, no request) each show on the next read."""
    gems = await create_sku(client, admin, type="consumable", quantity=100)
    player = await steam_player(client, emulators)

    async def orders() -> list[tuple[str, str]]:
        listed = await client.get("/api/v1/commerce/orders", headers=auth(player))
        return [(o["order_id"], o["status"]) for o in listed.json()["items"]]

    async def ledger() -> list[tuple[str, int]]:
        listed = await client.get(
            "/api/v1/commerce/wallet/ledger",
            params={"sku_id": gems["sku_id"]},
            headers=auth(player),
        )
        return [(e["change_type"], e["change"]) for e in listed.json()["items"]]

    assert await orders() == [] and await ledger() == []
    started = await start_order(client, player, gems["sku_id"])  # nothing granted yet
    assert await orders() == [(started["order_id"], "pending")]
    await overlay(emulators, started["provider_order_id"], "approve")
    assert (await verify(client, player, started["order_id"])).status_code == 200
    order = started
    assert await orders() == [(order["order_id"], "verified")]
    assert await ledger() == [("grant", 100)]
    assert (await spend(client, player, gems["sku_id"], 10)).status_code == 200
    assert await ledger() == [("spend", -10), ("grant", 100)]

    await overlay(emulators, order["provider_order_id"], "refund")
    await reconcile_now(runtime)
    assert await orders() == [(order["order_id"], "refunded")]
    assert await ledger() == [("clawback", -100), ("spend", -10), ("grant", 100)]
