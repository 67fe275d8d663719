"""Moderators' safety routes (role `moderator`; admins hold it too): the one queue,
sanctions, appeal decisions, report groups and feedback triage with its export."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.safety import appeals, attachments, feedback, queue, reports, sanctions
from playerplatform.safety.exports import export_stream
from playerplatform.safety.schemas import (
    AppealDecisionIn,
    AppealOut,
    AttachmentLink,
    FeedbackPatch,
    FeedbackStatus,
    GroupDecisionIn,
    GroupOut,
    LiftIn,
    QueueItemDetail,
    QueueItemOut,
    QueueType,
    SanctionIn,
    StaffFeedbackOut,
    StaffSanctionOut,
)

router = APIRouter(
    prefix="/moderation",
    tags=["moderation"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)

moderator = require_role("moderator")


def _id() -> Any:
    """A record's public id in the path (each parameter needs its own declaration)."""
    return Path(min_length=1, max_length=32, pattern=r"^[a-z0-9]+$")


Filename = Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
Category = Literal["bug", "suggestion", "praise", "other"]


@router.get("/queue", response_model=Page[QueueItemOut])
async def list_queue(
    request: Request,
    type: QueueType | None = Query(None, description="Only this kind of work."),
    status: Literal["open", "closed"] = Query("open"),
    assignee: str | None = Query(
        None,
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="me, none or an id",
    ),
    older_than: int | None = Query(None, ge=1, le=10 * 365 * 86400, description="Seconds."),
    page: PageParams = Depends(page_params),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[QueueItemOut]:
    return await queue.list_queue(
        uow,
        request.app.state.runtime,
        staff,
        type_=type,
        status=status,
        assignee=assignee,
        older_than=older_than,
        page=page,
    )


@router.get("/queue/{item_id}", response_model=QueueItemDetail)
async def queue_item(
    request: Request,
    item_id: str = _id(),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> QueueItemDetail:
    """One item with a preview of the content under review."""
    return await queue.detail(uow, request.app.state.runtime, item_id)


@router.post("/queue/{item_id}/assign", response_model=QueueItemOut)
async def take_queue_item(
    item_id: str = _id(),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> QueueItemOut:
    """Take the item (again is fine); 409 `assigned` when another moderator holds it."""
    return await queue.take(uow, staff, item_id)


@router.post(
    "/sanctions",
    status_code=201,
    response_model=None,
    responses={201: {"model": StaffSanctionOut}},
)
async def impose_sanction(
    body: SanctionIn,
    request: Request,
    staff: Principal = Depends(moderator),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    """With an `Idempotency-Key`, a retried (or double-clicked) sanction is placed once."""

    async def run() -> tuple[int, object]:
        placed = await sanctions.impose(
            uow, request.app.state.runtime, staff, body, client_info(request)
        )
        return 201, placed.model_dump(mode="json")

    return await idempotent(
        request, uow, scope=staff.actor_id, key=key, body=body.model_dump(mode="json"), run=run
    )


@router.get("/sanctions", response_model=Page[StaffSanctionOut])
async def search_sanctions(
    canonical_id: str | None = Query(
        None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="One player's."
    ),
    active: bool = Query(False, description="Only sanctions in force now."),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[StaffSanctionOut]:
    return await sanctions.search(uow, canonical_id=canonical_id, active=active, page=page)


@router.get("/sanctions/{sanction_id}", response_model=StaffSanctionOut)
async def get_sanction(
    sanction_id: str = _id(),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> StaffSanctionOut:
    return await sanctions.staff_view(uow, sanction_id)


@router.post("/sanctions/{sanction_id}/lift", response_model=StaffSanctionOut)
async def lift_sanction(
    body: LiftIn,
    request: Request,
    sanction_id: str = _id(),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> StaffSanctionOut:
    return await sanctions.lift(
        uow, request.app.state.runtime, staff, sanction_id, body.reason, client_info(request)
    )


@router.post("/appeals/{appeal_id}/decision", response_model=AppealOut)
async def decide_appeal(
    body: AppealDecisionIn,
    request: Request,
    appeal_id: str = _id(),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> AppealOut:
    """Sanction appeals and content appeals alike."""
    return await appeals.decide(
        uow,
        request.app.state.runtime,
        staff,
        appeal_id,
        body.action,
        body.notes,
        client_info(request),
    )


@router.post("/report-groups/{group_id}/decision", response_model=GroupOut)
async def decide_report_group(
    body: GroupDecisionIn,
    request: Request,
    group_id: str = _id(),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> GroupOut:
    """Close a target's reports: `action` (dealt with) or `dismiss`; reporters are told."""
    return await reports.decide_group(
        uow,
        request.app.state.runtime,
        staff,
        group_id,
        body.action,
        body.notes,
        client_info(request),
    )


@router.get("/feedback", response_model=Page[StaffFeedbackOut])
async def search_feedback(
    status: FeedbackStatus | None = Query(None),
    category: Category | None = Query(None),
    tag: str | None = Query(None, min_length=1, max_length=32),
    q: str | None = Query(None, min_length=1, max_length=200, description="Words in the message."),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[StaffFeedbackOut]:
    return await feedback.search(uow, status=status, category=category, tag=tag, q=q, page=page)


@router.get(
    "/feedback/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_feedback(
    request: Request,
    format: Literal["csv", "json"] = Query("csv"),
    status: FeedbackStatus | None = Query(None),
    category: Category | None = Query(None),
    tag: str | None = Query(None, min_length=1, max_length=32),
    q: str | None = Query(None, min_length=1, max_length=200),
    _staff: Principal = Depends(moderator),
) -> StreamingResponse:
    """Every feedback row of the filtered view, streamed (CSV, or JSON lines)."""
    return export_stream(
        request.app.state.runtime,
        format,
        status=status,
        category=category,
        tag=tag,
        q=q,
    )


@router.get("/feedback/{feedback_id}", response_model=StaffFeedbackOut)
async def get_feedback(
    feedback_id: str = _id(),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> StaffFeedbackOut:
    return await feedback.staff_view(uow, feedback_id)


@router.patch("/feedback/{feedback_id}", response_model=StaffFeedbackOut)
async def triage_feedback(
    body: FeedbackPatch,
    request: Request,
    feedback_id: str = _id(),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> StaffFeedbackOut:
    return await feedback.triage(
        uow, request.app.state.runtime, staff, feedback_id, body, client_info(request)
    )


@router.get("/feedback/{feedback_id}/attachments/{filename}", response_model=AttachmentLink)
async def attachment_link(
    request: Request,
    feedback_id: str = _id(),
    filename: str = Filename,
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> AttachmentLink:
    """A short-lived link to a clean attachment (409 for any other)."""
    return await attachments.attachment_link(uow, request.app.state.runtime, feedback_id, filename)
