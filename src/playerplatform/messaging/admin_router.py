"""Staff routes of messaging: a message to one player, broadcasts and their stats."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.messaging import broadcasts
from playerplatform.messaging.schemas import BroadcastIn, BroadcastOut, MessageOut, StaffMessageIn
from playerplatform.runtime import Runtime

BroadcastId = Path(pattern=r"^b[0-9a-f]{24}$", description="A broadcast id.")

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)
admin = require_role("admin")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post(
    "/messages", status_code=201, response_model=None, responses={201: {"model": MessageOut}}
)
async def send_message(
    body: StaffMessageIn,
    request: Request,
    actor: Principal = Depends(admin),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    rt = runtime_of(request)

    async def run() -> tuple[int, object]:
        out = await broadcasts.send_to_player(
            uow, rt, actor=actor, body=body, key=key, client=client_info(request)
        )
        return 201, out.model_dump(mode="json")

    return await idempotent(
        request,
        uow,
        scope=actor.actor_id,
        key=key,
        body=body.model_dump(mode="json"),
        run=run,
        ttl=rt.settings.commerce_idempotency_ttl_seconds,
        wait=rt.settings.commerce_idempotency_wait_seconds,
    )


@router.post("/broadcasts", status_code=201, response_model=BroadcastOut)
async def create_broadcast(
    body: BroadcastIn,
    request: Request,
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> BroadcastOut:
    return await broadcasts.create_broadcast(
        uow, runtime_of(request), actor=actor, body=body, client=client_info(request)
    )


@router.get("/broadcasts", response_model=Page[BroadcastOut])
async def list_broadcasts(
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[BroadcastOut]:
    return await broadcasts.list_broadcasts(uow, page)


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastOut)
async def get_broadcast(
    broadcast_id: str = BroadcastId,
    _staff: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> BroadcastOut:
    return await broadcasts.get_broadcast(uow, broadcast_id)


@router.post("/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
async def cancel_broadcast(
    request: Request,
    broadcast_id: str = BroadcastId,
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> BroadcastOut:
    return await broadcasts.cancel_broadcast(
        uow, actor=actor, broadcast_id=broadcast_id, client=client_info(request)
    )
