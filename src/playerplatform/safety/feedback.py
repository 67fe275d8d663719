"""Players' feedback (bug reports, suggestions, praise) and its triage by staff: status,
tags, notes, duplicates linked, a reply told to the player; search and export.

Up to 5 attachments are declared with the feedback and uploaded to signed URLs;
`POST /feedback/{id}/complete` sends them to the scanner (`attachments.py`). The feedback is
kept whatever the scanner finds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.safety import attachments, notices, queue, repository
from playerplatform.safety.ids import new_public_id
from playerplatform.safety.models import Feedback, FeedbackAttachment
from playerplatform.safety.schemas import (
    AttachmentOut,
    FeedbackCreated,
    FeedbackIn,
    FeedbackOut,
    FeedbackPatch,
    StaffFeedbackOut,
    TimeCursor,
)
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

FEEDBACK_PRIORITY = {"bug": 2}
CLOSED = frozenset({"resolved", "wont_fix", "duplicate"})


class AttachmentTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Attachment too large"


def _out(row: Feedback, files: list[FeedbackAttachment]) -> FeedbackOut:
    return FeedbackOut(
        feedback_id=row.public_id,
        category=row.category,
        message=row.message,
        build=row.build,
        platform=row.platform,
        context=row.context,
        status=row.status,
        reply=row.reply,
        attachments=[
            AttachmentOut(
                filename=f.filename,
                size=f.size,
                content_type=f.content_type,
                scan_state=f.scan_state,
            )
            for f in files
        ],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _staff_out(
    row: Feedback, files: list[FeedbackAttachment], canonical_id: str
) -> StaffFeedbackOut:
    return StaffFeedbackOut(
        **_out(row, files).model_dump(),
        canonical_id=canonical_id,
        tags=list(row.tags),
        notes=row.notes,
        duplicate_of=row.duplicate_of,
    )


async def send_feedback(
    uow: UnitOfWork, runtime: Runtime, player: Principal, body: FeedbackIn
) -> FeedbackCreated:
    """Record feedback and hand out the attachments' signed upload URLs."""
    assert player.user_id is not None
    limit = runtime.settings.feedback_attachment_max_bytes
    for index, a in enumerate(body.attachments):
        if a.size > limit:
            raise AttachmentTooLarge(
                f"An attachment is limited to {limit} bytes.",
                extra={"errors": [{"field": f"attachments.{index}.size", "message": "too large"}]},
            )
    now = utcnow()
    public_id = new_public_id("f")
    row = Feedback(
        id=new_uuid(),
        public_id=public_id,
        user_id=player.user_id,
        category=body.category,
        message=body.message,
        build=body.build,
        platform=body.platform,
        context=body.context,
        status="new",
        tags=[],
        notes=None,
        duplicate_of=None,
        reply=None,
        created_at=now,
        updated_at=now,
    )
    files = [
        FeedbackAttachment(
            id=new_uuid(),
            filename=a.filename,
            size=a.size,
            content_type=a.content_type,
            sha256=a.sha256,
            object_key=attachments.upload_key(public_id, a.filename),
            scan_state="awaiting_upload",
            scan_note=None,
            created_at=now,
        )
        for a in body.attachments
    ]
    await repository.insert_feedback(uow, row, files)
    await queue.enqueue(
        uow,
        "feedback",
        public_id,
        priority=FEEDBACK_PRIORITY.get(body.category, 0),
        subject={
            "feedback_id": public_id,
            "category": body.category,
            "message": body.message[:200],
            "attachments": len(files),
        },
    )
    return FeedbackCreated(
        feedback=_out(row, files), uploads=await attachments.upload_urls(runtime, files)
    )


async def _own(uow: UnitOfWork, player: Principal, feedback_id: str) -> Feedback:
    row = await repository.get_feedback(uow, feedback_id)
    if row is None or row.user_id != player.user_id:
        raise NotFound("No such feedback.")
    return row


async def complete_uploads(
    uow: UnitOfWork, runtime: Runtime, player: Principal, feedback_id: str
) -> FeedbackOut:
    """The player finished uploading: every attachment now in the store goes to the scanner.
    Attachments never uploaded stay `awaiting_upload`."""
    row = await _own(uow, player, feedback_id)
    files = (await repository.attachments_of(uow, [row.id]))[row.id]
    await attachments.start_scans(uow, runtime, row, files)
    return _out(row, files)


