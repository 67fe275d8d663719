"""Wire models of the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from playerplatform.audit.models import AuditLog
from playerplatform.kit.pagination import CursorId, CursorKey


class AuditLogOut(BaseModel):
    id: int
    created_at: dt.datetime
    actor_id: str
    actor_type: str
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    ip: str | None
    user_agent: str | None
    request_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    subjects: list[str]

    @classmethod
    def of(cls, row: AuditLog, subjects: list[str]) -> AuditLogOut:
        return cls(
            id=row.id,
            created_at=row.created_at,
            actor_id=row.actor_id,
            actor_type=row.actor_type,
            action=row.action,
            resource_type=row.resource_type,
            resource_id=row.resource_id,
            outcome=row.outcome,
            ip=row.ip,
            user_agent=row.user_agent,
            request_id=row.request_id,
            old_values=row.old_values,
            new_values=row.new_values,
            subjects=subjects,
        )


class AuditCursor(CursorKey):
    """Newest first by id: ids only grow, so `id < last` is a stable page boundary."""

    i: CursorId


class AuditFilters(BaseModel):
    actor: str | None = None
    user: str | None = None
    action: str | None = None
    resource_type: str | None = None
    since: dt.datetime | None = None
