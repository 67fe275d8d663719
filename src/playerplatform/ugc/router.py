"""HTTP routes of the ugc domain (every path, /api/v1 relative, admin and moderation included).

Players: drafts and uploads, their own items, browsing and search, downloads, ratings,
reports and appeals. Moderators: `/moderation/ugc`, `/moderation/reports`,
`/moderation/appeals` (see `moderation_router`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel
from starlette.responses import RedirectResponse

from playerplatform.auth.deps import (
    Principal,
    optional_principal,
    rate_limit,
    require_unrestricted,
    require_user,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import (
    TransactionalRoute,
    client_info,
    get_uow,
    json_answer,
    replica_reads,
    single_statement_writes,
)
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.kit.textfilter import TextFilter, text_filter
from playerplatform.ugc import discovery, engagement, moderation, service
from playerplatform.ugc import merge as _merge  # noqa: F401  (registers the merge hook)
from playerplatform.ugc.moderation_router import router as moderation_router
from playerplatform.ugc.schemas import (
    TAG_PATTERN,
    AppealIn,
    AppealOut,
    DraftOut,
    MyRatingOut,
    RatingIn,
    ReportIn,
    ReportOut,
    Sort,
    UgcCreate,
    UgcOut,
    UgcPatch,
    UgcType,
    UploadOut,
)

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

router = APIRouter()
players = APIRouter(
    prefix="/ugc",
    tags=["ugc"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)

UgcId = Path(min_length=1, max_length=32, description="The item's `ugc_id`.")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def as_json(model: BaseModel) -> Response:
    """The read routes' hot path: the model was built from our own rows, so it is serialized
    once (in Rust) instead of being dumped, validated again and serialized by FastAPI. The
    declared `response_model` still documents it."""
    return Response(model.model_dump_json(), media_type="application/json")


# A sanction restricting UGC refuses new drafts, edits and uploads (403 `restricted`).
uploader = require_unrestricted("ugc")


@players.post("", status_code=201, response_model=DraftOut)
async def create_ugc(
    body: UgcCreate,
    request: Request,
    principal: Principal = Depends(uploader),
    checker: TextFilter = Depends(text_filter),
    uow: UnitOfWork = Depends(get_uow),
) -> DraftOut:
    return await service.create_draft(uow, runtime_of(request), principal, body, checker)


@players.get("", response_model=Page[UgcOut])
@replica_reads
async def browse_ugc(
    request: Request,
    type: UgcType | None = Query(None, description="Only this type."),
    tag: str | None = Query(None, pattern=TAG_PATTERN),
    creator: str | None = Query(None, min_length=1, max_length=64, description="canonical id"),
    q: str | None = Query(
        None, min_length=1, max_length=100, description="text in name or description"
    ),
    sort: Sort = Query("newest"),
    page: PageParams = Depends(page_params),
    _caller: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    found = await discovery.browse_json(
        uow, runtime_of(request), page, sort=sort, ugc_type=type, tag=tag, creator=creator, text=q
    )
    return json_answer(found)


@players.get("/hot", response_model=Page[UgcOut])
@replica_reads
async def hot_feed(
    request: Request,
    page: PageParams = Depends(page_params),
    _caller: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    return json_answer(await discovery.hot_feed_json(uow, runtime_of(request), page))


@players.get("/mine", response_model=Page[UgcOut])
@replica_reads
async def my_ugc(
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[UgcOut]:
    return await service.my_items(uow, principal, page)


@players.get("/{ugc_id}", response_model=UgcOut)
@replica_reads
async def get_ugc(
    request: Request,
    ugc_id: str = UgcId,
    viewer: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    return json_answer(await service.get_item(uow, runtime_of(request), ugc_id, viewer))


@players.patch("/{ugc_id}", response_model=UgcOut)
async def patch_ugc(
    body: UgcPatch,
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(uploader),
    checker: TextFilter = Depends(text_filter),
    uow: UnitOfWork = Depends(get_uow),
) -> UgcOut:
    return await service.update_item(uow, runtime_of(request), principal, ugc_id, body, checker)


@players.delete("/{ugc_id}", status_code=204)
async def delete_ugc(
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await service.delete_item(uow, runtime_of(request), principal, ugc_id)
    return Response(status_code=204)


@players.post("/{ugc_id}/complete", status_code=202, response_model=UgcOut)
async def complete_ugc(
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(uploader),
    uow: UnitOfWork = Depends(get_uow),
) -> UgcOut:
    return await service.complete_upload(uow, runtime_of(request), principal, ugc_id)


@players.post("/{ugc_id}/upload-url", response_model=UploadOut)
async def renew_upload_url(
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(uploader),
    uow: UnitOfWork = Depends(get_uow),
) -> UploadOut:
    """A fresh signed upload URL for the caller's own draft (409 `ugc_not_draft` past it)."""
    return await service.renew_upload_url(uow, runtime_of(request), principal, ugc_id)


@players.get(
    "/{ugc_id}/download",
    status_code=302,
    response_class=RedirectResponse,
    responses={302: {"description": "to a short-lived signed URL of the file"}},
)
async def download_ugc(
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> RedirectResponse:
    url, _public = await engagement.download_url(uow, runtime_of(request), principal, ugc_id)
    # The redirect is per player (it counts their download); the object behind it is what a
    # CDN caches.
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "private, no-store"})


@players.put("/{ugc_id}/rating", response_model=MyRatingOut)
@single_statement_writes  # one statement on PostgreSQL (see `engagement.rate`)
async def rate_ugc(
    body: RatingIn,
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> MyRatingOut:
    return await engagement.rate(uow, runtime_of(request), principal, ugc_id, body.value)


@players.post("/{ugc_id}/reports", status_code=201, response_model=ReportOut)
async def report_ugc(
    body: ReportIn,
    request: Request,
    ugc_id: str = UgcId,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> ReportOut:
    client = client_info(request)
    return await moderation.report_item(uow, runtime_of(request), principal, ugc_id, body, client)


@players.post("/{ugc_id}/appeals", status_code=201, response_model=AppealOut)
async def appeal_ugc(
    body: AppealIn,
    ugc_id: str = UgcId,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> AppealOut:
    return await moderation.appeal(uow, principal, ugc_id, body)


router.include_router(players)
router.include_router(moderation_router)
