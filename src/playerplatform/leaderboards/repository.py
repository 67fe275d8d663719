"""Every SQL statement of the leaderboards domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from playerplatform.kit import views
from playerplatform.kit.db import (
    UnitOfWork,
    insert_unless_taken,
    new_uuid,
    upsert_row,
)
from playerplatform.leaderboards.models import (
    CLOSED,
    OPEN,
    SEASONS_OWNER,
    LeaderboardEntry,
    Season,
)
from playerplatform.users.models import User

_ENTRIES = cast(sa.Table, LeaderboardEntry.__table__)

# Seasons.


async def get_season(uow: UnitOfWork, season_id: str, *, for_update: bool = False) -> Season | None:
    query = sa.select(Season).where(Season.season_id == season_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def insert_season(uow: UnitOfWork, season: Season) -> bool:
    """Insert unless the season id is taken; True when inserted."""
    row = {
        c.key: getattr(season, "meta" if c.key == "metadata" else c.key)
        for c in Season.__table__.columns
    }
    table: sa.Table = Season.__table__  # type: ignore[assignment]
    inserted = (
        await insert_unless_taken(uow, table, row, returning=table.c.id)
    ).first() is not None
    if inserted:
        views.changed(uow, SEASONS_OWNER)  # written past the session: its flush does not tell
    return inserted


async def list_seasons(uow: UnitOfWork, *, not_closed: bool = False) -> list[Season]:
    """Seasons (not yet closed ones only, when asked): the flusher's, the checker's and
    erasure's work list, so all of them: a cap would silently leave seasons unflushed,
    unclosed and unerased."""
    query = sa.select(Season).order_by(Season.start_date.desc(), Season.season_id)
    if not_closed:
        query = query.where(Season.state != CLOSED)
    return list((await uow.session.execute(query)).scalars())


async def season_page(
    uow: UnitOfWork,
    *,
    active: bool | None,
    now: dt.datetime,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[Season]:
    """Seasons newest first (by start, then id), after a page's last one."""
    query = sa.select(Season).order_by(Season.start_date.desc(), Season.season_id.desc())
    if active is not None:
        taking = sa.and_(
            Season.state == OPEN,
            Season.start_date <= now,
            sa.or_(Season.end_date.is_(None), Season.end_date > now),
        )
        query = query.where(taking if active else sa.not_(taking))
    if after is not None:
        start, season_id = after
        query = query.where(
            sa.or_(
                Season.start_date < start,
                sa.and_(Season.start_date == start, Season.season_id < season_id),
            )
        )
    return list((await uow.session.execute(query.limit(limit))).scalars())


async def next_boundary(uow: UnitOfWork, now: dt.datetime) -> dt.datetime | None:
    """The first moment after `now` at which an open season starts or ends (when whether
    it takes scores changes without any write)."""
    starts = sa.select(Season.start_date.label("at")).where(
        Season.state == OPEN, Season.start_date > now
    )
    ends = sa.select(Season.end_date.label("at")).where(Season.state == OPEN, Season.end_date > now)
    moments = sa.union_all(starts, ends).subquery()
    found = (await uow.session.execute(sa.select(sa.func.min(moments.c.at)))).scalar()
    return cast("dt.datetime | None", found)


# Entries.


async def user_ids(
    uow: UnitOfWork, canonical_ids: Sequence[str], *, merged: bool = True
) -> dict[str, uuid.UUID]:
    """Internal ids by canonical id. `merged=False` leaves out accounts merged into another
    (their entries moved with them: a write-behind that read one before the merge must not
    write it back). On PostgreSQL it also holds the accounts (FOR KEY SHARE, the lock the
    entries' foreign key takes anyway) until the caller's transaction ends: a merge locks
    both accounts before it moves their entries, so either it waits for this writer to
    commit and then moves what it wrote, or this read waits for the merge and sees the
    account merged."""
    if not canonical_ids:
        return {}
    query = sa.select(User.canonical_id, User.id).where(User.canonical_id.in_(list(canonical_ids)))
    if not merged:
        query = query.where(User.status != "merged")
        if uow.dialect == "postgresql":
            query = query.with_for_update(read=True, key_share=True)
    rows = await uow.session.execute(query)
    return {cid: uid for cid, uid in rows}


