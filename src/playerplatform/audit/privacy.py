"""The audit domain's part of a player's data export and erasure. The audit log is kept:
erasure rewrites the entries about the player to name the pseudonym instead of their
canonical id, drops the IP address and user agent of their own requests, and blanks their
personal strings (email, display name, provider ids) wherever an entry's values hold them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.audit.models import AuditLog, AuditSubject
from playerplatform.kit.db import UnitOfWork, column_values

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("audit_logs", "audit_log_subjects")
ERASED_TEXT = "[erased]"


def _about(canonical_id: str) -> Any:
    subjects = sa.select(AuditSubject.audit_id).where(AuditSubject.subject_id == canonical_id)
    return sa.or_(
        AuditLog.actor_id == canonical_id,
        AuditLog.resource_id == canonical_id,
        AuditLog.id.in_(subjects),
    )


async def export_audit(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    from playerplatform.users import service as users

    canonical_id = (await users.get_user(uow, user_id)).canonical_id
    found = await uow.session.execute(
        sa.select(AuditLog).where(_about(canonical_id)).order_by(AuditLog.id)
    )
    return [column_values(row) for row in found.scalars()]


async def erase_audit(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    found = await uow.session.execute(sa.select(AuditLog).where(_about(subject.canonical_id)))
    for row in found.scalars():
        if row.actor_id == subject.canonical_id:
            row.actor_id, row.ip, row.user_agent = subject.pseudonym, None, None
        if row.resource_id is not None:
            row.resource_id = _scrubbed(row.resource_id, subject)
        row.old_values = _scrubbed(row.old_values, subject)
        row.new_values = _scrubbed(row.new_values, subject)
    await uow.session.execute(
        sa.update(AuditSubject)
        .where(AuditSubject.subject_id == subject.canonical_id)
        .values(subject_id=subject.pseudonym)
    )
    await uow.session.flush()


def _scrubbed(value: Any, subject: ErasureSubject) -> Any:
    """`value` with the canonical id replaced by the pseudonym and every personal string
    blanked, wherever it is (keys included)."""
    if isinstance(value, dict):
        return {_scrubbed(k, subject): _scrubbed(v, subject) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, subject) for v in value]
    if isinstance(value, str):
        for personal in subject.personal:
            value = value.replace(personal, ERASED_TEXT)
        return value.replace(subject.canonical_id, subject.pseudonym)
    return value
