"""HTTP routes of the leaderboards domain (every path, /api/v1 relative, admin and moderation included)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import ORJSONResponse
from pydantic import ValidationError

from playerplatform.auth.deps import (
    Principal,
    hot_caller,
    rate_limit,
    require_principal,
    require_role,
    require_user,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import Forbidden
from playerplatform.kit.hotpath import HotRequest, JsonAnswer, hot_path
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow
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

# Board pages are built as plain data and sent as they are (`response_model` documents them).

router = APIRouter(route_class=TransactionalRoute, dependencies=[Depends(rate_limit())])

SeasonId = Path(pattern=SEASON_ID, description="The season's id.")
CanonicalId = Path(min_length=1, max_length=64, description="A player's canonical id.")
Region = Query(None, pattern=REGION, description="Only this region's board.")


_SEASON = re.compile(SEASON_ID)
_REGION = re.compile(REGION)


def _hot_season(request: HotRequest) -> str | None:
    season_id = request.path_param("season_id")
    return season_id if _SEASON.fullmatch(season_id) else None


def _hot_query(request: HotRequest, defaults: dict[str, int]) -> dict[str, Any] | None:
    """Integer parameters (with their bounds checked by the caller) and `region`; None for
    anything the endpoint's own validation should answer."""
    values: dict[str, Any] = {**defaults, "region": None}
    seen = set()
    for name, value in request.query():
        if name in seen or (name not in defaults and name != "region"):
            return None
        seen.add(name)
        if name == "region":
            if not _REGION.fullmatch(value):
                return None
            values[name] = value
        elif value.isascii() and value.isdigit() and len(value) <= 8:
            values[name] = int(value)
        else:
            return None
    return values


def _json(data: Any, headers: dict[str, str] | None) -> JsonAnswer:
    return JsonAnswer(orjson.dumps(data), headers)


async def serve_score(request: HotRequest) -> JsonAnswer | None:
    """`POST .../scores` on the hot path: token, session and write rate limit from the
    process's copies and tally, then the board script. The body is validated as the endpoint would."""
    season_id = _hot_season(request)
    content_type = request.header(b"content-type") or ""
    if (
        season_id is None
        or request.authorization is None
        or not content_type.startswith("application/json")
    ):
        return None
    try:
        body = ScoreIn.model_validate_json(await request.body())
    except ValidationError:
        return None  # the endpoint answers 422 with the fields
    found = await hot_caller(request, "write")
    assert found.principal is not None
    result = await service.submit_score(
        request.runtime.leaderboards, found.principal, season_id, body
    )
    return _json(result.model_dump(mode="json"), found.rate_headers)


async def serve_top(request: HotRequest) -> JsonAnswer | None:
    """`GET /leaderboards/{season_id}` on the hot path (public: a token is optional)."""
    season_id = _hot_season(request)
    query = _hot_query(request, {"limit": 20, "offset": 0})
    if season_id is None or query is None:
        return None
    if not 1 <= query["limit"] <= 100 or query["offset"] > 10_000_000:
        return None
    found = await hot_caller(request, "read")
    runtime = request.runtime
    page = await service.top(
        runtime.leaderboards,
        season_id,
        offset=query["offset"],
        limit=query["limit"],
        region=query["region"],
    )
    return _json(page, found.rate_headers)


async def serve_around_me(request: HotRequest) -> JsonAnswer | None:
    """`GET .../around-me` on the hot path."""
    season_id = _hot_season(request)
    query = _hot_query(request, {"radius": 5})
    if season_id is None or query is None or query["radius"] > 50:
        return None
    if request.authorization is None:
        return None
    found = await hot_caller(request, "read")
    principal = found.principal
    if principal is None or principal.kind != "user":
        raise Forbidden("This route is for players, not service accounts.")
    runtime = request.runtime
    page = await service.around(
        runtime.leaderboards,
        season_id,
        principal.subject,
        radius=query["radius"],
        region=query["region"],
    )
    return _json(page, found.rate_headers)


def live_boards(request: Request) -> LiveBoards:
    """The process's leaderboards state (dependency)."""
    live: LiveBoards = request.app.state.runtime.leaderboards
    return live


# Players, game servers and the public.


@router.get("/leaderboards/seasons", response_model=Page[SeasonOut], tags=["leaderboards"])
async def list_seasons(
    active: bool | None = Query(None, description="Only seasons taking scores now (or not)."),
    page: PageParams = Depends(page_params),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[SeasonOut]:
    return await seasons.list_seasons(uow, page, active=active)


@router.post(
    "/leaderboards/{season_id}/scores",
    response_model=ScoreOut,
    tags=["leaderboards"],
    responses={409: {"description": "season_closed"}},
)
@hot_path(serve_score)
async def submit_score(
    body: ScoreIn,
    season_id: str = SeasonId,
    principal: Principal = Depends(require_principal),
    live: LiveBoards = Depends(live_boards),
) -> ScoreOut:
    return await service.submit_score(live, principal, season_id, body)


@router.get("/leaderboards/{season_id}", response_model=BoardPage, tags=["leaderboards"])
@hot_path(serve_top)
async def top(
    season_id: str = SeasonId,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=10_000_000),
    region: str | None = Region,
    live: LiveBoards = Depends(live_boards),
) -> Response:
    page = await service.top(live, season_id, offset=offset, limit=limit, region=region)
    return ORJSONResponse(page)


@router.get("/leaderboards/{season_id}/around-me", response_model=BoardPage, tags=["leaderboards"])
@hot_path(serve_around_me)
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