async def my_feedback(uow: UnitOfWork, player: Principal, page: PageParams) -> Page[FeedbackOut]:
    """The caller's feedback and its status, newest first."""
    assert player.user_id is not None
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_feedback(
        uow,
        user_id=player.user_id,
        after=(after.t, after.i) if after else None,
        limit=page.limit + 1,
    )
    files = await repository.attachments_of(uow, [r.id for r in rows[: page.limit]])
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r.created_at, i=r.public_id),
        lambda r: _out(r, files[r.id]),
    )


async def search(
    uow: UnitOfWork,
    *,
    status: str | None,
    category: str | None,
    tag: str | None,
    q: str | None,
    page: PageParams,
) -> Page[StaffFeedbackOut]:
    """Feedback matching the filters, newest first (staff)."""
    after = decode_cursor(page.cursor, TimeCursor)
    rows = await repository.list_feedback(
        uow,
        user_id=None,
        status=status,
        category=category,
        tag=tag,
        q=q,
        after=(after.t, after.i) if after else None,
        limit=page.limit + 1,
    )
    shown = rows[: page.limit]
    files = await repository.attachments_of(uow, [r.id for r in shown])
    owners = await users.canonical_ids(uow, [r.user_id for r in shown])
    return paginate(
        rows,
        page.limit,
        lambda r: TimeCursor(t=r.created_at, i=r.public_id),
        lambda r: _staff_out(r, files[r.id], owners[r.user_id]),
    )


async def export_rows(
    uow: UnitOfWork, *, status: str | None, category: str | None, tag: str | None, q: str | None
) -> AsyncIterator[dict[str, Any]]:
    """Every feedback row of a filtered view, newest first, a page at a time (for export)."""
    after: tuple[Any, str] | None = None
    while True:
        rows = await repository.list_feedback(
            uow,
            user_id=None,
            status=status,
            category=category,
            tag=tag,
            q=q,
            after=after,
            limit=500,
        )
        for r in rows:
            yield {
                "feedback_id": r.public_id,
                "category": r.category,
                "status": r.status,
                "message": r.message,
                "build": r.build,
                "platform": r.platform,
                "tags": list(r.tags),
                "duplicate_of": r.duplicate_of,
                "created_at": r.created_at.isoformat(),
            }
        if len(rows) < 500:
            return
        after = (rows[-1].created_at, rows[-1].public_id)


async def staff_view(uow: UnitOfWork, feedback_id: str) -> StaffFeedbackOut:
    row = await repository.get_feedback(uow, feedback_id)
    if row is None:
        raise NotFound("No such feedback.")
    files = (await repository.attachments_of(uow, [row.id]))[row.id]
    owner = await users.get_user(uow, row.user_id)
    return _staff_out(row, files, owner.canonical_id)


async def triage(
    uow: UnitOfWork,
    runtime: Runtime,
    staff: Principal,
    feedback_id: str,
    patch: FeedbackPatch,
    client: ClientInfo,
) -> StaffFeedbackOut:
    """Change status, tags, notes or the duplicate link; a reply reaches the player."""
    row = await repository.get_feedback(uow, feedback_id, for_update=True)
    if row is None:
        raise NotFound("No such feedback.")
    await queue.check_not_held(uow, "feedback", row.public_id, staff)
    changes = patch.model_dump(exclude_unset=True)
    if patch.duplicate_of is not None:
        original = await repository.get_feedback(uow, patch.duplicate_of)
        if original is None or original.id == row.id:
            raise NotFound("No such feedback to link as the original.")
        changes.setdefault("status", "duplicate")
    before = {k: getattr(row, k) for k in changes}
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await uow.session.flush()
    if row.status in CLOSED:
        await queue.done(uow, "feedback", row.public_id)
    await audit.record(
        uow,
        action="feedback.triage",
        resource_type="feedback",
        resource_id=row.public_id,
        actor=staff,
        old=before,
        new=changes,
        client=client,
    )
    if patch.reply:
        await notices.tell(
            uow,
            runtime,
            row.user_id,
            "feedback_reply",
            "A reply to your feedback",
            patch.reply,
            {"feedback_id": row.public_id},
        )
    return await staff_view(uow, feedback_id)
