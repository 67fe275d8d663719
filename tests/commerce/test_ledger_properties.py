"""Property: whatever sequence of purchases, spends and refunds a wallet sees, its balance is
the sum of its ledger entries, every entry's `balance_after` is the running sum, and a
balance below zero is only ever explained by a clawback."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playerplatform.commerce import orders, refunds, wallet
from playerplatform.commerce.models import Balance, LedgerEntry, Order
from playerplatform.kit.db import utcnow
from playerplatform.kit.errors import AppError
from playerplatform.runtime import Runtime
from playerplatform.users import service as users
from tests.support.commerce import create_sku
from tests.support.db import rows, scalar

operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(1, 3)),
        st.tuples(st.just("spend"), st.integers(1, 40)),
        st.tuples(st.just("refund"), st.integers(0, 5)),
    ),
    max_size=14,
)
_sku: dict[str, Any] = {}


async def _gems(client: httpx.AsyncClient, admin: dict[str, Any]) -> str:
    if "id" not in _sku:
        _sku["id"] = (await create_sku(client, admin, type="consumable", quantity=10))["sku_id"]
    return str(_sku["id"])


async def _buy(runtime: Runtime, user_id: uuid.UUID, sku_id: str, quantity: int) -> uuid.UUID:
    now = utcnow()
    order = Order(
        id=uuid.uuid4(),
        order_id=wallet.new_public_id("o"),
        user_id=user_id,
        provider="steam",
        provider_order_id=str(secrets.randbits(62)),
        sku_id=sku_id,
        quantity=quantity,
        items=[{"sku_id": sku_id, "quantity": quantity, "itemid": "1", "status": "pending"}],
        status="pending",
        created_at=now,
        updated_at=now,
    )
    async with runtime.db.unit_of_work() as uow:
        uow.session.add(order)
        await uow.session.flush()
        await orders.grant_order(
            uow, runtime, order, receipt={}, transid=None, provider_status="Succeeded"
        )
    return order.id


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=operations)
async def test_balance_is_the_sum_of_entries_and_debt_only_comes_from_clawbacks(
    client: httpx.AsyncClient, runtime: Runtime, admin: dict[str, Any], ops: list[Any]
) -> None:
    sku_id = await _gems(client, admin)
    async with runtime.db.unit_of_work() as uow:
        user_id = (await users.create_user(uow)).id
    bought: list[uuid.UUID] = []
    for op in ops:
        match op:
            case ("buy", quantity):
                bought.append(await _buy(runtime, user_id, sku_id, quantity))
            case ("spend", quantity):
                try:
                    async with runtime.db.unit_of_work() as uow:
                        await wallet.spend(
                            uow,
                            runtime.settings,
                            user_id=user_id,
                            sku_id=sku_id,
                            quantity=quantity,
                            reason="p",
                        )
                except AppError as exc:
                    assert exc.code in ("insufficient_funds", "wallet_in_debt")
            case ("refund", pick):
                if bought:
                    async with runtime.db.unit_of_work() as uow:
                        order = await uow.session.get(Order, bought[pick % len(bought)])
                        assert order is not None
                        await refunds.reverse_lines(
                            uow, runtime, order, lines=None, provider_status="Refunded"
                        )

    entries = await rows(
        runtime,
        sa.select(LedgerEntry.change, LedgerEntry.balance_after, LedgerEntry.change_type)
        .where(LedgerEntry.user_id == user_id)
        .order_by(LedgerEntry.id),
    )
    running = 0
    for change, balance_after, change_type in entries:
        previous, running = running, running + change
        assert balance_after == running
        if running < 0 and running < previous:  # went (further) below zero
            assert change_type == "clawback"
        if change_type == "spend":
            assert running >= 0
    stored = await scalar(runtime, sa.select(Balance.balance).where(Balance.user_id == user_id))
    assert int(stored or 0) == running
