"""HTTP routes of live configuration (/api/v1 relative): the player's resolved config, and
the admin API for the config document, flags and experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from playerplatform.auth.deps import Principal, rate_limit, require_role, require_user
from playerplatform.config import client, rules, service
from playerplatform.config.schemas import (
    NAME_PATTERN,
    ClientConfigOut,
    ConfigIn,
    ConfigOut,
    ExperimentIn,
    ExperimentOut,
    FlagIn,
    FlagOut,
    HistoryItem,
    RollbackIn,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow
from playerplatform.kit.pagination import Page, PageParams, page_params

if TYPE_CHECKING:
    from playerplatform.config.live import LiveConfig
    from playerplatform.runtime import Runtime

router = APIRouter()
players = APIRouter(
    tags=["config"], route_class=TransactionalRoute, dependencies=[Depends(rate_limit())]
)
admin = APIRouter(
    prefix="/admin",
    tags=["config"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)

Name = Path(pattern=NAME_PATTERN, description="Letters, digits, '.', '_' or '-', up to 64.")
ETagHeader = Header(None, max_length=512, description="An ETag from an earlier answer.")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _live(request: Request) -> LiveConfig:
    return _runtime(request).config


@players.get(
    "/config",
    response_model=ClientConfigOut,
    responses={304: {"description": "unchanged since the ETag sent in If-None-Match"}},
)
async def get_client_config(
    request: Request,
    if_none_match: str | None = ETagHeader,
    principal: Principal = Depends(require_user),
) -> Response:
    answer = await client.client_config(_runtime(request), principal)
    headers = {"ETag": answer.etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and answer.etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


@admin.get("/config", response_model=ConfigOut)
async def get_config(
    response: Response,
    _staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> ConfigOut:
    current = await service.get_config(uow)
    response.headers["ETag"] = service.etag(current.version)
    return current


@admin.put(
    "/config",
    response_model=ConfigOut,
    responses={412: {"description": "stale If-Match"}, 428: {"description": "no If-Match"}},
)
async def put_config(
    body: ConfigIn,
    request: Request,
    response: Response,
    if_match: str = Header(
        max_length=64, description="The ETag of the config last read; 428 without it."
    ),
    staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> ConfigOut:
    changed = await service.change_config(
        uow,
        _live(request),
        actor=staff,
        body=body,
        if_match=if_match,
        client=client_info(request),
    )
    response.headers["ETag"] = service.etag(changed.version)
    return changed


@admin.get("/config/history", response_model=Page[HistoryItem])
async def config_history(
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[HistoryItem]:
    return await service.history(uow, page)


@admin.post("/config/rollback", response_model=ConfigOut)
async def rollback_config(
    body: RollbackIn,
    request: Request,
    response: Response,
    staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> ConfigOut:
    restored = await service.roll_back(
        uow, _live(request), actor=staff, body=body, client=client_info(request)
    )
    response.headers["ETag"] = service.etag(restored.version)
    return restored


@admin.get("/flags", response_model=list[FlagOut])
async def list_flags(
    _staff: Principal = Depends(require_role("admin")), uow: UnitOfWork = Depends(get_uow)
) -> list[FlagOut]:
    return await rules.list_flags(uow)


@admin.get("/flags/{name}", response_model=FlagOut)
async def get_flag(
    name: str = Name,
    _staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> FlagOut:
    return await rules.get_flag(uow, name)


@admin.put("/flags/{name}", response_model=FlagOut)
async def put_flag(
    body: FlagIn,
    request: Request,
    name: str = Name,
    staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> FlagOut:
    return await rules.put_flag(
        uow, _live(request), actor=staff, name=name, body=body, client=client_info(request)
    )


@admin.delete("/flags/{name}", status_code=204)
async def delete_flag(
    request: Request,
    name: str = Name,
    staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await rules.delete_flag(
        uow, _live(request), actor=staff, name=name, client=client_info(request)
    )
    return Response(status_code=204)


@admin.get("/experiments", response_model=list[ExperimentOut])
async def list_experiments(
    _staff: Principal = Depends(require_role("admin")), uow: UnitOfWork = Depends(get_uow)
) -> list[ExperimentOut]:
    return await rules.list_experiments(uow)


@admin.get("/experiments/{name}", response_model=ExperimentOut)
async def get_experiment(
    name: str = Name,
    _staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> ExperimentOut:
    return await rules.get_experiment(uow, name)


@admin.put("/experiments/{name}", response_model=ExperimentOut)
async def put_experiment(
    body: ExperimentIn,
    request: Request,
    name: str = Name,
    staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> ExperimentOut:
    return await rules.put_experiment(
        uow, _live(request), actor=staff, name=name, body=body, client=client_info(request)
    )


@admin.get(
    "/experiments/{name}/exposures",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per exposed player"}},
)
async def export_exposures(
    name: str = Name,
    _staff: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    body = await rules.exposures_csv(uow, name)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-exposures.csv"'},
    )


router.include_router(players)
router.include_router(admin)
