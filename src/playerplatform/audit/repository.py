"""Reading the audit log (writing is `audit.service.record`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

from playerplatform.audit.models import AuditLog, AuditSubject
from playerplatform.audit.schemas import AuditFilters
from playerplatform.kit.db import UnitOfWork


async def find_entries(
    uow: UnitOfWork, filters: AuditFilters, *, before_id: int | None, limit: int
) -> list[AuditLog]:
    """Entries matching every given filter, newest first. `user` matches the actor or any
    account the entry touched."""
    query = sa.select(AuditLog)
    if filters.actor:
        query = query.where(AuditLog.actor_id == filters.actor)
    if filters.user:
        touched = sa.select(AuditSubject.audit_id).where(AuditSubject.subject_id == filters.user)
        query = query.where(sa.or_(AuditLog.actor_id == filters.user, AuditLog.id.in_(touched)))
    if filters.action:
        query = query.where(AuditLog.action == filters.action)
    if filters.resource_type:
        query = query.where(AuditLog.resource_type == filters.resource_type)
    if filters.since is not None:
        query = query.where(AuditLog.created_at >= filters.since)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    query = query.order_by(AuditLog.id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def subjects_of(uow: UnitOfWork, audit_ids: Sequence[int]) -> dict[int, list[str]]:
    """Touched accounts for a page of entries, in one query."""
    out: dict[int, list[str]] = defaultdict(list)
    if not audit_ids:
        return out
    rows = await uow.session.execute(
        sa.select(AuditSubject.audit_id, AuditSubject.subject_id)
        .where(AuditSubject.audit_id.in_(list(audit_ids)))
        .order_by(AuditSubject.audit_id, AuditSubject.subject_id)
    )
    for audit_id, subject_id in rows:
        out[audit_id].append(subject_id)
    return out


async def entries_about(
    uow: UnitOfWork, *, resource_type: str, resource_id: str, actions: Sequence[str], limit: int
) -> list[AuditLog]:
    """The newest entries with these actions about one resource (e.g. a user's bans). The
    subjects index finds the candidates; the resource filter drops entries where the account
    was only the actor."""
    touched = sa.select(AuditSubject.audit_id).where(AuditSubject.subject_id == resource_id)
    result = await uow.session.execute(
        sa.select(AuditLog)
        .where(
            AuditLog.id.in_(touched),
            AuditLog.resource_type == resource_type,
            AuditLog.resource_id == resource_id,
            AuditLog.action.in_(list(actions)),
        )
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    return list(result.scalars())
