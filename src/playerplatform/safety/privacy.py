"""The safety domain's part of a player's data export and erasure. Moderation records
(sanctions, reports made and received, appeals) are kept after an erasure, keyed by the
pseudonymous account they already point to; the player's feedback (their own words, build,
platform and context) is deleted with its attachments' records."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.owned_rows import delete_rows, export_rows
from playerplatform.safety.models import (
    Feedback,
    FeedbackAttachment,
    Report,
    ReportGroup,
    Sanction,
    SanctionAppeal,
)

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

OWNED: dict[str, tuple[Any, str]] = {
    "safety_sanctions": (Sanction, "user_id"),
    "safety_report_groups": (ReportGroup, "target_user_id"),
    "safety_reports": (Report, "reporter_id"),
    "safety_appeals": (SanctionAppeal, "appellant_id"),
    "safety_feedback": (Feedback, "user_id"),
}
TABLES = tuple(OWNED)


async def export_safety(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> dict[str, list[dict[str, Any]]]:
    return {
        name: await export_rows(uow, model, column, user_id)
        for name, (model, column) in OWNED.items()
    }


async def erase_safety(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    mine = sa.select(Feedback.id).where(Feedback.user_id == subject.user_id)
    await uow.session.execute(
        sa.delete(FeedbackAttachment).where(FeedbackAttachment.feedback_id.in_(mine))
    )
    await delete_rows(uow, Feedback, "user_id", subject.user_id)
