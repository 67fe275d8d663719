"""Admin API for accounts: search, detail, bans, roles, and the dev mailbox.

Moderators may search, read details, ban and unban players; only admins may sanction staff,
change roles or read the mailbox.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from playerplatform.admin import service
from playerplatform.admin.schemas import AdminUserOut, BanIn, MailOut, RolesIn, UnbanIn
from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import TransactionalRoute, client_info, get_uow, replica_reads
from playerplatform.kit.pagination import Page, PageParams, page_params
from playerplatform.users.schemas import CanonicalIdPath as CanonicalId
from playerplatform.users.schemas import UserOut

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)


@router.get("/users", response_model=Page[UserOut])
@replica_reads
async def search_users(
    q: str | None = Query(
        None,
        max_length=320,
        description="Canonical id (or prefix), email, provider id or display name.",
    ),
    status: Literal["active", "banned", "merged"] | None = Query(
        None, description="Only accounts in this status (`banned`: the bans list)."
    ),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(require_role("moderator")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[UserOut]:
    return await service.search_users(uow, q, page, status=status)


@router.get("/users/{canonical_id}", response_model=AdminUserOut)
async def get_user(
    request: Request,
    canonical_id: str = CanonicalId,
    _staff: Principal = Depends(require_role("moderator")),
    uow: UnitOfWork = Depends(get_uow),
) -> AdminUserOut:
    return await service.user_detail(uow, request.app.state.runtime, canonical_id)


@router.post("/users/{canonical_id}/ban", response_model=AdminUserOut)
async def ban_user(
    body: BanIn,
    request: Request,
    canonical_id: str = CanonicalId,
    staff: Principal = Depends(require_role("moderator")),
    uow: UnitOfWork = Depends(get_uow),
) -> AdminUserOut:
    return await service.ban_user(
        uow,
        request.app.state.runtime,
        actor=staff,
        canonical_id=canonical_id,
        ban=body,
        client=client_info(request),
    )


@router.post("/users/{canonical_id}/unban", response_model=AdminUserOut)
async def unban_user(
    body: UnbanIn,
    request: Request,
    canonical_id: str = CanonicalId,
    staff: Principal = Depends(require_role("moderator")),
    uow: UnitOfWork = Depends(get_uow),
) -> AdminUserOut:
    return await service.unban_user(
        uow,
        request.app.state.runtime,
        actor=staff,
        canonical_id=canonical_id,
        unban=body,
        client=client_info(request),
    )


@router.put("/users/{canonical_id}/roles", response_model=AdminUserOut)
async def set_roles(
    body: RolesIn,
    request: Request,
    canonical_id: str = CanonicalId,
    admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> AdminUserOut:
    return await service.change_roles(
        uow,
        request.app.state.runtime,
        actor=admin,
        canonical_id=canonical_id,
        change=body,
        client=client_info(request),
    )


@router.get("/mailbox", response_model=Page[MailOut])
async def read_mailbox(
    to: str | None = Query(None, max_length=320, description="Recipient address (any case)."),
    page: PageParams = Depends(page_params),
    _admin: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[MailOut]:
    return await service.read_mailbox(uow, to, page)
