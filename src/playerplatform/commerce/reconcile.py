"""Refund and chargeback reconciliation: Steam and Epic push nothing, so we poll.

- Steam: `GetReport` (type SETTLEMENT) from a stored cursor, the latest `time` seen. The
  first run starts at the oldest order not yet settled (or now, on an install without
  orders). Whether `time` is inclusive is unverified, so pages overlap by design and every
  report is applied idempotently: each reversal becomes one `revoke_entitlement` job keyed
  by (orderid, status, refunded items), and each order line is reversed at most once.
- Epic: the clawback feed from its own cursor, one job per clawed-back entitlement id.

The scheduler runs `poll_and_enqueue` every minute (a `revoke_entitlement` job of kind
`reconcile`); `playerplatform commerce reconcile` runs it now and applies what it found at
once, printing both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from playerplatform.commerce import repository
from playerplatform.commerce.orders import REVERSALS
from playerplatform.commerce.refunds import reverse_lines
from playerplatform.jobs import parked
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.edge import text_problem

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

STEAM_CURSOR = "steam_report"
EPIC_CURSOR = "epic_clawbacks"
QUEUE = "revoke_entitlement"
MAX_REPORT_RESULTS = 50_000  # GetReport's documented maximum
PARKED_SOURCE = "commerce.reconcile"
UNSTORABLE = "the reported order id is not text the database can hold"


@dataclass(frozen=True, slots=True)
class Reversal:
    """A refund-like change a provider reported for one of its order ids."""

    provider: str
    provider_order_id: str
    status: str
    itemids: tuple[str, ...] | None  # PartialRefund: the refunded items; None: everything

    @property
    def key(self) -> str:
        items = ",".join(sorted(self.itemids)) if self.itemids is not None else "*"
        key = f"{self.provider}:{self.provider_order_id}:{self.status}:{items}"
        return key if len(key) <= 255 else key[:190] + hashlib.sha256(key.encode()).hexdigest()

    def payload(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "provider_order_id": self.provider_order_id,
            "status": self.status,
            "itemids": list(self.itemids) if self.itemids is not None else None,
        }

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Reversal:
        itemids = payload.get("itemids")
        return cls(
            provider=str(payload["provider"]),
            provider_order_id=str(payload["provider_order_id"]),
            status=str(payload["status"]),
            itemids=tuple(str(i) for i in itemids) if isinstance(itemids, list) else None,
        )


@dataclass
class Report:
    found: list[Reversal] = field(default_factory=list)
    ours: list[Reversal] = field(default_factory=list)
    enqueued: int = 0
    cursors: dict[str, str] = field(default_factory=dict)
    done: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"cursor {name}: {value}" for name, value in sorted(self.cursors.items())]
        out += [f"error: {e}" for e in self.errors]
        out.append(f"found {len(self.found)} reversal(s), {len(self.ours)} on our orders")
        for r in self.found:
            items = f" items {','.join(r.itemids)}" if r.itemids is not None else ""
            mine = "" if r in self.ours else " (not ours, ignored)"
            out.append(f"  {r.provider} {r.provider_order_id}: {r.status}{items}{mine}")
        out.append(f"enqueued {self.enqueued} new revoke_entitlement job(s)")
        for d in self.done:
            out.append(f"  did {d}")
        return out


def _steam_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epic_time(value: dt.datetime) -> str:
    # Epic's own format (milliseconds), so cursors compare with its dates as strings.
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _start(uow: UnitOfWork, provider: str, name: str) -> str:
    stored = await repository.get_cursor(uow, name)
    if stored:
        return stored
    oldest = await repository.oldest_open_order_time(uow, provider) or utcnow()
    return _steam_time(oldest) if provider == "steam" else _epic_time(oldest)


async def _poll_steam(rt: Runtime, since: str, report: Report) -> str:
    cursor, size = since, rt.settings.commerce_report_page_size
    for _page in range(rt.settings.commerce_report_max_pages):
        txns = await rt.steam.get_report(since=cursor, max_results=size)
        for txn in txns:
            if txn.status in REVERSALS:
                report.found.append(Reversal("steam", txn.orderid, txn.status, None))
            elif txn.status == "PartialRefund":
                refunded = tuple(sorted(i.itemid for i in txn.items if i.itemstatus in REVERSALS))
                report.found.append(Reversal("steam", txn.orderid, txn.status, refunded))
        newest = max((t.time for t in txns if t.time), default=cursor)
        if newest > cursor:
            cursor = newest
        elif len(txns) >= size and size < MAX_REPORT_RESULTS:
            # A full page that does not move the cursor: more orders share this second than
            # a page holds. Read a bigger page from the same time rather than stall on it.
            size = min(size * 4, MAX_REPORT_RESULTS)
        else:
            break  # everything at the cursor's second has been seen
    report.found = list(dict.fromkeys(report.found))  # pages overlap at their boundary
    return cursor


async def _poll_epic(rt: Runtime, since: str, report: Report) -> str:
    clawbacks = await rt.epic.clawbacks(since=since, count=rt.settings.commerce_report_page_size)
    for c in clawbacks:
        report.found.append(Reversal("epic", c.entitlement_id, "Clawback", None))
    return max((c.clawback_date for c in clawbacks), default=since)


async def poll(rt: Runtime) -> Report:
    """Ask each configured provider for reversals since its cursor (network only)."""
    report = Report()
    async with rt.db.unit_of_work(write=False) as uow:
        steam_since = await _start(uow, "steam", STEAM_CURSOR)
        epic_since = await _start(uow, "epic", EPIC_CURSOR)
    settings = rt.settings
    if settings.steam_app_id is not None and settings.steam_publisher_key is not None:
        try:
            report.cursors[STEAM_CURSOR] = await _poll_steam(rt, steam_since, report)
        except Exception as exc:  # one provider failing must not stop the other
            report.errors.append(f"steam: {exc}")
    if settings.epic_client_id and settings.epic_client_secret and settings.epic_sandbox_id:
        try:
            report.cursors[EPIC_CURSOR] = await _poll_epic(rt, epic_since, report)
        except Exception as exc:
            report.errors.append(f"epic: {exc}")
    return report


async def record(uow: UnitOfWork, report: Report) -> None:
    """Enqueue one revoke job per reversal of ours (keyed: a repeat is a no-op) and move
    the cursors, in one transaction. A reported id no order of ours can have (text the
    database cannot hold) is parked, not allowed to hold the cursor back forever."""
    refused = [r for r in report.found if not _storable(r)]
    if refused:
        report.found = [r for r in report.found if _storable(r)]
        report.errors += [f"parked unreadable {r.provider} order id" for r in refused]
        rejected = [parked.Rejected(r.key, r.payload(), UNSTORABLE) for r in refused]
        for provider in ("steam", "epic"):
            mine = [x for x, r in zip(rejected, refused, strict=True) if r.provider == provider]
            await parked.park(uow, PARKED_SOURCE, provider, mine)
    for provider in ("steam", "epic"):
        ids = [r.provider_order_id for r in report.found if r.provider == provider]
        known = await repository.orders_by_provider_ids(uow, provider, ids)
        report.ours += [
            r for r in report.found if r.provider == provider and r.provider_order_id in known
        ]
    for reversal in report.ours:
        if await enqueue(uow, QUEUE, reversal.payload(), key=reversal.key) is not None:
            report.enqueued += 1
    for name, value in report.cursors.items():
        await repository.set_cursor(uow, name, value)


def _storable(reversal: Reversal) -> bool:
    texts = (reversal.provider_order_id, reversal.status, *(reversal.itemids or ()))
    return all(text_problem(text) is None for text in texts)


async def apply(uow: UnitOfWork, rt: Runtime, reversal: Reversal) -> dict[str, Any]:
    """Reverse what the reported order granted (idempotent)."""
    order = await repository.get_order_by_provider(
        uow, reversal.provider, reversal.provider_order_id, lock=True
    )
    if order is None:
        return {"provider_order_id": reversal.provider_order_id, "skipped": "not our order"}
    lines = None
    if reversal.itemids is not None:
        lines = [n for n, i in enumerate(order.items) if i.get("itemid") in reversal.itemids]
    return await reverse_lines(uow, rt, order, lines=lines, provider_status=reversal.status)


async def reconcile_now(rt: Runtime) -> Report:
    """Poll, record, and apply every reversal found right away (the CLI)."""
    report = await poll(rt)
    async with rt.db.unit_of_work() as uow:
        await record(uow, report)
    for reversal in report.ours:
        try:
            async with rt.db.unit_of_work() as uow:
                report.done.append(await apply(uow, rt, reversal))
        except Exception as exc:  # one order failing must not stop the others
            report.errors.append(f"{reversal.key}: {parked.describe(exc)}")
    return report
