"""Moderation of UGC: the review queue, decisions on items, players' reports and creators'
appeals. Every decision is audited (actor, item, creator as subject, before and after).

Item decisions: `approve` (pending_review or flagged -> published), `reject` (pending_review
-> removed), `remove` (anything not removed -> removed), `restore` (removed or flagged ->
published). Files the scanner found infected or unsafe are never approved or restored by a
decision; a granted appeal sends them to the scanner again instead.

Reports: one open report per player and item, weighted by the reporter (`reporters.py`); a
reported item stays shown, listed in the moderators' `flagged` queue, until a moderator
decides or its open reports weigh `PP_UGC_REPORT_THRESHOLD`: then it is `flagged` (hidden)
until a moderator decides. `approve` on a reported, still published item dismisses its
reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.audit import service as audit
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, Forbidden, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.scanner import DenyList
from playerplatform.ugc import notify, repository, scanning
from playerplatform.ugc.access import (
    DELETED,
    NOT_CLEARED,
    InvalidTransition,
    creator_canonical_id,
    forget_cached,
    is_creator,
    items_out,
    new_public_id,
    one_out,
    visible_item,
)
from playerplatform.ugc.models import Appeal, Ugc, UgcReport
from playerplatform.ugc.reporters import reporter_weight
from playerplatform.ugc.schemas import (
    AppealIn,
    AppealOut,
    ReportIn,
    ReportOut,
    TimeCursor,
    UgcOut,
)

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime

APPEALABLE = frozenset({"flagged", "removed"})


class AlreadyReported(AppError):
    status, code, title = 409, "already_reported", "You already reported this item"


class AppealExists(AppError):
    status, code, title = 409, "appeal_exists", "An appeal is already open"


class AlreadyDecided(AppError):
    status, code, title = 409, "already_decided", "Already decided"


def _cleared(runtime: Runtime, item: Ugc) -> bool:
    """Whether the item's file may ever be published: stored, not refused by a scan, and not
    on the deny list (checked again here for files scanned before a hash was added to it)."""
    return (
        item.scan_state not in NOT_CLEARED
        and item.object_key is not None
        and DenyList.from_settings(runtime.settings).by_hash(item.checksum) is None
    )


def _publish(item: Ugc) -> None:
    now = utcnow()
    item.status, item.status_reason, item.status_note = "published", None, None
    item.published_at = item.published_at or now
    item.updated_at = now


def _remove(item: Ugc, reason: str, notes: str | None) -> None:
    item.status, item.status_reason, item.status_note = "removed", reason, notes
    item.updated_at = utcnow()


async def review_queue(uow: UnitOfWork, status: str, page: PageParams) -> Page[UgcOut]:
    """Items waiting in `status` (pending_review or flagged), oldest first."""
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.moderation_queue(
        uow, status, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    by_id = {o.ugc_id: o for o in await items_out(uow, rows[: page.limit], privileged=True)}
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r.created_at, i=r.public_id),
        lambda r: by_id[r.public_id],
    )


async def decide_item(
    uow: UnitOfWork,
    runtime: Runtime,
    moderator: Principal,
    public_id: str,
    action: str,
    notes: str | None,
    client: ClientInfo,
) -> UgcOut:
    """Apply a moderator's decision to an item (see the module docstring)."""
    item = await repository.get_item(uow, public_id, for_update=True)
    if item is None:
        raise NotFound("No such item.")
    before = {"status": item.status, "reason": item.status_reason}
    cleared = _cleared(runtime, item)
    now = utcnow()
    reported = item.status == "published" and await repository.open_report_weight(uow, item.id) > 0
    if (
        action == "approve"
        and (item.status in ("pending_review", "flagged") or reported)
        and cleared
    ):
        _publish(item)
        await repository.close_open_reports(
            uow, item.id, status="dismissed", by=moderator.actor_id, notes=notes, now=now
        )
    elif action == "reject" and item.status == "pending_review":
        _remove(item, "rejected", notes)
    elif action == "remove" and item.status != "removed":
        _remove(item, "moderation", notes)
        await repository.close_open_reports(
            uow, item.id, status="upheld", by=moderator.actor_id, notes=notes, now=now
        )
    elif (
        action == "restore"
        and item.status in ("removed", "flagged")
        and item.status_reason != DELETED
        and cleared
    ):
        _publish(item)
    else:
        raise InvalidTransition(f"Cannot {action} an item that is {item.status}.")
    await uow.session.flush()
    await audit.record(
        uow,
        actor=moderator,
        action=f"ugc.{action}",
        resource_type="ugc",
        resource_id=item.public_id,
        subjects=[await creator_canonical_id(uow, item)],
        old=before,
        new={"status": item.status, "reason": item.status_reason, "notes": notes},
        client=client,
    )
    await notify.tell_creator(
        uow, runtime, item, "removed" if item.status == "removed" else "published"
    )
    forget_cached(uow, item.public_id)
    return await one_out(uow, item)


