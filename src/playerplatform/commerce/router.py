"""HTTP routes of the commerce domain (every path, /api/v1 relative, admin included).

Players only ever reach their own orders, entitlements and wallet: no player route takes
another player's id, and an order id that belongs to someone else is 404 like an unknown one.
"""

from __future__ import annotations

import functools
import uuid
from typing import Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from playerplatform.auth.deps import (
    Principal,
    hot_caller,
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
from playerplatform.kit.errors import Forbidden, NotFound
from playerplatform.kit.hotpath import HotRequest, JsonAnswer, hot_path
from playerplatform.kit.http import TransactionalRoute, get_uow
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

SkuQuery = Query(min_length=1, max_length=64, pattern=SKU_PATTERN.pattern)


async def my_user_id(principal: Principal = Depends(require_user)) -> uuid.UUID:
    assert principal.user_id is not None
    return principal.user_id


def _idempotency_options(rt: Runtime) -> dict[str, float]:
    return {
        "ttl": rt.settings.commerce_idempotency_ttl_seconds,
        "wait": rt.settings.commerce_idempotency_wait_seconds,
    }


@player_router.get("/skus", response_model=Page[SkuOut])
async def list_skus(
    page: PageParams = Depends(page_params),
    _caller: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[SkuOut]:
    return await catalog.list_catalog(uow, page)


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
    page: PageParams = Depends(page_params),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[OrderOut]:
    return await orders.list_orders(uow, user_id, page)


@player_router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(
    order_id: str,
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> OrderOut:
    return await orders.get_order(uow, user_id, order_id[:64])


@player_router.get("/entitlements", response_model=Page[EntitlementOut])
async def list_entitlements(
    status: Literal["active", "revoked", "expired"] | None = Query(None),
    page: PageParams = Depends(page_params),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[EntitlementOut]:
    return await wallet.entitlements_page(uow, user_id, status, page)


async def serve_entitlement_check(request: HotRequest) -> JsonAnswer | None:
    """`GET /commerce/entitlements/check` on the hot path: the token's session and ban state
    and the cached answer come from the process's copies, the read rate limit from its tally."""
    sku_id = request.sole_param("sku_id")
    if sku_id is None:
        query = request.query()
        if len(query) != 1 or query[0][0] != "sku_id":
            return None  # the endpoint answers the unusual cases (422)
        sku_id = query[0][1]
    if request.authorization is None or not SKU_PATTERN.fullmatch(sku_id):
        return None  # the endpoint answers these too (401, 422)

    def cached_answer(canonical_id: str) -> list[str]:
        return [wallet.ownership_key(canonical_id, sku_id)]

    found = await hot_caller(request, "read", extra_keys=cached_answer)
    principal = found.principal
    runtime = request.runtime
    if principal is None or principal.kind != "user" or principal.user_id is None:
        raise Forbidden("This route is for players, not service accounts.")
    settings = runtime.settings
    known = wallet.cached_sku_type(settings, sku_id)
    if (
        known is None
        and await wallet.sku_type_outside_request(runtime.db, settings, sku_id) is None
    ):
        raise NotFound(f"No SKU '{sku_id}'.")
    cached = found.extras[0]
    if cached is not None:
        owned = cached == "1"
    else:
        async with runtime.db.unit_of_work(write=False) as uow:
            owned = await wallet.load_ownership(
                uow, runtime.hot, settings, principal.user_id, principal.subject, sku_id
            )
    return JsonAnswer(_ownership_answer(sku_id, owned), found.rate_headers)


@functools.lru_cache(maxsize=4096)
def _ownership_answer(sku_id: str, owned: bool) -> bytes:
    return orjson.dumps({"sku_id": sku_id, "owned": owned})


@player_router.get("/entitlements/check", response_model=OwnershipOut)
@hot_path(serve_entitlement_check)
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
    user_id: uuid.UUID = Depends(my_user_id), uow: UnitOfWork = Depends(get_uow)
) -> WalletOut:
    balances = await wallet.balances_view(uow, user_id)
    return WalletOut(balances=balances, in_debt=any(b.balance < 0 for b in balances))


@player_router.get("/wallet/ledger", response_model=Page[LedgerEntryOut])
async def get_ledger(
    sku_id: str | None = Query(None, min_length=1, max_length=64),
    page: PageParams = Depends(page_params),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[LedgerEntryOut]:
    return await wallet.ledger_page(uow, user_id, sku_id, page)


@player_router.post("/wallet/spend", response_model=None, responses={200: {"model": SpendOut}})
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
            uow, user_id=user_id, sku_id=body.sku_id, quantity=body.quantity, reason=body.reason
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