def _upsert(uow: UnitOfWork) -> Any:
    if uow.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(_ENTRIES)  # the table: rows are keyed by column ("metadata")
    columns = ("score", "achieved_us", "submitted_at", "region", "metadata", "updated_at")
    return stmt.on_conflict_do_update(
        index_elements=["season_pk", "user_id"],
        set_={c: stmt.excluded[c] for c in columns},
        # A removed entry stays removed, whatever was still waiting to be written.
        where=_ENTRIES.c.removed_at.is_(None),
    )


async def upsert_entries(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """Write entries (dicts of column values); removed ones are left as they are."""
    if rows:
        await uow.session.execute(_upsert(uow), rows)


async def get_entry(
    uow: UnitOfWork, season_pk: uuid.UUID, user_id: uuid.UUID
) -> LeaderboardEntry | None:
    query = sa.select(LeaderboardEntry).where(
        LeaderboardEntry.season_pk == season_pk, LeaderboardEntry.user_id == user_id
    )
    return (await uow.session.execute(query)).scalar_one_or_none()


async def mark_removed(
    uow: UnitOfWork,
    season_pk: uuid.UUID,
    user_id: uuid.UUID,
    *,
    values: dict[str, Any],
    reason: str,
    now: dt.datetime,
) -> None:
    """Mark an entry removed, writing it first when it only existed in the hot store."""
    row = {
        "id": new_uuid(),
        "season_pk": season_pk,
        "user_id": user_id,
        **values,
        "removed_at": now,
        "removed_reason": reason,
        "rank": None,
        "updated_at": now,
    }
    await upsert_row(
        uow,
        _ENTRIES,
        row,
        conflict=("season_pk", "user_id"),
        update=("removed_at", "removed_reason", "rank", "updated_at"),
    )


def _live_order(season: Season) -> list[Any]:
    score = LeaderboardEntry.score.desc() if season.sort == "desc" else LeaderboardEntry.score
    return [score, LeaderboardEntry.achieved_us, User.canonical_id]


async def entries_in_order(
    uow: UnitOfWork, season: Season, *, after: int, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """(entry id, canonical id) of entries not removed, in the season's final order."""
    query = (
        sa.select(LeaderboardEntry.id, User.canonical_id)
        .join(User, User.id == LeaderboardEntry.user_id)
        .where(LeaderboardEntry.season_pk == season.id, LeaderboardEntry.removed_at.is_(None))
        .order_by(*_live_order(season))
        .offset(after)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in await uow.session.execute(query)]


async def final_ranks(uow: UnitOfWork, season: Season) -> list[tuple[uuid.UUID, int]]:
    """(user id, rank) of every ranked entry of a closed season, best first."""
    query = (
        sa.select(LeaderboardEntry.user_id, LeaderboardEntry.rank)
        .where(
            LeaderboardEntry.season_pk == season.id,
            LeaderboardEntry.rank.is_not(None),
            LeaderboardEntry.removed_at.is_(None),
        )
        .order_by(LeaderboardEntry.rank)
    )
    return [(r[0], int(r[1])) for r in await uow.session.execute(query)]


async def set_ranks(uow: UnitOfWork, ranks: list[dict[str, Any]]) -> None:
    """Freeze ranks: [{"entry_id", "rank"}]."""
    if ranks:
        table = cast(sa.Table, LeaderboardEntry.__table__)
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("entry_id"))
            .values(rank=sa.bindparam("new_rank"))
        )
        await uow.session.execute(
            stmt, [{"entry_id": r["entry_id"], "new_rank": r["rank"]} for r in ranks]
        )