# Reports.


def _report_out(report: UgcReport, ugc_public_id: str, reporter: str | None) -> ReportOut:
    return ReportOut(
        report_id=report.public_id,
        ugc_id=ugc_public_id,
        reporter=reporter,
        reason=report.reason,
        description=report.description,
        status=report.status,
        weight=report.weight if reporter is not None else None,
        notes=report.notes,
        created_at=report.created_at,
        decided_at=report.decided_at,
    )


async def report_item(
    uow: UnitOfWork,
    runtime: Runtime,
    reporter: Principal,
    public_id: str,
    body: ReportIn,
    client: ClientInfo,
) -> ReportOut:
    """A player's report on a published item they can see. Counted against the reporter's
    and the client IP's report allowances (429), weighted by `reporters.reporter_weight`.
    The item stays shown, in the moderators' `flagged` queue, until a moderator decides or
    its open reports weigh `PP_UGC_REPORT_THRESHOLD`: then it is hidden (`flagged`)."""
    assert reporter.user_id is not None
    settings = runtime.settings
    item = await visible_item(uow, public_id, reporter)
    if item.status != "published":
        raise NotFound("No such item.")
    if is_creator(item, reporter):
        raise Forbidden("You cannot report your own item.")
    await runtime.limiter.count_action(
        "ugc_report:account", reporter.subject, settings.ugc_report_rate_account
    )
    await runtime.limiter.count_action("ugc_report:ip", client.ip, settings.ugc_report_rate_ip)
    report = UgcReport(
        id=new_uuid(),
        public_id=new_public_id("r"),
        ugc_id=item.id,
        reporter_id=reporter.user_id,
        reason=body.reason,
        description=body.description,
        status="open",
        weight=await reporter_weight(uow, settings, reporter.user_id),
        decided_by=None,
        notes=None,
        created_at=utcnow(),
        decided_at=None,
    )
    if not await repository.insert_report(uow, report):
        raise AlreadyReported("You already have an open report on this item.")
    threshold = settings.ugc_report_threshold
    weight = await repository.open_report_weight(uow, item.id)
    if weight >= threshold:
        item = await visible_item(uow, public_id, reporter, for_update=True)
        if item.status == "published":
            item.status, item.status_reason = "flagged", "reported"
            item.updated_at = utcnow()
            await uow.session.flush()
            await audit.record(
                uow,
                action="ugc.hidden_by_reports",
                resource_type="ugc",
                resource_id=item.public_id,
                subjects=[await creator_canonical_id(uow, item)],
                new={"status": "flagged", "threshold": threshold, "weight": round(weight, 4)},
            )
            forget_cached(uow, item.public_id)
    return _report_out(report, item.public_id, None)


async def list_reports(uow: UnitOfWork, status: str, page: PageParams) -> Page[ReportOut]:
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_reports(
        uow, status, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r[0].created_at, i=r[0].public_id),
        lambda r: _report_out(r[0], r[1], r[2]),
    )


async def decide_report(
    uow: UnitOfWork,
    runtime: Runtime,
    moderator: Principal,
    report_id: str,
    action: str,
    notes: str | None,
    client: ClientInfo,
) -> ReportOut:
    """Uphold (the item is removed, every open report on it upheld) or dismiss (the item is
    shown again when too few open reports remain to keep it hidden)."""
    report = await repository.get_report(uow, report_id)
    if report is None:
        raise NotFound("No such report.")
    if report.status != "open":
        raise AlreadyDecided("This report was already decided.")
    item = await repository.get_item_by_id(uow, report.ugc_id)
    assert item is not None
    item = await repository.get_item(uow, item.public_id, for_update=True)
    assert item is not None
    now = utcnow()
    report.status = "upheld" if action == "uphold" else "dismissed"
    report.decided_by, report.notes, report.decided_at = moderator.actor_id, notes, now
    await uow.session.flush()
    before = {"status": item.status}
    if action == "uphold":
        if item.status != "removed":
            _remove(item, "reported", notes)
            await notify.tell_creator(uow, runtime, item, "removed")
        await repository.close_open_reports(
            uow, item.id, status="upheld", by=moderator.actor_id, notes=notes, now=now
        )
    elif (
        item.status == "flagged"
        and item.status_reason == "reported"
        and await repository.open_report_weight(uow, item.id)
        < runtime.settings.ugc_report_threshold
    ):
        _publish(item)
    await uow.session.flush()
    await audit.record(
        uow,
        actor=moderator,
        action=f"ugc.report.{action}",
        resource_type="ugc_report",
        resource_id=report.public_id,
        subjects=[await creator_canonical_id(uow, item)],
        old=before,
        new={"status": item.status, "report": report.status, "ugc_id": item.public_id},
        client=client,
    )
    forget_cached(uow, item.public_id)
    return _report_out(report, item.public_id, None)


