"""A refund report holding an order id the database cannot take parks that id; the
reversals of real orders in the same report are still enqueued and the cursor moves on."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.commerce.models import CommerceCursor
from playerplatform.commerce.reconcile import (
    PARKED_SOURCE,
    QUEUE,
    STEAM_CURSOR,
    Report,
    Reversal,
    record,
)
from playerplatform.jobs import parked
from playerplatform.jobs.models import Job
from playerplatform.runtime import Runtime
from tests.support.commerce import buy, create_sku, steam_player
from tests.support.db import count, scalar


async def test_an_unreadable_order_id_is_parked_and_the_report_still_applies(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime, admin: dict[str, Any]
) -> None:
    sku = await create_sku(client, admin)
    player = await steam_player(client, emulators)
    order = await buy(client, emulators, player, sku["sku_id"])
    real = Reversal("steam", order["provider_order_id"], "Refunded", None)
    hostile = [
        Reversal("steam", "9\ud800", "Refunded", None),
        Reversal("steam", "9\x00" + order["provider_order_id"], "Refunded", None),
    ]
    report = Report(found=[hostile[0], real, hostile[1]], cursors={STEAM_CURSOR: "2999-01-01"})
    before = await scalar(
        runtime, sa.select(CommerceCursor.value).where(CommerceCursor.name == STEAM_CURSOR)
    )
    async with runtime.db.unit_of_work() as uow:
        await record(uow, report)

    assert report.ours == [real] and report.enqueued == 1
    assert await count(runtime, Job, Job.queue == QUEUE, Job.key == real.key) == 1
    stored = await scalar(
        runtime, sa.select(CommerceCursor.value).where(CommerceCursor.name == STEAM_CURSOR)
    )
    assert stored == "2999-01-01"
    async with runtime.db.unit_of_work() as uow:  # other tests read reports from where it was
        if before is None:
            await uow.session.execute(
                sa.delete(CommerceCursor).where(CommerceCursor.name == STEAM_CURSOR)
            )
        else:
            await uow.session.execute(
                sa.update(CommerceCursor)
                .where(CommerceCursor.name == STEAM_CURSOR)
                .values(value=before)
            )
    async with runtime.db.unit_of_work(write=False) as uow:
        items = await parked.open_items(uow, source=PARKED_SOURCE, limit=1000)
    keys = {item.key for item in items}
    assert {"steam:9\\ud800:Refunded:*", "steam:9\\x00" + real.key[6:]} <= keys
