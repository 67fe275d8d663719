"""HTTP routes of the commerce domain (every path, /api/v1 relative, admin included).

Players only ever reach their own orders, entitlements and wallet: no player route takes
another player's id, and an order id that belongs to someone else is 404 like an unknown one.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from playerplatform.auth.deps import (
    Principal,
    optional_principal,
    rate_limit,
    require_user,
)
from playerplatform.commerce import catalog, epic_purchases, orders, wallet
from playerplatform.commerce.admin_router import router as admin_router
from playerplatform.commerce.schemas import SKU_ID as SKU_PATTERN
from playerplatform.commerce.schemas import (
    EntitlementOut,
    LedgerEntryOut,
    OrderOut,
    OwnershipOut,
    SkuOut,
    SpendIn,
    SpendOut,
    SteamOrderIn,
    VerifyIn,
    VerifyOut,
    WalletOut,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import (
    TransactionalRoute,
    get_uow,
    json_answer,
    replica_reads,
    single_statement_writes,
)
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


player_router = APIRouter(
    prefix="/commerce",
    tags=["commerce"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)

SkuQuery = Query(pattern=SKU_PATTERN.pattern)


async def my_user_id(principal: Principal = Depends(require_user)) -> uuid.UUID:
    assert principal.user_id is not None
    return principal.user_id


def _idempotency_options(rt: Runtime) -> dict[str, float]:
    return {
        "ttl": rt.settings.commerce_idempotency_ttl_seconds,
        "wait": rt.settings.commerce_idempotency_wait_seconds,
    }


@player_router.get("/skus", response_model=Page[SkuOut])
@replica_reads
async def list_skus(
    request: Request,
    page: PageParams = Depends(page_params),
    _caller: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    return json_answer(await catalog.catalog_json(uow, runtime_of(request).views, page))


@player_router.post(
    "/steam/orders", status_code=201, response_model=None, responses={201: {"model": OrderOut}}
)
async def create_steam_order(
    body: SteamOrderIn,
    request: Request,
    principal: Principal = Depends(require_user),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    rt = runtime_of(request)
    assert principal.user_id is not None
    user_id = principal.user_id

    async def run() -> tuple[int, object]:
        order = await orders.create_steam_order(uow, rt, user_id, body)
        return 201, order.model_dump(mode="json")

    return await idempotent(
        request,
        uow,
        scope=principal.actor_id,
        key=key,
        body=body.model_dump(mode="json"),
        run=run,
        **_idempotency_options(rt),
    )


@player_router.post("/verify-receipt", response_model=None, responses={200: {"model": VerifyOut}})
async def verify_receipt(
    body: VerifyIn,
    request: Request,
    principal: Principal = Depends(require_user),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    rt = runtime_of(request)
    assert principal.user_id is not None
    user_id = principal.user_id

    async def run() -> tuple[int, object]:
        if body.provider == "epic":
            out = await epic_purchases.verify_epic(uow, rt, user_id)
        else:
            assert body.order_id is not None
            out = await orders.verify_steam_order(uow, rt, user_id, body.order_id)
        return 200, out.model_dump(mode="json")

    return await idempotent(
        request,
        uow,
        scope=principal.actor_id,
        key=key,
        body=body.model_dump(mode="json"),
        run=run,
        **_idempotency_options(rt),
    )


@player_router.get("/orders", response_model=Page[OrderOut])
async def list_orders(
    request: Request,
    page: PageParams = Depends(page_params),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    views = runtime_of(request).views
    return json_answer(await orders.orders_json(uow, views, user_id, page))


@player_router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(
    order_id: str = Path(min_length=1, max_length=64),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> OrderOut:
    return await orders.get_order(uow, user_id, order_id)


@player_router.get("/entitlements", response_model=Page[EntitlementOut])
async def list_entitlements(
    request: Request,
    status: Literal["active", "revoked", "expired"] | None = Query(None),
    page: PageParams = Depends(page_params),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    views = runtime_of(request).views
    return json_answer(await wallet.entitlements_json(uow, views, user_id, status, page))


@player_router.get("/entitlements/check", response_model=OwnershipOut)
async def check_entitlement(
    request: Request,
    sku_id: str = SkuQuery,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> OwnershipOut:
    rt = runtime_of(request)
    assert principal.user_id is not None
    owned = await wallet.check_ownership(
        uow, rt.hot, rt.settings, principal.user_id, principal.subject, sku_id
    )
    return OwnershipOut(sku_id=sku_id, owned=owned)


@player_router.get("/wallet", response_model=WalletOut)
async def get_wallet(
    request: Request, user_id: uuid.UUID = Depends(my_user_id), uow: UnitOfWork = Depends(get_uow)
) -> Response:
    return json_answer(await wallet.wallet_json(uow, runtime_of(request).views, user_id))


@player_router.get("/wallet/ledger", response_model=Page[LedgerEntryOut])
async def get_ledger(
    request: Request,
    sku_id: str | None = Query(None, pattern=SKU_PATTERN.pattern),
    page: PageParams = Depends(page_params),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    views = runtime_of(request).views
    return json_answer(await wallet.ledger_json(uow, views, user_id, sku_id, page))


@player_router.post("/wallet/spend", response_model=None, responses={200: {"model": SpendOut}})
@single_statement_writes
async def spend(
    body: SpendIn,
    request: Request,
    principal: Principal = Depends(require_user),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    rt = runtime_of(request)
    assert principal.user_id is not None
    user_id = principal.user_id

    async def run() -> tuple[int, object]:
        balance = await wallet.spend(
            uow,
            rt.settings,
            user_id=user_id,
            sku_id=body.sku_id,
            quantity=body.quantity,
            reason=body.reason,
        )
        return 200, SpendOut(sku_id=body.sku_id, balance_after=balance).model_dump(mode="json")

    return await idempotent(
        request,
        uow,
        scope=principal.actor_id,
        key=key,
        body=body.model_dump(mode="json"),
        run=run,
        **_idempotency_options(rt),
    )


router = APIRouter()
router.include_router(player_router)
router.include_router(admin_router)