# Appeals.


def _appeal_out(appeal: Appeal, ugc_public_id: str, appellant: str) -> AppealOut:
    return AppealOut(
        appeal_id=appeal.public_id,
        ugc_id=ugc_public_id,
        appellant=appellant,
        message=appeal.message,
        status=appeal.status,
        notes=appeal.notes,
        created_at=appeal.created_at,
        decided_at=appeal.decided_at,
    )


async def appeal(uow: UnitOfWork, creator: Principal, public_id: str, body: AppealIn) -> AppealOut:
    """The creator's appeal against their flagged or removed item (one open at a time)."""
    assert creator.user_id is not None
    item = await visible_item(uow, public_id, creator)
    if not is_creator(item, creator):
        raise Forbidden("Only the item's creator can appeal.")
    if item.status not in APPEALABLE or item.status_reason == DELETED:
        raise InvalidTransition("Only flagged or removed items can be appealed.")
    row = Appeal(
        id=new_uuid(),
        public_id=new_public_id("a"),
        ugc_id=item.id,
        appellant_id=creator.user_id,
        message=body.message,
        status="open",
        decided_by=None,
        notes=None,
        created_at=utcnow(),
        decided_at=None,
    )
    if not await repository.insert_appeal(uow, row):
        raise AppealExists("This item already has an open appeal.")
    return _appeal_out(row, item.public_id, creator.subject)


async def list_appeals(uow: UnitOfWork, status: str, page: PageParams) -> Page[AppealOut]:
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_appeals(
        uow, status, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r[0].created_at, i=r[0].public_id),
        lambda r: _appeal_out(r[0], r[1], r[2]),
    )


async def decide_appeal(
    uow: UnitOfWork,
    runtime: Runtime,
    moderator: Principal,
    appeal_id: str,
    action: str,
    notes: str | None,
    client: ClientInfo,
) -> AppealOut:
    """Grant (the item is published again; a scanner verdict is re-checked by scanning the
    file again) or deny (the item stays as it is)."""
    row = await repository.get_appeal(uow, appeal_id)
    if row is None:
        raise NotFound("No such appeal.")
    if row.status != "open":
        raise AlreadyDecided("This appeal was already decided.")
    found = await repository.get_item_by_id(uow, row.ugc_id)
    assert found is not None
    item = await repository.get_item(uow, found.public_id, for_update=True)
    assert item is not None
    before = {"status": item.status, "reason": item.status_reason}
    now = utcnow()
    if action == "grant":
        if item.scan_state in ("infected", "unsafe"):
            await scanning.rescan(uow, runtime, item)
        elif item.status in APPEALABLE and _cleared(runtime, item):
            _publish(item)
            await repository.close_open_reports(
                uow, item.id, status="dismissed", by=moderator.actor_id, notes=notes, now=now
            )
        else:
            raise InvalidTransition("This item can no longer be restored.")
    row.status = "granted" if action == "grant" else "denied"
    row.decided_by, row.notes, row.decided_at = moderator.actor_id, notes, now
    await uow.session.flush()
    creator = await creator_canonical_id(uow, item)
    await audit.record(
        uow,
        actor=moderator,
        action=f"ugc.appeal.{action}",
        resource_type="appeal",
        resource_id=row.public_id,
        subjects=[creator],
        old=before,
        new={"status": item.status, "appeal": row.status, "ugc_id": item.public_id},
        client=client,
    )
    await notify.tell_creator(
        uow, runtime, item, "appeal_granted" if action == "grant" else "appeal_denied"
    )
    forget_cached(uow, item.public_id)
    return _appeal_out(row, item.public_id, creator)
