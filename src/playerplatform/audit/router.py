"""`GET /admin/audit-logs`: the audit log for staff.

Moderators may read it as well as admins: sanction and moderation history is their daily
work, and the admin user detail already shows them a user's bans.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from playerplatform.audit import service as audit
from playerplatform.audit.schemas import AuditFilters, AuditLogOut
from playerplatform.auth.deps import Principal, rate_limit, require_role
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.edge import Timestamp
from playerplatform.kit.http import TransactionalRoute, get_uow, replica_reads
from playerplatform.kit.pagination import Page, PageParams, page_params

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)


async def audit_filters(
    actor: str | None = Query(None, max_length=64, description="Actor id (exact)."),
    user: str | None = Query(
        None, max_length=64, description="Canonical id: the actor or any account touched."
    ),
    action: str | None = Query(None, max_length=64, description="Action (exact)."),
    resource_type: str | None = Query(None, max_length=32),
    since: Timestamp | None = Query(None, description="RFC 3339; entries at or after it."),
) -> AuditFilters:
    return AuditFilters(
        actor=actor, user=user, action=action, resource_type=resource_type, since=since
    )


@router.get("/audit-logs", response_model=Page[AuditLogOut])
@replica_reads
async def list_audit_logs(
    filters: AuditFilters = Depends(audit_filters),
    page: PageParams = Depends(page_params),
    _staff: Principal = Depends(require_role("moderator")),
    uow: UnitOfWork = Depends(get_uow),
) -> Page[AuditLogOut]:
    return await audit.read_audit_log(uow, filters, page)
