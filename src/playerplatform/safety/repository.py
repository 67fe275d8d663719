"""Every query of the safety domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from playerplatform.kit.db import UnitOfWork
from playerplatform.safety.models import (
    Feedback,
    FeedbackAttachment,
    QueueItem,
    Report,
    ReportGroup,
    Sanction,
    SanctionAppeal,
)


async def _insert(uow: UnitOfWork, row: Any) -> bool:
    """Insert `row` in a savepoint; False when a unique constraint refused it."""
    try:
        async with uow.session.begin_nested():
            uow.session.add(row)
            await uow.session.flush()
    except IntegrityError:
        return False
    return True


# Sanctions.


async def insert_sanction(uow: UnitOfWork, row: Sanction) -> None:
    uow.session.add(row)
    await uow.session.flush()


async def get_sanction(
    uow: UnitOfWork, public_id: str, *, for_update: bool = False
) -> Sanction | None:
    query = sa.select(Sanction).where(Sanction.public_id == public_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_sanction_by_id(uow: UnitOfWork, sanction_id: uuid.UUID) -> Sanction | None:
    return await uow.session.get(Sanction, sanction_id)


async def unlifted_sanctions(uow: UnitOfWork, user_id: uuid.UUID) -> list[Sanction]:
    """The account's sanctions not lifted (some may have run out)."""
    rows = await uow.session.execute(
        sa.select(Sanction)
        .where(Sanction.user_id == user_id, Sanction.lifted_at.is_(None))
        .order_by(Sanction.created_at)
    )
    return list(rows.scalars())


