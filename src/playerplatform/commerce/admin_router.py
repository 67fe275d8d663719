"""Staff routes of the commerce domain: the catalog, grants and refunds (admin role)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.commerce import catalog, grants, refunds
from playerplatform.commerce.schemas import (
    SKU_ID,
    GrantIn,
    GrantOut,
    OrderOut,
    RefundIn,
    SkuIn,
    SkuOut,
    SkuPatch,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow, replica_reads
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.runtime import Runtime
from playerplatform.users.schemas import CanonicalIdPath

router = APIRouter(
    prefix="/admin",
    tags=["admin", "commerce"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)
admin = require_role("admin")
SkuIdPath = Path(pattern=SKU_ID.pattern, description="The SKU's id.")


@router.post("/skus", status_code=201, response_model=SkuOut)
async def create_sku(
    body: SkuIn,
    request: Request,
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> SkuOut:
    return await catalog.create_sku(uow, actor=actor, body=body, client=client_info(request))


@router.get("/skus", response_model=Page[SkuOut])
@replica_reads
async def list_skus(
    page: PageParams = Depends(page_params),
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[SkuOut]:
    return await catalog.list_catalog(uow, page, include_inactive=True)


@router.get("/skus/{sku_id}", response_model=SkuOut)
@replica_reads
async def get_sku(
    sku_id: str = SkuIdPath,
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> SkuOut:
    return await catalog.get_sku(uow, sku_id)


@router.patch("/skus/{sku_id}", response_model=SkuOut)
async def update_sku(
    patch: SkuPatch,
    request: Request,
    sku_id: str = SkuIdPath,
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> SkuOut:
    return await catalog.update_sku(
        uow, actor=actor, sku_id=sku_id, patch=patch, client=client_info(request)
    )


@router.post(
    "/users/{canonical_id}/grants", response_model=None, responses={200: {"model": GrantOut}}
)
async def grant(
    body: GrantIn,
    request: Request,
    canonical_id: str = CanonicalIdPath,
    actor: Principal = Depends(admin),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    rt: Runtime = request.app.state.runtime

    async def run() -> tuple[int, object]:
        out = await grants.admin_grant(
            uow,
            rt,
            actor=actor,
            canonical_id=canonical_id,
            body=body,
            key=key,
            client=client_info(request),
        )
        return 200, out.model_dump(mode="json")

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


@router.post("/orders/{order_id}/refund", response_model=OrderOut)
async def refund_order(
    body: RefundIn,
    request: Request,
    order_id: str = Path(min_length=1, max_length=64),
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> OrderOut:
    return await refunds.refund_order(
        uow,
        request.app.state.runtime,
        actor=actor,
        order_id=order_id,
        reason=body.reason,
        client=client_info(request),
    )
