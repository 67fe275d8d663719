"""Every query of the ugc domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, insert_unless_taken
from playerplatform.ugc.models import (
    Appeal,
    Ugc,
    UgcDownload,
    UgcRating,
    UgcReport,
    UgcScan,
    UgcTag,
)
from playerplatform.users.models import Profile, User

PUBLIC_LISTED = (Ugc.status == "published", Ugc.visibility == "public")


def _locked(uow: UnitOfWork, query: Any) -> Any:
    return query.with_for_update() if uow.dialect == "postgresql" else query


async def get_item(uow: UnitOfWork, public_id: str, *, for_update: bool = False) -> Ugc | None:
    query = sa.select(Ugc).where(Ugc.public_id == public_id)
    if for_update:
        query = _locked(uow, query).execution_options(populate_existing=True)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_item_by_id(uow: UnitOfWork, ugc_id: uuid.UUID) -> Ugc | None:
    return await uow.session.get(Ugc, ugc_id)


async def insert_item(uow: UnitOfWork, item: Ugc) -> None:
    uow.session.add(item)
    await uow.session.flush()
    await replace_tags(uow, item.id, item.tags)


async def replace_tags(uow: UnitOfWork, ugc_id: uuid.UUID, tags: Sequence[str]) -> None:
    await uow.session.execute(sa.delete(UgcTag).where(UgcTag.ugc_id == ugc_id))
    if tags:
        await uow.session.execute(sa.insert(UgcTag), [{"ugc_id": ugc_id, "tag": t} for t in tags])


async def count_created_since(uow: UnitOfWork, creator_id: uuid.UUID, since: dt.datetime) -> int:
    query = sa.select(sa.func.count()).where(Ugc.creator_id == creator_id, Ugc.created_at >= since)
    return int((await uow.session.execute(query)).scalar_one())


async def delete_drafts_created_before(
    uow: UnitOfWork, before: dt.datetime, *, limit: int
) -> list[tuple[str, str]]:
    """Delete up to `limit` drafts created before `before`, oldest first; returns the (public
    id, upload key) of each row deleted (tags go with them by cascade). The status is
    checked again by the DELETE itself: on PostgreSQL a row a completion moved on meanwhile
    is re-read after its lock and skipped, so only rows still drafts are deleted and
    returned. A draft was never completed (`uploaded_at` is set with `scanning`); that is
    checked too, so nothing that reached `scanning` is ever taken."""
    still_draft = (Ugc.status == "draft", Ugc.uploaded_at.is_(None))
    oldest = (
        sa.select(Ugc.id)
        .where(*still_draft, Ugc.created_at < before)
        .order_by(Ugc.created_at)
        .limit(limit)
        .scalar_subquery()
    )
    stmt = (
        sa.delete(Ugc)
        .where(Ugc.id.in_(oldest), *still_draft)
        .returning(Ugc.public_id, Ugc.upload_key)
        .execution_options(synchronize_session=False)
    )
    return [(public_id, key) for public_id, key in (await uow.session.execute(stmt)).tuples()]


async def creators(uow: UnitOfWork, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[User, Any]]:
    """Creator accounts with their profiles (read only: the public profile of each item)."""
    if not user_ids:
        return {}
    rows = await uow.session.execute(
        sa.select(User, Profile)
        .outerjoin(Profile, Profile.user_id == User.id)
        .where(User.id.in_(user_ids))
    )
    return {user.id: (user, profile) for user, profile in rows.tuples()}


async def browse(
    uow: UnitOfWork,
    *,
    sort: str,
    after: tuple[Any, str] | None,
    limit: int,
    ugc_type: str | None,
    tag: str | None,
    creator_id: uuid.UUID | None,
    text: str | None,
) -> list[Ugc]:
    """Published public items in `sort` order (newest, top_rated, most_downloaded), after
    the cursor's (sort value, public id)."""
    column: Any = {
        "newest": Ugc.published_at,
        "top_rated": Ugc.rating_average,
        "most_downloaded": Ugc.downloads_count,
    }[sort]
    query = sa.select(Ugc).where(*PUBLIC_LISTED)
    if ugc_type:
        query = query.where(Ugc.type == ugc_type)
    if creator_id:
        query = query.where(Ugc.creator_id == creator_id)
    if tag:
        query = query.where(
            Ugc.id.in_(sa.select(UgcTag.ugc_id).where(UgcTag.tag == tag).scalar_subquery())
        )
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                Ugc.name.ilike(pattern, escape="\\"), Ugc.description.ilike(pattern, escape="\\")
            )
        )
    if after is not None:
        value, public_id = after
        query = query.where(
            sa.or_(column < value, sa.and_(column == value, Ugc.public_id < public_id))
        )
    query = query.order_by(column.desc(), Ugc.public_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def items_by_public_ids(uow: UnitOfWork, public_ids: Sequence[str]) -> list[Ugc]:
    if not public_ids:
        return []
    rows = await uow.session.execute(sa.select(Ugc).where(Ugc.public_id.in_(public_ids)))
    return list(rows.scalars())


async def hot_ranking(uow: UnitOfWork, *, since: dt.date, limit: int) -> list[str]:
    """Public ids of published public items by counted downloads since `since`, then the
    newest, up to `limit`."""
    recent = (
        sa.select(UgcDownload.ugc_id, sa.func.count().label("n"))
        .where(UgcDownload.day >= since)
        .group_by(UgcDownload.ugc_id)
        .subquery()
    )
    query = (
        sa.select(Ugc.public_id)
        .outerjoin(recent, recent.c.ugc_id == Ugc.id)
        .where(*PUBLIC_LISTED)
        .order_by(
            sa.func.coalesce(recent.c.n, 0).desc(),
            Ugc.published_at.desc(),
            Ugc.public_id.desc(),
        )
        .limit(limit)
    )
    return list((await uow.session.execute(query)).scalars())


async def list_by_creator(
    uow: UnitOfWork, creator_id: uuid.UUID, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Ugc]:
    query = sa.select(Ugc).where(Ugc.creator_id == creator_id)
    query = query.where(sa.or_(Ugc.status_reason.is_(None), Ugc.status_reason != "deleted"))
    if after is not None:
        query = query.where(
            sa.or_(
                Ugc.created_at < after[0],
                sa.and_(Ugc.created_at == after[0], Ugc.public_id < after[1]),
            )
        )
    query = query.order_by(Ugc.created_at.desc(), Ugc.public_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def moderation_queue(
    uow: UnitOfWork, status: str, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Ugc]:
    """Items in `status`, oldest first (first come, first reviewed). `flagged` also lists
    published items with open reports: reported, still shown, waiting for a moderator."""
    if status == "flagged":
        reported = sa.exists().where(UgcReport.ugc_id == Ugc.id, UgcReport.status == "open")
        query = sa.select(Ugc).where(
            sa.or_(Ugc.status == "flagged", sa.and_(Ugc.status == "published", reported))
        )
    else:
        query = sa.select(Ugc).where(Ugc.status == status)
    if after is not None:
        query = query.where(
            sa.or_(
                Ugc.created_at > after[0],
                sa.and_(Ugc.created_at == after[0], Ugc.public_id > after[1]),
            )
        )
    query = query.order_by(Ugc.created_at, Ugc.public_id).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def approved_count(uow: UnitOfWork, creator_id: uuid.UUID) -> tuple[int, int]:
    """(items published, items removed for cause) of one creator."""
    query = sa.select(
        sa.func.count().filter(Ugc.published_at.is_not(None)),
        sa.func.count().filter(
            Ugc.status == "removed", sa.func.coalesce(Ugc.status_reason, "") != "deleted"
        ),
    ).where(Ugc.creator_id == creator_id)
    published, removed = (await uow.session.execute(query)).one()
    return int(published), int(removed)


# Scans.


async def add_scan(uow: UnitOfWork, scan: UgcScan) -> None:
    uow.session.add(scan)
    await uow.session.flush()


# Ratings and downloads.


async def get_rating(uow: UnitOfWork, ugc_id: uuid.UUID, user_id: uuid.UUID) -> UgcRating | None:
    query = sa.select(UgcRating).where(UgcRating.ugc_id == ugc_id, UgcRating.user_id == user_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def add_rating(uow: UnitOfWork, rating: UgcRating) -> None:
    uow.session.add(rating)
    await uow.session.flush()


# What deciding on a rating needs of an item, without the item's other columns.
_RATEABLE = sa.select(
    Ugc.id, Ugc.public_id, Ugc.creator_id, Ugc.status, Ugc.visibility, Ugc.status_reason
).where(Ugc.public_id == sa.bindparam("public_id"))


async def rateable(uow: UnitOfWork, public_id: str) -> sa.Row[Any] | None:
    """The item's id, creator, status, visibility and status reason. On PostgreSQL it is
    read without a lock (`rate_item` is one statement); SQLite writers are serialised."""
    return (await uow.session.execute(_RATEABLE, {"public_id": public_id})).first()


# Set the player's rating and move the item's sum and count by the difference, in one
# statement that takes no lock before it runs: the upsert records the value it replaced
# (`previous_value`, read from the row it updates, so two devices of one player rating at
# once still move the sum by the true differences), and the item's row is updated
# relative to what it holds when its lock is granted. A rating of an item that is no longer
# published when the statement runs writes nothing. The rating row changes only when the
# value does; the item's `updated_at` always.
_RATE = sa.text(
    """
    WITH rated AS (
        INSERT INTO ugc_ratings (ugc_id, user_id, value, previous_value, created_at, updated_at)
        SELECT :ugc_id, :user_id, :value, NULL, :now, :now
        WHERE EXISTS (SELECT 1 FROM ugc WHERE id = :ugc_id AND status = 'published')
        ON CONFLICT (ugc_id, user_id) DO UPDATE
        SET value = excluded.value, previous_value = ugc_ratings.value,
            updated_at = excluded.updated_at
        WHERE ugc_ratings.value <> excluded.value
        RETURNING value, previous_value, (xmax = 0) AS inserted
    ), moved AS (
        SELECT coalesce(sum(value - coalesce(previous_value, 0)), 0) AS sum_by,
               count(*) FILTER (WHERE inserted) AS count_by
        FROM rated
    )
    UPDATE ugc SET
        rating_sum = ugc.rating_sum + moved.sum_by,
        rating_count = ugc.rating_count + moved.count_by,
        rating_average = CASE WHEN ugc.rating_count + moved.count_by = 0 THEN 0
            ELSE CAST(ugc.rating_sum + moved.sum_by AS double precision)
                / (ugc.rating_count + moved.count_by) END,
        updated_at = :now
    FROM moved WHERE ugc.id = :ugc_id
    RETURNING ugc.rating_sum, ugc.rating_count, ugc.rating_average
    """
).bindparams(
    sa.bindparam("ugc_id", type_=UgcRating.__table__.c.ugc_id.type),
    sa.bindparam("user_id", type_=UgcRating.__table__.c.user_id.type),
    sa.bindparam("value", type_=sa.Integer()),
    sa.bindparam("now", type_=UgcRating.__table__.c.updated_at.type),
)


async def rate_item(
    uow: UnitOfWork, ugc_id: uuid.UUID, user_id: uuid.UUID, value: int, now: dt.datetime
) -> tuple[int, int, float]:
    """Set `user_id`'s rating of the published item; returns the item's rating sum, count
    and average after it."""
    params = {"ugc_id": ugc_id, "user_id": user_id, "value": value, "now": now}
    if uow.dialect == "postgresql":
        row = (await uow.session.execute(_RATE, params)).one()
        return int(row[0]), int(row[1]), float(row[2])
    # SQLite has no data-modifying CTEs: the same steps, one statement each.
    rating = sa.and_(UgcRating.ugc_id == ugc_id, UgcRating.user_id == user_id)
    prev = (await uow.session.execute(sa.select(UgcRating.value).where(rating))).scalar()
    if prev is None:
        await uow.session.execute(
            sa.insert(UgcRating).values(
                ugc_id=ugc_id, user_id=user_id, value=value, created_at=now, updated_at=now
            )
        )
    elif prev != value:
        await uow.session.execute(
            sa.update(UgcRating)
            .where(rating)
            .values(value=value, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    sum_by, count_by = value - (prev or 0), 0 if prev is not None else 1
    row = (
        await uow.session.execute(
            sa.update(Ugc)
            .where(Ugc.id == ugc_id)
            .values(
                rating_sum=Ugc.rating_sum + sum_by,
                rating_count=Ugc.rating_count + count_by,
                rating_average=sa.cast(Ugc.rating_sum + sum_by, sa.Float)
                / (Ugc.rating_count + count_by),
                updated_at=now,
            )
            .returning(Ugc.rating_sum, Ugc.rating_count, Ugc.rating_average)
            .execution_options(synchronize_session=False)
        )
    ).one()
    return int(row[0]), int(row[1]), float(row[2])


async def count_download(
    uow: UnitOfWork, ugc_id: uuid.UUID, user_id: uuid.UUID, day: dt.date
) -> bool:
    """Record today's download by this player; True when it is the first today (and the
    item's counter was incremented in the same statement batch)."""
    table: sa.Table = UgcDownload.__table__  # type: ignore[assignment]
    row = {"ugc_id": ugc_id, "user_id": user_id, "day": day}
    inserted = (await insert_unless_taken(uow, table, row, returning=table.c.ugc_id)).first()
    if inserted is None:
        return False
    await uow.session.execute(
        sa.update(Ugc)
        .where(Ugc.id == ugc_id)
        .values(downloads_count=Ugc.downloads_count + 1)
        .execution_options(synchronize_session=False)
    )
    return True


# Reports.


async def insert_report(uow: UnitOfWork, report: UgcReport) -> bool:
    """False when the reporter already has an open report on the item (unique index)."""
    values = {c.key: getattr(report, c.key) for c in UgcReport.__table__.columns}
    table: sa.Table = UgcReport.__table__  # type: ignore[assignment]
    return (await insert_unless_taken(uow, table, values, returning=table.c.id)).first() is not None


async def open_report_weight(uow: UnitOfWork, ugc_id: uuid.UUID) -> float:
    """The summed weight of the item's open reports (one open report per reporter)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(UgcReport.weight), 0.0)).where(
        UgcReport.ugc_id == ugc_id, UgcReport.status == "open"
    )
    return float((await uow.session.execute(query)).scalar_one())


async def report_record(uow: UnitOfWork, reporter_id: uuid.UUID) -> tuple[int, int]:
    """(upheld, dismissed) reports this reporter filed: how often moderators agreed."""
    query = sa.select(
        sa.func.count().filter(UgcReport.status == "upheld"),
        sa.func.count().filter(UgcReport.status == "dismissed"),
    ).where(UgcReport.reporter_id == reporter_id)
    upheld, dismissed = (await uow.session.execute(query)).one()
    return int(upheld), int(dismissed)


async def get_report(uow: UnitOfWork, public_id: str) -> UgcReport | None:
    query = _locked(uow, sa.select(UgcReport).where(UgcReport.public_id == public_id))
    return (await uow.session.execute(query)).scalar_one_or_none()


async def close_open_reports(
    uow: UnitOfWork, ugc_id: uuid.UUID, *, status: str, by: str, notes: str | None, now: dt.datetime
) -> int:
    result = await uow.session.execute(
        sa.update(UgcReport)
        .where(UgcReport.ugc_id == ugc_id, UgcReport.status == "open")
        .values(status=status, decided_by=by, notes=notes, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_reports(
    uow: UnitOfWork, status: str, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[tuple[UgcReport, str, str]]:
    """Reports in `status` with the item's public id and the reporter's canonical id."""
    query = (
        sa.select(UgcReport, Ugc.public_id, User.canonical_id)
        .join(Ugc, Ugc.id == UgcReport.ugc_id)
        .join(User, User.id == UgcReport.reporter_id)
        .where(UgcReport.status == status)
    )
    if after is not None:
        query = query.where(
            sa.or_(
                UgcReport.created_at > after[0],
                sa.and_(UgcReport.created_at == after[0], UgcReport.public_id > after[1]),
            )
        )
    query = query.order_by(UgcReport.created_at, UgcReport.public_id).limit(limit)
    return [(r, u, c) for r, u, c in (await uow.session.execute(query)).tuples()]


# Appeals.


async def insert_appeal(uow: UnitOfWork, appeal: Appeal) -> bool:
    """False when the item already has an open appeal (unique index)."""
    values = {c.key: getattr(appeal, c.key) for c in Appeal.__table__.columns}
    table: sa.Table = Appeal.__table__  # type: ignore[assignment]
    return (await insert_unless_taken(uow, table, values, returning=table.c.id)).first() is not None


async def get_appeal(uow: UnitOfWork, public_id: str) -> Appeal | None:
    query = _locked(uow, sa.select(Appeal).where(Appeal.public_id == public_id))
    return (await uow.session.execute(query)).scalar_one_or_none()


async def list_appeals(
    uow: UnitOfWork, status: str, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[tuple[Appeal, str, str]]:
    query = (
        sa.select(Appeal, Ugc.public_id, User.canonical_id)
        .join(Ugc, Ugc.id == Appeal.ugc_id)
        .join(User, User.id == Appeal.appellant_id)
        .where(Appeal.status == status)
    )
    if after is not None:
        query = query.where(
            sa.or_(
                Appeal.created_at > after[0],
                sa.and_(Appeal.created_at == after[0], Appeal.public_id > after[1]),
            )
        )
    query = query.order_by(Appeal.created_at, Appeal.public_id).limit(limit)
    return [(a, u, c) for a, u, c in (await uow.session.execute(query)).tuples()]


async def open_report_reasons(
    uow: UnitOfWork, ugc_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Counter[str]]:
    """The reasons of the items' open reports, counted per item."""
    found: dict[uuid.UUID, Counter[str]] = {}
    if not ugc_ids:
        return found
    rows = await uow.session.execute(
        sa.select(UgcReport.ugc_id, UgcReport.reason).where(
            UgcReport.ugc_id.in_(ugc_ids), UgcReport.status == "open"
        )
    )
    for ugc_id, reason in rows.tuples():
        found.setdefault(ugc_id, Counter())[reason] += 1
    return found


async def open_appeals_with_items(uow: UnitOfWork, *, limit: int) -> list[tuple[Appeal, Ugc]]:
    """Open appeals, oldest first, with their items."""
    rows = await uow.session.execute(
        sa.select(Appeal, Ugc)
        .join(Ugc, Ugc.id == Appeal.ugc_id)
        .where(Appeal.status == "open")
        .order_by(Appeal.created_at, Appeal.public_id)
        .limit(limit)
    )
    return [(a, u) for a, u in rows.tuples()]
