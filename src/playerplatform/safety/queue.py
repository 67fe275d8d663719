"""The one moderation queue: UGC reviews (items waiting for a moderator or flagged), report
groups, appeals (against sanctions and against content) and feedback, each one row with a
type, a priority, an age and an assignee.

The safety domain's own work (report groups, sanction appeals, feedback) enters the queue
when it is created and leaves it when it is decided. Work the UGC domain holds (its review
queue and its appeals) is read through the UGC service and mirrored into the queue whenever
the queue is listed, so the queue never needs UGC's tables and UGC never needs the queue.

Taking an item is one conditional update (`assignee` is set only when nobody else holds
it), so two moderators taking the same item at once cannot both get it: one gets 409
`assigned`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from playerplatform.auth.deps import Principal
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, NotFound
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.safety import repository
from playerplatform.safety.ids import new_public_id
from playerplatform.safety.models import QueueItem
from playerplatform.safety.schemas import QueueCursor, QueueItemDetail, QueueItemOut
from playerplatform.ugc import preview as ugc_preview
from playerplatform.ugc import work as ugc_work

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

MIRROR_LIMIT = 500  # UGC items and appeals mirrored per listing
UGC_REVIEW_PRIORITY = {"flagged": 5, "pending_review": 1}
APPEAL_PRIORITY = 3
FEEDBACK_PRIORITY = {"bug": 1}


class AlreadyAssigned(AppError):
    status, code, title = 409, "assigned", "Another moderator holds this item"


async def enqueue(
    uow: UnitOfWork, type_: str, ref_id: str, *, priority: int, subject: dict[str, Any]
) -> None:
    """Put (or keep, with a new priority and subject) `ref_id`'s work in the queue."""
    now = utcnow()
    await repository.upsert_queue_item(
        uow,
        QueueItem(
            id=new_uuid(),
            public_id=new_public_id("q"),
            type=type_,
            ref_id=ref_id,
            status="open",
            priority=priority,
            assignee=None,
            subject=subject,
            created_at=now,
            updated_at=now,
            closed_at=None,
        ),
    )


async def check_not_held(uow: UnitOfWork, type_: str, ref_id: str, moderator: Principal) -> None:
    """Refuse (409 `assigned`) to decide work another moderator has taken; work nobody holds
    may be decided by any moderator."""
    holder = await repository.queue_assignee(uow, type_, ref_id)
    if holder is not None and holder != moderator.subject:
        raise AlreadyAssigned("Another moderator is working on this item.")


async def done(uow: UnitOfWork, type_: str, ref_id: str) -> None:
    """The work behind `ref_id` was decided: it leaves the queue."""
    await repository.close_queue_item(uow, type_, ref_id, utcnow())


async def _mirror_ugc(uow: UnitOfWork) -> None:
    """Bring UGC's open work into the queue (new, or changed: more reports, a new status) and
    close what UGC no longer holds open."""
    reviews = await ugc_work.open_work(uow, limit=MIRROR_LIMIT)
    open_reviews = await repository.open_queue_subjects(uow, "ugc_review")
    open_appeals = await repository.open_queue_subjects(uow, "appeal")
    seen_reviews: set[str] = set()
    seen_appeals: set[str] = set()
    for work in reviews:
        if work.kind == "appeal":
            seen_appeals.add(work.ref_id)
            type_, known, priority = "appeal", open_appeals, APPEAL_PRIORITY
        else:
            seen_reviews.add(work.ref_id)
            type_, known = "ugc_review", open_reviews
            priority = UGC_REVIEW_PRIORITY.get(work.subject.get("status", ""), 1)
        if known.get(work.ref_id) != work.subject:
            await enqueue(uow, type_, work.ref_id, priority=priority, subject=work.subject)
    if len(reviews) < MIRROR_LIMIT:
        for ref in open_reviews.keys() - seen_reviews:
            await done(uow, "ugc_review", ref)
        for ref in open_appeals.keys() - seen_appeals:
            if ugc_work.is_appeal_id(ref):
                await done(uow, "appeal", ref)


def _out(row: QueueItem, now: dt.datetime) -> QueueItemOut:
    return QueueItemOut(
        item_id=row.public_id,
        type=row.type,
        status=row.status,
        priority=row.priority,
        age_seconds=max(0, int((now - row.created_at).total_seconds())),
        assignee=row.assignee,
        subject=row.subject,
    )


async def list_queue(
    uow: UnitOfWork,
    runtime: Runtime,
    moderator: Principal,
    *,
    type_: str | None,
    status: str,
    assignee: str | None,
    older_than: int | None,
    page: PageParams,
) -> Page[QueueItemOut]:
    """The queue, highest priority first then oldest; `assignee` is `me`, `none` or a
    moderator's id; `older_than` in seconds."""
    if type_ in (None, "ugc_review", "appeal") and status == "open":
        # A listing is a read (it may run on a replica); the mirror writes on its own.
        async with runtime.db.unit_of_work() as writer:
            await _mirror_ugc(writer)
    now = utcnow()
    after = decode_cursor(page.cursor, QueueCursor)
    rows = await repository.list_queue(
        uow,
        type_=type_,
        status=status,
        assignee=moderator.subject if assignee == "me" else assignee,
        unassigned=assignee == "none",
        created_before=now - dt.timedelta(seconds=older_than) if older_than else None,
        after=(after.p, after.t, after.i) if after else None,
        limit=page.limit + 1,
    )
    return paginate(
        rows,
        page.limit,
        lambda r: QueueCursor(p=r.priority, t=r.created_at, i=r.public_id),
        lambda r: _out(r, now),
    )


async def take(uow: UnitOfWork, moderator: Principal, item_id: str) -> QueueItemOut:
    """Assign the item to the caller; taking it again is fine, someone else's is 409."""
    if await repository.take_queue_item(uow, item_id, moderator.subject) == 0:
        if await repository.get_queue_item(uow, item_id) is None:
            raise NotFound("No such queue item.")
        raise AlreadyAssigned("Another moderator is working on this item.")
    row = await repository.get_queue_item(uow, item_id)
    assert row is not None
    await uow.session.refresh(row)
    return _out(row, utcnow())


def _ugc_under_review(row: QueueItem) -> str | None:
    if row.type == "ugc_review":
        return row.ref_id
    target = row.subject.get("target")
    if isinstance(target, dict) and target.get("type") == "ugc":
        return str(target.get("id"))
    return None


async def detail(uow: UnitOfWork, runtime: Runtime, item_id: str) -> QueueItemDetail:
    """One item, with a preview of the UGC it is about (an image, a text, an archive's file
    list): what a moderator looks at before deciding."""
    row = await repository.get_queue_item(uow, item_id)
    if row is None:
        raise NotFound("No such queue item.")
    ugc_id = _ugc_under_review(row)
    shown = await ugc_preview.preview(runtime, uow, ugc_id) if ugc_id else None
    return QueueItemDetail(**_out(row, utcnow()).model_dump(), preview=shown)
