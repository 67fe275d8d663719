"""HTTP routes of data export and erasure (/api/v1 relative): the player's own requests under
`/users/me`, and staff's for a player under `/admin`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Depends, Query, Request

from playerplatform.auth.deps import Principal, rate_limit, require_role, require_user
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow, replica_reads
from playerplatform.privacy import service
from playerplatform.privacy.schemas import PrivacyRequestOut
from playerplatform.users import service as users
from playerplatform.users.schemas import CanonicalIdPath as CanonicalId

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

router = APIRouter()
players = APIRouter(
    prefix="/users/me",
    tags=["privacy"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)
staff = APIRouter(
    prefix="/admin",
    tags=["privacy"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@players.post("/export", status_code=202, response_model=PrivacyRequestOut)
async def export_my_data(
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> PrivacyRequestOut:
    assert principal.user_id is not None
    return await service.request_export(
        uow,
        _runtime(request),
        user_id=principal.user_id,
        actor=principal,
        client=client_info(request),
    )


@players.post("/erase", status_code=202, response_model=PrivacyRequestOut)
async def erase_my_account(
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> PrivacyRequestOut:
    assert principal.user_id is not None
    return await service.request_erasure(
        uow,
        _runtime(request),
        user_id=principal.user_id,
        actor=principal,
        client=client_info(request),
    )


@players.get("/privacy-requests", response_model=list[PrivacyRequestOut])
@replica_reads
async def my_privacy_requests(
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> list[PrivacyRequestOut]:
    assert principal.user_id is not None
    return await service.my_requests(uow, _runtime(request), principal.user_id)


@staff.post("/users/{canonical_id}/export", status_code=202, response_model=PrivacyRequestOut)
async def export_player_data(
    request: Request,
    canonical_id: str = CanonicalId,
    admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> PrivacyRequestOut:
    player = await users.find_by_canonical(uow, canonical_id)
    return await service.request_export(
        uow, _runtime(request), user_id=player.id, actor=admin, client=client_info(request)
    )


@staff.post("/users/{canonical_id}/erase", status_code=202, response_model=PrivacyRequestOut)
async def erase_player(
    request: Request,
    canonical_id: str = CanonicalId,
    admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> PrivacyRequestOut:
    player = await users.find_by_canonical(uow, canonical_id)
    return await service.request_erasure(
        uow, _runtime(request), user_id=player.id, actor=admin, client=client_info(request)
    )


@staff.get("/privacy-requests", response_model=list[PrivacyRequestOut])
@replica_reads
async def list_privacy_requests(
    request: Request,
    kind: Literal["export", "erasure"] | None = Query(None),
    status: Literal["pending", "ready", "scheduled", "cancelled", "done"] | None = Query(None),
    limit: int = Query(50, ge=1, le=100),
    _admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> list[PrivacyRequestOut]:
    return await service.recent_requests(
        uow, _runtime(request), kind=kind, status=status, limit=limit
    )


router.include_router(players)
router.include_router(staff)
