"""Writing the audit log. Every admin or moderator write and every security event calls
`record` inside the same unit of work as the change it describes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from playerplatform.audit.models import AuditLog, AuditSubject
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import ClientInfo

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal

SYSTEM_ACTOR = "system"


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
    for the system; `subjects` are the canonical ids of every account the action touched."""
    if actor is None:
        actor_id, actor_type = SYSTEM_ACTOR, "system"
    elif isinstance(actor, str):
        actor_id, actor_type = actor, "user"
    else:
        actor_id, actor_type = actor.actor_id, actor.kind
    entry = AuditLog(
        actor_id=actor_id,
        actor_type=actor_type,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome,
        ip=client.ip if client else None,
        user_agent=client.user_agent if client else None,
        request_id=client.request_id if client else None,
        old_values=dict(old) if old is not None else None,
        new_values=dict(new) if new is not None else None,
    )
    uow.session.add(entry)
    # The actor is matched through `actor_id`; subject rows name the other accounts touched.
    touched = sorted({s for s in subjects if s and s != actor_id})
    if touched:
        await uow.session.flush()
        uow.session.add_all(AuditSubject(audit_id=entry.id, subject_id=s) for s in touched)
