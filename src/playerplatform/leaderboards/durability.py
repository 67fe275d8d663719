"""The database as the durable copy of the hot boards: writing behind, rebuilding, checking.

Writing behind: a submission only marks its entry dirty in the hot store. A
`leaderboard_update` job (`flush_season`) scans the dirty markers, upserts the entries in
batches in its unit of work and, once that commits, clears the markers it wrote (compare and
delete on the version, so a score that changed meanwhile stays dirty for the next run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from playerplatform.kit.db import Database, UnitOfWork, new_uuid, utcnow
from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.hotstore.boards import Board, BoardEntry
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.models import LeaderboardEntry, Season

Progress = Callable[[int], None]
FLUSH_BUDGET = 50_000  # entries one job writes; more waiting makes the next tick's job
LOAD_BATCH = 5000


def board_of(season: Season) -> Board:
    return Board(season.season_id, season.sort == "desc")


def to_datetime(at: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(at / 1_000_000, dt.UTC)


def entry_values(entry: BoardEntry) -> dict[str, Any]:
    """Column values of a hot entry (without season, user or removal)."""
    return {
        "score": entry.score,
        "achieved_us": entry.at,
        "submitted_at": to_datetime(entry.at),
        "region": entry.region,
        "metadata": orjson.loads(entry.metadata) if entry.metadata else None,
    }


def board_entry(row: LeaderboardEntry, canonical_id: str) -> BoardEntry:
    return BoardEntry(
        member_id=canonical_id,
        score=row.score,
        at=row.achieved_us,
        region=row.region,
        metadata=orjson.dumps(row.meta).decode() if row.meta is not None else "",
        removed=row.removed_at is not None,
    )


async def flush_season(
    uow: UnitOfWork, hot: HotStore, season: Season, *, batch: int, budget: int = FLUSH_BUDGET
) -> int:
    """Write the season's dirty hot entries to `leaderboard_entries`; markers clear after
    the commit. Returns how many entries were written."""
    board = board_of(season)
    cursor, written = 0, 0
    versions: dict[str, str] = {}
    while True:
        cursor, dirty = await hot.board_dirty(board, cursor, batch)
        fresh = [(e, v) for e, v in dirty if not e.removed and e.member_id not in versions]
        ids = await repository.user_ids(uow, [e.member_id for e, _v in fresh], merged=False)
        now = utcnow()
        rows = []
        for entry, version in fresh:
            versions[entry.member_id] = version
            user_id = ids.get(entry.member_id)
            if user_id is None:
                continue  # not an account (any more), or merged away: nothing to keep
            rows.append(
                {
                    "id": new_uuid(),
                    "season_pk": season.id,
                    "user_id": user_id,
                    **entry_values(entry),
                    "updated_at": now,
                }
            )
        await repository.upsert_entries(uow, rows)
        written += len(rows)
        if cursor == 0 or len(versions) >= budget:
            break
    if versions:

        async def clean() -> None:
            await hot.board_clean(board, versions)

        uow.after_commit(clean)
    return written


async def rebuild_board(
    db: Database, hot: HotStore, season_id: str, *, progress: Progress | None = None
) -> int:
    """Load the season's entries from the database into an emptied board, then mark it
    loaded (submissions answer `cold` and wait until then). Returns the entries loaded."""
    async with db.unit_of_work(write=False) as uow:
        season = await repository.get_season(uow, season_id)
        if season is None:
            return 0
        board = board_of(season)
        if season.state == "closed":
            # A process with stale rules asked: the archive serves this season now. Let
            # it stop waiting without filling the hot store again.
            await hot.set(board.loaded, "archived", ttl=60.0)
            return 0
        await hot.board_drop(board)
        loaded, after = 0, None
        while True:
            rows = await repository.all_entries(uow, season.id, after=after, limit=LOAD_BATCH)
            if not rows:
                break
            await hot.board_load(board, [board_entry(row, cid) for row, cid in rows])
            loaded += len(rows)
            after = rows[-1][0].id
            if progress is not None:
                progress(loaded)
        if season.state != "open":
            await hot.set(board.closed, "1", ttl=7 * 24 * 3600.0)
    await hot.set(board.loaded, utcnow().isoformat())
    return loaded


@dataclass
class Drift:
    """What `check` found: entries only in one store, or different in the two."""

    season_id: str
    database: int = 0
    hot: int = 0
    only_in_database: list[str] = field(default_factory=list)
    only_in_hot: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    waiting: int = 0  # dirty entries: newer in the hot store by design, not drift
    loaded: bool = True

    @property
    def clean(self) -> bool:
        return not (self.only_in_database or self.only_in_hot or self.different) and self.loaded


async def check_board(
    db: Database, hot: HotStore, season: Season, *, progress: Progress | None = None
) -> Drift:
    """Compare the season's board with its rows. Entries still waiting to be written
    behind are counted apart, not as drift."""
    board = board_of(season)
    drift = Drift(season.season_id, loaded=await hot.exists(board.loaded))
    hot_entries: dict[str, BoardEntry] = {}
    cursor = 0
    while True:
        cursor, chunk = await hot.board_scan(board, cursor, 2000)
        hot_entries.update((e.member_id, e) for e in chunk)
        if cursor == 0:
            break
    waiting: set[str] = set()
    cursor = 0
    while True:
        cursor, dirty = await hot.board_dirty(board, cursor, 2000)
        waiting.update(e.member_id for e, _v in dirty)
        if cursor == 0:
            break
    drift.hot, drift.waiting = len(hot_entries), len(waiting)
    async with db.unit_of_work(write=False) as uow:
        after = None
        while True:
            rows = await repository.all_entries(uow, season.id, after=after, limit=LOAD_BATCH)
            if not rows:
                break
            after = rows[-1][0].id
            for row, cid in rows:
                drift.database += 1
                mine = hot_entries.pop(cid, None)
                if mine is None:
                    drift.only_in_database.append(cid)
                elif cid not in waiting and _differs(board_entry(row, cid), mine):
                    drift.different.append(cid)
            if progress is not None:
                progress(drift.database)
    # A removed entry with no row is a merged-away account's tombstone, not drift.
    drift.only_in_hot = sorted(
        cid for cid, e in hot_entries.items() if cid not in waiting and not e.removed
    )
    return drift


def _differs(stored: BoardEntry, hot: BoardEntry) -> bool:
    if stored.removed or hot.removed:
        return stored.removed != hot.removed
    return (stored.score, stored.at, stored.region) != (hot.score, hot.at, hot.region)


async def rebuild_now(
    db: Database, hot: HotStore, season_id: str, *, batch: int, progress: Progress | None = None
) -> int:
    """Rebuild a live board on demand without losing a score: submissions wait (the board
    reads as not loaded) while waiting scores are written, then the board is reloaded."""
    async with db.unit_of_work(write=False) as uow:
        season = await repository.get_season(uow, season_id)
    if season is None:
        return 0
    board = board_of(season)
    token = secrets.token_hex(8)
    for _attempt in range(6000):  # ten minutes: another rebuild holds the board meanwhile
        if await hot.set_if_absent(board.loading, token, ttl=600.0):
            break
        await asyncio.sleep(0.1)
    else:
        raise TimeoutError(f"another rebuild of {season_id} is still running")
    try:
        await hot.delete(board.loaded)
        async with db.unit_of_work() as uow:
            season = await repository.get_season(uow, season_id)
            assert season is not None
            await flush_season(uow, hot, season, batch=batch, budget=2**62)
        return await rebuild_board(db, hot, season_id, progress=progress)
    finally:
        await hot.delete_if_equals(board.loading, token)
