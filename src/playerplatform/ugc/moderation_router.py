"""Moderator routes for UGC: the review queue, item decisions, reports and the appeals list
(role `moderator`; admins hold it too)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.ugc import moderation
from playerplatform.ugc.schemas import (
    AppealOut,
    ItemDecisionIn,
    ReportDecisionIn,
    ReportOut,
    UgcOut,
)

router = APIRouter(
    prefix="/moderation",
    tags=["moderation"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)

moderator = require_role("moderator")


@router.get("/ugc", response_model=Page[UgcOut])
async def review_queue(
    status: Literal["pending_review", "flagged"] = Query("pending_review"),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[UgcOut]:
    return await moderation.review_queue(uow, status, page)


@router.post("/ugc/{ugc_id}/decision", response_model=UgcOut)
async def decide_item(
    body: ItemDecisionIn,
    request: Request,
    ugc_id: str = Path(min_length=1, max_length=32),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> UgcOut:
    return await moderation.decide_item(
        uow, request.app.state.runtime, staff, ugc_id, body.action, body.notes, client_info(request)
    )


@router.get("/reports", response_model=Page[ReportOut])
async def list_reports(
    status: Literal["open", "upheld", "dismissed"] = Query("open"),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[ReportOut]:
    return await moderation.list_reports(uow, status, page)


@router.post("/reports/{report_id}/decision", response_model=ReportOut)
async def decide_report(
    body: ReportDecisionIn,
    request: Request,
    report_id: str = Path(min_length=1, max_length=32),
    staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> ReportOut:
    return await moderation.decide_report(
        uow,
        request.app.state.runtime,
        staff,
        report_id,
        body.action,
        body.notes,
        client_info(request),
    )


@router.get("/appeals", response_model=Page[AppealOut])
async def list_appeals(
    status: Literal["open", "granted", "denied"] = Query("open"),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(moderator),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[AppealOut]:
    return await moderation.list_appeals(uow, status, page)


# Appeal decisions (`POST /moderation/appeals/{id}/decision`) are served by the safety
# domain, which decides appeals against content and against sanctions alike.
