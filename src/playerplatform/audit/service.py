"""Writing the audit log. Every admin or moderator write and every security event calls
`record` inside the same unit of work as the change it describes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from playerplatform.audit import repository
from playerplatform.audit.models import AuditLog, AuditSubject
from playerplatform.audit.schemas import AuditCursor, AuditFilters, AuditLogOut
from playerplatform.kit.db import Row, UnitOfWork, utcnow
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal

SYSTEM_ACTOR = "system"


def entry(
    *,
    action: str,
    resource_type: str,
    actor: Principal | str | None = None,
    resource_id: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    client: ClientInfo | None = None,
    outcome: str = "success",
) -> Row:
    """An audit row, not yet written: for `kit.db.insert_together` (a write batched with
    others), or for `record`."""
    if actor is None:
        actor_id, actor_type = SYSTEM_ACTOR, "system"
    elif isinstance(actor, str):
        actor_id, actor_type = actor, "user"
    else:
        actor_id, actor_type = actor.actor_id, actor.kind
    return (
        AuditLog.__table__,
        {
            "created_at": utcnow(),
            "actor_id": actor_id,
            "actor_type": actor_type,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "outcome": outcome,
            "ip": client.ip if client else None,
            "user_agent": client.user_agent if client else None,
            "request_id": client.request_id if client else None,
            "old_values": dict(old) if old is not None else None,
            "new_values": dict(new) if new is not None else None,
        },
    )


async def record(
    uow: UnitOfWork,
    *,
    action: str,
    resource_type: str,
    actor: Principal | str | None = None,
    resource_id: str | None = None,
    subjects: Iterable[str] = (),
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    client: ClientInfo | None = None,
    outcome: str = "success",
) -> None:
    """Append one audit row. `actor` is the caller (a Principal), an actor id string, or None
    for the system; `subjects` are the canonical ids of the accounts the action touched
    (`GET /admin/audit-logs?user=X` matches X as actor or as subject)."""
    _, values = entry(
        action=action,
        resource_type=resource_type,
        actor=actor,
        resource_id=resource_id,
        old=old,
        new=new,
        client=client,
        outcome=outcome,
    )
    row = AuditLog(**values)
    uow.session.add(row)
    # The actor is matched through `actor_id`; subject rows name the other accounts touched.
    touched = sorted({s for s in subjects if s and s != row.actor_id})
    if touched:
        await uow.session.flush()
        uow.session.add_all(AuditSubject(audit_id=row.id, subject_id=s) for s in touched)


# Reading, for staff.


async def read_audit_log(
    uow: UnitOfWork, filters: AuditFilters, page: PageParams
) -> Page[AuditLogOut]:
    """Audit entries matching the filters, newest first; subjects loaded for the whole page
    at once."""
    after = decode_cursor(page.cursor, AuditCursor)
    rows = await repository.find_entries(
        uow, filters, before_id=after.i if after else None, limit=page.limit + 1
    )
    subjects = await repository.subjects_of(uow, [r.id for r in rows[: page.limit]])
    return paginate(
        rows,
        page.limit,
        lambda r: AuditCursor(i=r.id),
        lambda r: AuditLogOut.of(r, subjects.get(r.id, [])),
    )


async def entries_about(
    uow: UnitOfWork, *, resource_type: str, resource_id: str, actions: Sequence[str], limit: int
) -> list[AuditLog]:
    """The newest entries with these actions about one resource (e.g. a user's bans)."""
    return await repository.entries_about(
        uow, resource_type=resource_type, resource_id=resource_id, actions=actions, limit=limit
    )
