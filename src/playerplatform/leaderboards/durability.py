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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from playerplatform.jobs import parked
from playerplatform.jobs.service import failing_jobs, keyed_job
from playerplatform.kit.db import Database, UnitOfWork, new_uuid, utcnow
from playerplatform.kit.hotstore import HotStore
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.boards import Board, BoardEntry, BoardStore
from playerplatform.leaderboards.models import CLOSING, LeaderboardEntry, Season

Progress = Callable[[int], None]
FLUSH_BUDGET = 50_000  # entries one job writes; more waiting makes the next tick's job
LOAD_BATCH = 5000
WRITE_BEHIND = "leaderboards.write_behind"  # the source of parked entries
JOB_QUEUE = "leaderboard_update"


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
    uow: UnitOfWork, boards: BoardStore, season: Season, *, batch: int, budget: int = FLUSH_BUDGET
) -> int:
    """Write the season's dirty hot entries to `leaderboard_entries`; markers clear after
    the commit. An entry the database refuses is parked (`jobs.parked`) and its marker
    cleared too, so it never holds back the others. Returns how many entries were written."""
    board = board_of(season)
    cursor, written = 0, 0
    versions: dict[str, str] = {}
    parked_before = await parked.count_open(uow, WRITE_BEHIND, season.season_id)
    while True:
        cursor, dirty = await boards.dirty(board, cursor, batch)
        fresh = [(e, v) for e, v in dirty if not e.removed and e.member_id not in versions]
        ids = await repository.user_ids(uow, [e.member_id for e, _v in fresh], merged=False)
        now = utcnow()
        rows: list[dict[str, Any]] = []
        rejected: list[parked.Rejected] = []
        for entry, version in fresh:
            versions[entry.member_id] = version
            user_id = ids.get(entry.member_id)
            if user_id is None:
                continue  # not an account (any more), or merged away: nothing to keep
            key = entry_key(season, entry.member_id)
            try:
                values = entry_values(entry)
            except ValueError as exc:  # metadata that is not JSON
                rejected.append(parked.Rejected(key, entry._asdict(), parked.describe(exc)))
                continue
            rows.append(
                {"id": new_uuid(), "season_pk": season.id, "user_id": user_id, **values}
                | {"updated_at": now, "_key": key}
            )
        refused = await parked.write_isolating(
            uow, rows, lambda chunk: repository.upsert_entries(uow, _columns(chunk)), _row_key
        )
        await parked.park(uow, WRITE_BEHIND, season.season_id, [*rejected, *refused])
        written += len(rows) - len(refused)
        if parked_before and rows:
            await parked.resolve(uow, WRITE_BEHIND, _written_keys(rows, refused), "written")
        if cursor == 0 or len(versions) >= budget:
            break
    if versions:

        async def clean() -> None:
            await boards.clean(board, versions)

        uow.after_commit(clean)
    return written


def entry_key(season: Season, member_id: str) -> str:
    """A parked entry's key: the season and the player."""
    return f"{season.season_id}/{member_id}"


def _row_key(row: dict[str, Any]) -> str:
    return str(row["_key"])


def _columns(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_key"} for row in rows]


def _written_keys(rows: Sequence[dict[str, Any]], rejected: Sequence[parked.Rejected]) -> list[str]:
    failed = {r.key for r in rejected}
    return [key for key in map(_row_key, rows) if key not in failed]


async def rebuild_board(
    db: Database,
    hot: HotStore,
    boards: BoardStore,
    season_id: str,
    *,
    progress: Progress | None = None,
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
        await boards.drop(board)
        loaded, after = 0, None
        while True:
            rows = await repository.all_entries(uow, season.id, after=after, limit=LOAD_BATCH)
            if not rows:
                break
            await boards.load(board, [board_entry(row, cid) for row, cid in rows])
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
    parked: list[str] = field(default_factory=list)  # entries the database refused
    # The season's latest failing write-behind or close job (its error), when one holds
    # waiting entries or the close back.
    stuck: str | None = None
    closing: bool = False  # a close was asked for and has not finished

    @property
    def clean(self) -> bool:
        differs = self.only_in_database or self.only_in_hot or self.different
        return not (differs or self.parked or self.stuck) and self.loaded


async def check_board(
    db: Database,
    hot: HotStore,
    boards: BoardStore,
    season: Season,
    *,
    progress: Progress | None = None,
) -> Drift:
    """Compare the season's board with its rows. Entries still waiting to be written
    behind are counted apart, not as drift."""
    board = board_of(season)
    drift = Drift(season.season_id, loaded=await hot.exists(board.loaded))
    hot_entries: dict[str, BoardEntry] = {}
    cursor = 0
    while True:
        cursor, chunk = await boards.scan(board, cursor, 2000)
        hot_entries.update((e.member_id, e) for e in chunk)
        if cursor == 0:
            break
    waiting: set[str] = set()
    cursor = 0
    while True:
        cursor, dirty = await boards.dirty(board, cursor, 2000)
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
        await _stuck_work(uow, season, drift)
    # A removed entry with no row is a merged-away account's tombstone, not drift.
    drift.only_in_hot = sorted(
        cid
        for cid, e in hot_entries.items()
        if cid not in waiting and not e.removed and cid not in drift.parked
    )
    return drift


async def _stuck_work(uow: UnitOfWork, season: Season, drift: Drift) -> None:
    """Parked entries, and the job holding waiting entries or the close back."""
    items = await parked.open_items(uow, source=WRITE_BEHIND, scope=season.season_id, limit=1000)
    drift.parked = sorted(item.key.split("/", 1)[1] for item in items)
    drift.closing = season.state == CLOSING
    for job in await failing_jobs(uow, JOB_QUEUE):
        if job.payload.get("season_id") == season.season_id:
            kind = job.payload.get("kind", "flush")
            if kind == "close" or drift.waiting:
                drift.stuck = f"{kind} job {job.public_id} {job.status}: {job.last_error}"
            break
    close_key = f"close:{season.season_id}"
    if drift.closing and drift.stuck is None and await keyed_job(uow, JOB_QUEUE, close_key) is None:
        drift.stuck = "close job missing"


def _differs(stored: BoardEntry, hot: BoardEntry) -> bool:
    if stored.removed or hot.removed:
        return stored.removed != hot.removed
    return (stored.score, stored.at, stored.region) != (hot.score, hot.at, hot.region)


async def rebuild_now(
    db: Database,
    hot: HotStore,
    boards: BoardStore,
    season_id: str,
    *,
    batch: int,
    progress: Progress | None = None,
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
            await flush_season(uow, boards, season, batch=batch, budget=2**62)
        return await rebuild_board(db, hot, boards, season_id, progress=progress)
    finally:
        await hot.delete_if_equals(board.loading, token)