async def sanctions_of(uow: UnitOfWork, user_id: uuid.UUID, limit: int = 200) -> list[Sanction]:
    rows = await uow.session.execute(
        sa.select(Sanction)
        .where(Sanction.user_id == user_id)
        .order_by(Sanction.created_at.desc(), Sanction.public_id.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def list_sanctions(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID | None,
    active_at: dt.datetime | None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[Sanction]:
    """Sanctions, newest first; `active_at`: only those in force then."""
    query = sa.select(Sanction)
    if user_id is not None:
        query = query.where(Sanction.user_id == user_id)
    if active_at is not None:
        query = query.where(
            Sanction.lifted_at.is_(None),
            Sanction.starts_at <= active_at,
            sa.or_(Sanction.ends_at.is_(None), Sanction.ends_at > active_at),
        )
    if after is not None:
        query = query.where(sa.tuple_(Sanction.created_at, Sanction.public_id) < after)
    query = query.order_by(Sanction.created_at.desc(), Sanction.public_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def appealed_sanctions(uow: UnitOfWork, sanction_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these sanctions have an open appeal."""
    if not sanction_ids:
        return set()
    rows = await uow.session.execute(
        sa.select(SanctionAppeal.sanction_id).where(
            SanctionAppeal.sanction_id.in_(sanction_ids), SanctionAppeal.status == "open"
        )
    )
    return {r[0] for r in rows}


# Reports.


async def reported_since(
    uow: UnitOfWork,
    reporter_id: uuid.UUID,
    target_type: str,
    target_id: str,
    reason: str,
    since: dt.datetime,
) -> bool:
    query = (
        sa.select(Report.id)
        .where(
            Report.reporter_id == reporter_id,
            Report.target_type == target_type,
            Report.target_id == target_id,
            Report.reason == reason,
            Report.created_at > since,
        )
        .limit(1)
    )
    return (await uow.session.execute(query)).first() is not None


async def open_group(
    uow: UnitOfWork, target_type: str, target_id: str, *, for_update: bool = False
) -> ReportGroup | None:
    query = sa.select(ReportGroup).where(
        ReportGroup.target_type == target_type,
        ReportGroup.target_id == target_id,
        ReportGroup.status == "open",
    )
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def insert_group(uow: UnitOfWork, row: ReportGroup) -> bool:
    return await _insert(uow, row)


async def insert_report(uow: UnitOfWork, row: Report) -> bool:
    return await _insert(uow, row)


async def distinct_reporters(uow: UnitOfWork, group_id: uuid.UUID) -> int:
    query = sa.select(sa.func.count(sa.distinct(Report.reporter_id))).where(
        Report.group_id == group_id
    )
    return int((await uow.session.execute(query)).scalar_one())


async def get_group(uow: UnitOfWork, public_id: str) -> ReportGroup | None:
    query = sa.select(ReportGroup).where(ReportGroup.public_id == public_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_group_by_id(uow: UnitOfWork, group_id: uuid.UUID) -> ReportGroup | None:
    return await uow.session.get(ReportGroup, group_id)


async def reports_by_public_ids(uow: UnitOfWork, public_ids: Sequence[str]) -> list[Report]:
    if not public_ids:
        return []
    rows = await uow.session.execute(sa.select(Report).where(Report.public_id.in_(public_ids)))
    return list(rows.scalars())


async def reports_in_group(uow: UnitOfWork, group_id: uuid.UUID) -> list[Report]:
    rows = await uow.session.execute(
        sa.select(Report).where(Report.group_id == group_id).order_by(Report.created_at)
    )
    return list(rows.scalars())


async def reports_by(
    uow: UnitOfWork, reporter_id: uuid.UUID, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[tuple[Report, str]]:
    query = (
        sa.select(Report, ReportGroup.status)
        .join(ReportGroup, ReportGroup.id == Report.group_id)
        .where(Report.reporter_id == reporter_id)
    )
    if after is not None:
        query = query.where(sa.tuple_(Report.created_at, Report.public_id) < after)
    query = query.order_by(Report.created_at.desc(), Report.public_id.desc()).limit(limit)
    return [(r, s) for r, s in (await uow.session.execute(query)).all()]


# Appeals against sanctions.


async def insert_appeal(uow: UnitOfWork, row: SanctionAppeal) -> bool:
    return await _insert(uow, row)


async def get_appeal(
    uow: UnitOfWork, public_id: str, *, for_update: bool = False
) -> SanctionAppeal | None:
    query = sa.select(SanctionAppeal).where(SanctionAppeal.public_id == public_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


# Feedback.


async def insert_feedback(uow: UnitOfWork, row: Feedback, files: list[FeedbackAttachment]) -> None:
    uow.session.add(row)
    await uow.session.flush()
    for f in files:
        f.feedback_id = row.id
        uow.session.add(f)
    await uow.session.flush()


async def get_feedback(
    uow: UnitOfWork, public_id: str, *, for_update: bool = False
) -> Feedback | None:
    query = sa.select(Feedback).where(Feedback.public_id == public_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def attachments_of(
    uow: UnitOfWork, feedback_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[FeedbackAttachment]]:
    found: dict[uuid.UUID, list[FeedbackAttachment]] = {i: [] for i in feedback_ids}
    if not feedback_ids:
        return found
    rows = await uow.session.execute(
        sa.select(FeedbackAttachment)
        .where(FeedbackAttachment.feedback_id.in_(feedback_ids))
        .order_by(FeedbackAttachment.filename)
    )
    for row in rows.scalars():
        found[row.feedback_id].append(row)
    return found


async def get_attachment(
    uow: UnitOfWork, feedback_id: uuid.UUID, filename: str
) -> FeedbackAttachment | None:
    query = sa.select(FeedbackAttachment).where(
        FeedbackAttachment.feedback_id == feedback_id, FeedbackAttachment.filename == filename
    )
    return (await uow.session.execute(query)).scalar_one_or_none()


def _feedback_filters(
    query: Any, *, status: str | None, category: str | None, tag: str | None, q: str | None
) -> Any:
    if status is not None:
        query = query.where(Feedback.status == status)
    if category is not None:
        query = query.where(Feedback.category == category)
    if tag is not None:
        query = query.where(
            sa.cast(Feedback.tags, sa.String).like(f'%"{_escape(tag)}"%', escape="\\")
        )
    if q:
        query = query.where(Feedback.message.ilike(f"%{_escape(q)}%", escape="\\"))
    return query


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_feedback(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID | None,
    status: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[Feedback]:
    query = sa.select(Feedback)
    if user_id is not None:
        query = query.where(Feedback.user_id == user_id)
    query = _feedback_filters(query, status=status, category=category, tag=tag, q=q)
    if after is not None:
        query = query.where(sa.tuple_(Feedback.created_at, Feedback.public_id) < after)
    query = query.order_by(Feedback.created_at.desc(), Feedback.public_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


# The queue.


async def upsert_queue_item(uow: UnitOfWork, row: QueueItem) -> QueueItem:
    """The queue's row for (type, ref_id): `row` when new, else the existing one reopened
    with `row`'s priority and subject."""
    existing = (
        await uow.session.execute(
            sa.select(QueueItem).where(QueueItem.type == row.type, QueueItem.ref_id == row.ref_id)
        )
    ).scalar_one_or_none()
    if existing is None and await _insert(uow, row):
        return row
    if existing is None:  # inserted by a concurrent request just now
        existing = (
            await uow.session.execute(
                sa.select(QueueItem).where(
                    QueueItem.type == row.type, QueueItem.ref_id == row.ref_id
                )
            )
        ).scalar_one()
    existing.priority, existing.subject = row.priority, row.subject
    if existing.status != "open":
        existing.status, existing.closed_at, existing.assignee = "open", None, None
    existing.updated_at = row.updated_at
    await uow.session.flush()
    return existing


async def close_queue_item(uow: UnitOfWork, type_: str, ref_id: str, now: dt.datetime) -> None:
    await uow.session.execute(
        sa.update(QueueItem)
        .where(QueueItem.type == type_, QueueItem.ref_id == ref_id, QueueItem.status == "open")
        .values(status="closed", closed_at=now, updated_at=now)
    )


async def open_queue_subjects(uow: UnitOfWork, type_: str) -> dict[str, dict[str, Any]]:
    """The open items of a type: ref id -> subject."""
    rows = await uow.session.execute(
        sa.select(QueueItem.ref_id, QueueItem.subject).where(
            QueueItem.type == type_, QueueItem.status == "open"
        )
    )
    return {ref: subject for ref, subject in rows.tuples()}


async def take_queue_item(uow: UnitOfWork, public_id: str, moderator: str) -> int:
    """Assign the item to `moderator` unless someone else holds it; one statement, so two
    moderators taking it at once cannot both succeed. Returns the rows changed (0 or 1)."""
    result = await uow.session.execute(
        sa.update(QueueItem)
        .where(
            QueueItem.public_id == public_id,
            sa.or_(QueueItem.assignee.is_(None), QueueItem.assignee == moderator),
        )
        .values(assignee=moderator)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def queue_assignee(uow: UnitOfWork, type_: str, ref_id: str) -> str | None:
    query = sa.select(QueueItem.assignee).where(
        QueueItem.type == type_, QueueItem.ref_id == ref_id, QueueItem.status == "open"
    )
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_queue_item(uow: UnitOfWork, public_id: str) -> QueueItem | None:
    query = sa.select(QueueItem).where(QueueItem.public_id == public_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def list_queue(
    uow: UnitOfWork,
    *,
    type_: str | None,
    status: str,
    assignee: str | None,
    unassigned: bool,
    created_before: dt.datetime | None,
    after: tuple[int, dt.datetime, str] | None,
    limit: int,
) -> list[QueueItem]:
    """Highest priority first, then oldest."""
    query = sa.select(QueueItem).where(QueueItem.status == status)
    if type_ is not None:
        query = query.where(QueueItem.type == type_)
    if unassigned:
        query = query.where(QueueItem.assignee.is_(None))
    elif assignee is not None:
        query = query.where(QueueItem.assignee == assignee)
    if created_before is not None:
        query = query.where(QueueItem.created_at < created_before)
    if after is not None:
        priority, created, public_id = after
        query = query.where(
            sa.or_(
                QueueItem.priority < priority,
                sa.and_(
                    QueueItem.priority == priority,
                    sa.tuple_(QueueItem.created_at, QueueItem.public_id) > (created, public_id),
                ),
            )
        )
    query = query.order_by(
        QueueItem.priority.desc(), QueueItem.created_at, QueueItem.public_id
    ).limit(limit)
    return list((await uow.session.execute(query)).scalars())


# Account merges.


async def move_account(
    uow: UnitOfWork, source_id: uuid.UUID, target_id: uuid.UUID
) -> dict[str, int]:
    """Move the source account's sanctions, appeals, feedback and reports to the target. A
    report the target also filed (same target, reason and day) stays with the source."""
    moved: dict[str, int] = {}
    tables: tuple[tuple[str, Any, Any], ...] = (
        ("sanctions", Sanction, Sanction.user_id),
        ("appeals", SanctionAppeal, SanctionAppeal.appellant_id),
        ("feedback", Feedback, Feedback.user_id),
        ("report_groups", ReportGroup, ReportGroup.target_user_id),
    )
    for name, model, column in tables:
        result = await uow.session.execute(
            sa.update(model)
            .where(column == source_id)
            .values({column.key: target_id})
            .execution_options(synchronize_session=False)
        )
        moved[name] = int(result.rowcount or 0)
    theirs = aliased(Report)
    clash = (
        sa.select(theirs.id)
        .where(
            theirs.reporter_id == target_id,
            theirs.target_type == Report.target_type,
            theirs.target_id == Report.target_id,
            theirs.reason == Report.reason,
            theirs.day == Report.day,
        )
        .exists()
    )
    result = await uow.session.execute(
        sa.update(Report)
        .where(Report.reporter_id == source_id, ~clash)
        .values(reporter_id=target_id)
        .execution_options(synchronize_session=False)
    )
    moved["reports"] = int(result.rowcount or 0)
    return moved
