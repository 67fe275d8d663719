"""Players' safety routes: feedback, reports, their own sanctions and appeals."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from playerplatform.auth.deps import Principal, rate_limit, require_user
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow, json_answer
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.safety import appeals, feedback, reports, sanctions
from playerplatform.safety.schemas import (
    AppealIn,
    AppealOut,
    FeedbackCreated,
    FeedbackIn,
    FeedbackOut,
    ReportIn,
    ReportOut,
    SanctionsOut,
)

router = APIRouter(
    tags=["safety"], route_class=TransactionalRoute, dependencies=[Depends(rate_limit())]
)

FeedbackId = Path(min_length=1, max_length=32, pattern=r"^[a-z0-9]+$")


@router.post(
    "/feedback", status_code=201, response_model=None, responses={201: {"model": FeedbackCreated}}
)
async def send_feedback(
    body: FeedbackIn,
    request: Request,
    player: Principal = Depends(require_user),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    """With an `Idempotency-Key`, a retried send replays the first answer."""

    async def run() -> tuple[int, object]:
        sent = await feedback.send_feedback(uow, request.app.state.runtime, player, body)
        return 201, sent.model_dump(mode="json")

    return await idempotent(
        request, uow, scope=player.actor_id, key=key, body=body.model_dump(mode="json"), run=run
    )


@router.get("/feedback", response_model=Page[FeedbackOut])
async def my_feedback(
    page: PageParams = Depends(page_params),
    player: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[FeedbackOut]:
    return await feedback.my_feedback(uow, player, page)


@router.post("/feedback/{feedback_id}/complete", response_model=FeedbackOut)
async def complete_feedback_uploads(
    request: Request,
    feedback_id: str = FeedbackId,
    player: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> FeedbackOut:
    """The attachments are uploaded: scan them."""
    return await feedback.complete_uploads(uow, request.app.state.runtime, player, feedback_id)


@router.post("/reports", status_code=201, response_model=ReportOut)
async def file_report(
    body: ReportIn,
    request: Request,
    reporter: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> ReportOut:
    return await reports.file_report(
        uow, request.app.state.runtime, reporter, body, client_info(request)
    )


@router.get("/reports", response_model=Page[ReportOut])
async def my_reports(
    request: Request,
    page: PageParams = Depends(page_params),
    reporter: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    """The caller's reports and their outcome, without details."""
    views = request.app.state.runtime.views
    return json_answer(await reports.my_reports(uow, views, reporter, page))


@router.get("/users/me/sanctions", response_model=SanctionsOut)
async def my_sanctions(
    request: Request,
    player: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    return json_answer(await sanctions.my_sanctions(uow, request.app.state.runtime.views, player))


@router.post("/appeals", status_code=201, response_model=AppealOut)
async def appeal(
    body: AppealIn,
    player: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> AppealOut:
    return await appeals.appeal(uow, player, body)
