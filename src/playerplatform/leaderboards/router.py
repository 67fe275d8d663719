"""HTTP routes of the leaderboards domain (every path, /api/v1 relative, admin and moderation included)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import ORJSONResponse

from playerplatform.auth.deps import (
    Principal,
    rate_limit,
    require_principal,
    require_role,
    require_user,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import (
    TransactionalRoute,
    client_info,
    get_uow,
    json_answer,
    replica_reads,
)
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.leaderboards import moderation, seasons, service
from playerplatform.leaderboards.live import LiveBoards
from playerplatform.leaderboards.schemas import (
    REGION,
    SEASON_ID,
    BoardPage,
    EntryOut,
    RemovalIn,
    ScoreIn,
    ScoreOut,
    SeasonIn,
    SeasonOut,
    SeasonPatch,
)
from playerplatform.users.schemas import CanonicalIdPath as CanonicalId

# Board pages are built as plain data and sent as they are (`response_model` documents them).

router = APIRouter(route_class=TransactionalRoute, dependencies=[Depends(rate_limit())])

SeasonId = Path(pattern=SEASON_ID, description="The season's id.")
Region = Query(None, pattern=REGION, description="Only this region's board.")


async def live_boards(request: Request) -> LiveBoards:
    """The process's leaderboards state (dependency)."""
    live: LiveBoards = request.app.state.runtime.leaderboards
    return live


# Players, game servers and the public.


@router.get("/leaderboards/seasons", response_model=Page[SeasonOut], tags=["leaderboards"])
@replica_reads
async def list_seasons(
    request: Request,
    active: bool | None = Query(None, description="Only seasons taking scores now (or not)."),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    views = request.app.state.runtime.views
    return json_answer(await seasons.seasons_json(uow, views, page, active=active))


@router.post(
    "/leaderboards/{season_id}/scores",
    response_model=ScoreOut,
    tags=["leaderboards"],
    responses={409: {"description": "season_closed"}},
)
async def submit_score(
    body: ScoreIn,
    season_id: str = SeasonId,
    principal: Principal = Depends(require_principal),
    live: LiveBoards = Depends(live_boards),
) -> ScoreOut:
    return await service.submit_score(live, principal, season_id, body)


@router.get("/leaderboards/{season_id}", response_model=BoardPage, tags=["leaderboards"])
async def top(
    season_id: str = SeasonId,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=10_000_000),
    region: str | None = Region,
    live: LiveBoards = Depends(live_boards),
) -> Response:
    return json_answer(
        await service.top(live, season_id, offset=offset, limit=limit, region=region)
    )


@router.get("/leaderboards/{season_id}/around-me", response_model=BoardPage, tags=["leaderboards"])
async def around_me(
    season_id: str = SeasonId,
    radius: int = Query(5, ge=0, le=50),
    region: str | None = Region,
    principal: Principal = Depends(require_user),
    live: LiveBoards = Depends(live_boards),
) -> Response:
    page = await service.around(live, season_id, principal.subject, radius=radius, region=region)
    return ORJSONResponse(page)


@router.get("/leaderboards/{season_id}/me", response_model=EntryOut, tags=["leaderboards"])
async def my_entry(
    season_id: str = SeasonId,
    principal: Principal = Depends(require_user),
    live: LiveBoards = Depends(live_boards),
    uow: UnitOfWork = Depends(get_uow),
) -> EntryOut:
    return await service.my_entry(uow, live, season_id, principal.subject)


@router.get("/leaderboards/{season_id}/friends", response_model=BoardPage, tags=["leaderboards"])
async def friends(
    season_id: str = SeasonId,
    principal: Principal = Depends(require_user),
    live: LiveBoards = Depends(live_boards),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    return ORJSONResponse(await service.friends_board(uow, live, season_id, principal))


# Moderators.


@router.delete(
    "/moderation/leaderboards/{season_id}/entries/{canonical_id}",
    status_code=204,
    tags=["moderation"],
)
async def remove_entry(
    body: RemovalIn,
    request: Request,
    season_id: str = SeasonId,
    canonical_id: str = CanonicalId,
    staff: Principal = Depends(require_role("moderator")),
    live: LiveBoards = Depends(live_boards),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await moderation.remove_entry(
        uow,
        live,
        season_id,
        canonical_id,
        reason=body.reason,
        actor=staff,
        client=client_info(request),
    )
    return Response(status_code=204)


# Admins.


@router.get("/admin/seasons", response_model=Page[SeasonOut], tags=["admin"])
async def admin_list_seasons(
    active: bool | None = Query(None, description="Only seasons taking scores now (or not)."),
    page: PageParams = Depends(page_params),
    _admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[SeasonOut]:
    return await seasons.list_seasons(uow, page, active=active)


@router.post("/admin/seasons", response_model=SeasonOut, status_code=201, tags=["admin"])
async def create_season(
    body: SeasonIn,
    request: Request,
    admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> SeasonOut:
    return await seasons.create_season(uow, body, actor=admin, client=client_info(request))


@router.get("/admin/seasons/{season_id}", response_model=SeasonOut, tags=["admin"])
async def get_season(
    season_id: str = SeasonId,
    _admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> SeasonOut:
    return await seasons.get_season(uow, season_id)


@router.patch("/admin/seasons/{season_id}", response_model=SeasonOut, tags=["admin"])
async def update_season(
    patch: SeasonPatch,
    request: Request,
    season_id: str = SeasonId,
    admin: Principal = Depends(require_role("admin")),
    live: LiveBoards = Depends(live_boards),
    uow: UnitOfWork = Depends(get_uow),
) -> SeasonOut:
    return await seasons.update_season(
        uow, live, season_id, patch, actor=admin, client=client_info(request)
    )


@router.post("/admin/seasons/{season_id}/close", response_model=SeasonOut, tags=["admin"])
async def close_season(
    request: Request,
    season_id: str = SeasonId,
    admin: Principal = Depends(require_role("admin")),
    live: LiveBoards = Depends(live_boards),
    uow: UnitOfWork = Depends(get_uow),
) -> SeasonOut:
    return await seasons.request_close(
        uow, live, season_id, actor=admin, client=client_info(request)
    )