async def delete_entries(uow: UnitOfWork, season_pk: uuid.UUID) -> int:
    result = await uow.session.execute(
        sa.delete(LeaderboardEntry).where(LeaderboardEntry.season_pk == season_pk)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def copy_entries(uow: UnitOfWork, source_pk: uuid.UUID, target_pk: uuid.UUID) -> None:
    """Carry a season's standing entries into the next one (reset rule `none`)."""
    rows = await uow.session.execute(
        sa.select(LeaderboardEntry).where(
            LeaderboardEntry.season_pk == source_pk, LeaderboardEntry.removed_at.is_(None)
        )
    )
    values = [
        {
            "id": new_uuid(),
            "season_pk": target_pk,
            "user_id": e.user_id,
            "score": e.score,
            "achieved_us": e.achieved_us,
            "submitted_at": e.submitted_at,
            "region": e.region,
            "metadata": e.meta,
            "updated_at": e.updated_at,
        }
        for e in rows.scalars()
    ]
    await upsert_entries(uow, values)


EntryRow = tuple[LeaderboardEntry, str]  # the entry and its player's canonical id


def _with_player() -> Any:
    return sa.select(LeaderboardEntry, User.canonical_id).join(
        User, User.id == LeaderboardEntry.user_id
    )


async def all_entries(
    uow: UnitOfWork, season_pk: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[EntryRow]:
    """Every entry of a season (removed included), by id, for rebuilds and checks."""
    query = _with_player().where(LeaderboardEntry.season_pk == season_pk)
    if after is not None:
        query = query.where(LeaderboardEntry.id > after)
    query = query.order_by(LeaderboardEntry.id).limit(limit)
    return [(r[0], r[1]) for r in await uow.session.execute(query)]


async def archived_page(
    uow: UnitOfWork, season_pk: uuid.UUID, *, offset: int, limit: int, region: str | None
) -> tuple[list[EntryRow], int]:
    """Frozen entries by rank, and how many there are."""
    where = [LeaderboardEntry.season_pk == season_pk, LeaderboardEntry.rank.is_not(None)]
    if region is not None:
        where.append(LeaderboardEntry.region == region)
    query = _with_player().where(*where).order_by(LeaderboardEntry.rank).offset(offset)
    rows = [(r[0], r[1]) for r in await uow.session.execute(query.limit(limit))]
    total = (
        await uow.session.execute(
            sa.select(sa.func.count()).select_from(LeaderboardEntry).where(*where)
        )
    ).scalar_one()
    return rows, int(total)


async def archived_position(
    uow: UnitOfWork, season_pk: uuid.UUID, canonical_id: str, *, region: str | None
) -> tuple[int, LeaderboardEntry] | None:
    """The player's 0-based position among the frozen entries (of `region`)."""
    mine = (
        await uow.session.execute(
            _with_player().where(
                LeaderboardEntry.season_pk == season_pk,
                LeaderboardEntry.rank.is_not(None),
                User.canonical_id == canonical_id,
            )
        )
    ).first()
    if mine is None or (region is not None and mine[0].region != region):
        return None
    entry: LeaderboardEntry = mine[0]
    where = [
        LeaderboardEntry.season_pk == season_pk,
        LeaderboardEntry.rank.is_not(None),
        LeaderboardEntry.rank < entry.rank,
    ]
    if region is not None:
        where.append(LeaderboardEntry.region == region)
    above = (
        await uow.session.execute(
            sa.select(sa.func.count()).select_from(LeaderboardEntry).where(*where)
        )
    ).scalar_one()
    return int(above), entry


async def archived_entries(
    uow: UnitOfWork, season_pk: uuid.UUID, canonical_ids: Sequence[str]
) -> list[EntryRow]:
    query = _with_player().where(
        LeaderboardEntry.season_pk == season_pk,
        LeaderboardEntry.rank.is_not(None),
        User.canonical_id.in_(list(canonical_ids)),
    )
    return [(r[0], r[1]) for r in await uow.session.execute(query)]


async def entries_of_user(uow: UnitOfWork, user_id: uuid.UUID) -> list[LeaderboardEntry]:
    query = sa.select(LeaderboardEntry).where(LeaderboardEntry.user_id == user_id)
    return list((await uow.session.execute(query)).scalars())


async def delete_entry(uow: UnitOfWork, entry_id: uuid.UUID) -> None:
    await uow.session.execute(sa.delete(LeaderboardEntry).where(LeaderboardEntry.id == entry_id))


async def seasons_by_pk(uow: UnitOfWork, pks: Sequence[uuid.UUID]) -> dict[uuid.UUID, Season]:
    if not pks:
        return {}
    rows = await uow.session.execute(sa.select(Season).where(Season.id.in_(list(pks))))
    return {s.id: s for s in rows.scalars()}
