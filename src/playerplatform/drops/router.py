"""HTTP routes of the drops domain: the player's drops and sync, and the staff's campaigns."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from playerplatform.auth.deps import Principal, rate_limit, require_role, require_user
from playerplatform.drops import campaigns, repository, subscriptions, sync
from playerplatform.drops.models import drops_owner
from playerplatform.drops.schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStats,
    DropOut,
    DropPageKey,
    StaffDropOut,
    SubscriptionOut,
    SyncOut,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow, json_answer
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, page_params, paginate
from playerplatform.runtime import Runtime

router = APIRouter(
    prefix="/drops",
    tags=["drops"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)
admin_router = APIRouter(
    prefix="/admin",
    tags=["admin", "drops"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)
admin = require_role("admin")
CampaignIdPath = Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")


def _page_key(row: object) -> DropPageKey:
    return DropPageKey(t=row.created_at, i=row.drop_id)  # type: ignore[attr-defined]


def _user_id(principal: Principal) -> uuid.UUID:
    assert principal.user_id is not None
    return principal.user_id


@router.get("", response_model=Page[DropOut])
async def my_drops(
    request: Request,
    page: PageParams = Depends(page_params),
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    """The caller's drops, newest first: encoded, from the player's cached view while none
    of their drops changed."""
    user_id = _user_id(principal)
    after = decode_cursor(page.cursor, DropPageKey)

    async def load() -> bytes:
        rows = await repository.drops_of_user(
            uow, user_id, after=(after.t, after.i) if after else None, limit=page.limit + 1
        )
        return paginate(rows, page.limit, _page_key, DropOut.of).model_dump_json().encode()

    views = request.app.state.runtime.views
    return json_answer(await views.read(drops_owner(user_id), page.view_name("page"), load))


@router.post("/sync", response_model=None, responses={200: {"model": SyncOut}})
async def sync_drops(
    request: Request,
    principal: Principal = Depends(require_user),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    """Pull the caller's CLAIMED drops from Twitch now, grant them, and mark them FULFILLED
    (after the answer); returns the drops this call granted. 409 `twitch_not_linked`."""
    rt: Runtime = request.app.state.runtime
    # Twitch first, before the transaction writes (an idempotent replay asks Twitch too, then
    # answers what the first call answered).
    pulled = await sync.pull_player(rt, _user_id(principal))

    async def run() -> tuple[int, object]:
        out = await sync.grant_pulled(uow, rt, pulled)
        return 200, out.model_dump(mode="json")

    return await idempotent(
        request,
        uow,
        scope=principal.actor_id,
        key=key,
        body={},
        run=run,
        ttl=rt.settings.commerce_idempotency_ttl_seconds,
        wait=rt.settings.commerce_idempotency_wait_seconds,
    )


@admin_router.post("/campaigns", status_code=201, response_model=CampaignOut)
async def create_campaign(
    body: CampaignIn,
    request: Request,
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> CampaignOut:
    return await campaigns.create_campaign(uow, body, actor=actor, client=client_info(request))


@admin_router.get("/campaigns", response_model=Page[CampaignOut])
async def list_campaigns(
    status: Literal["draft", "active", "ended"] | None = Query(None),
    page: PageParams = Depends(page_params),
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[CampaignOut]:
    rows = await campaigns.list_campaigns(uow, status=status, page=page)
    return paginate(
        rows, page.limit, lambda c: DropPageKey(t=c.created_at, i=c.campaign_id), CampaignOut.of
    )


@admin_router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
async def get_campaign(
    campaign_id: str = CampaignIdPath,
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> CampaignOut:
    return await campaigns.get_campaign(uow, campaign_id)


@admin_router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def update_campaign(
    patch: CampaignPatch,
    request: Request,
    campaign_id: str = CampaignIdPath,
    actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> CampaignOut:
    return await campaigns.update_campaign(
        uow, campaign_id, patch, actor=actor, client=client_info(request)
    )


@admin_router.get("/campaigns/{campaign_id}/stats", response_model=CampaignStats)
async def campaign_stats(
    campaign_id: str = CampaignIdPath,
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> CampaignStats:
    return await campaigns.campaign_stats(uow, campaign_id)


@admin_router.get("/drops/unmapped", response_model=Page[StaffDropOut])
async def unmapped_drops(
    page: PageParams = Depends(page_params),
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[StaffDropOut]:
    """Entitlements whose benefit no active campaign mapped: recorded, not granted."""
    after = decode_cursor(page.cursor, DropPageKey)
    rows = await repository.list_unmapped(
        uow, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    return paginate(rows, page.limit, _page_key, StaffDropOut.of)


@admin_router.get("/twitch/subscriptions", response_model=list[SubscriptionOut])
async def twitch_subscriptions(
    _actor: Principal = Depends(admin),
    uow: UnitOfWork = Depends(get_uow),
) -> list[SubscriptionOut]:
    """The EventSub subscriptions as last recorded (revoked ones with `revoked_at`)."""
    return await subscriptions.recorded_subscriptions(uow)
