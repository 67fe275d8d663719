"""What each process keeps for the leaderboards: a short-lived copy of every season's rules
(so a submission never reads the database), a cache of display names and bans (so a page of
100 entries costs no query per row), the pages of live boards it answered last (so a page
read again while its board did not change is not decoded and built again), and the
write-behind flusher.

A kept page holds the board's version it was read at (`boards`); the next read of that page
asks the hot store, in the one step that would read the page, whether the version is still
the board's, and answers the kept page if so. It is kept no longer than the cards it was
built from, so display names and bans reach it as they reach a page built anew.

The flusher runs in every process that starts the runtime; each tick, the one that takes the
hot-store lock looks at the live seasons, rebuilds any board the hot store lost, enqueues one
`leaderboard_update` job per season with entries waiting to be written, and one close job per
season past its end (keyed, so once per season).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from playerplatform.kit.db import Database, utcnow
from playerplatform.kit.errors import NotFound, ServiceUnavailable
from playerplatform.kit.hotstore import UNAVAILABLE, HotStore
from playerplatform.kit.hotstore.memory import MemoryHotStore
from playerplatform.kit.hotstore.redis import RedisHotStore
from playerplatform.kit.ratelimit import Quota
from playerplatform.kit.settings import Settings
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.boards import Board, BoardStore
from playerplatform.leaderboards.memory_boards import MemoryBoards
from playerplatform.leaderboards.models import OPEN, Season
from playerplatform.leaderboards.redis_boards import RedisBoards

log = structlog.get_logger("playerplatform.leaderboards")
MAX_KEPT_PAGES = 2_000  # pages of live boards a process keeps (any season, region and span)
PageKey = tuple[str, str | None, int, int]  # season, region, offset, limit


@dataclass(frozen=True, slots=True)
class KeptPage:
    version: str  # of the board, when the page was read
    until: float  # monotonic: when the first of its cards expires
    body: bytes  # the page, encoded


FLUSHER_LOCK = "lb:flusher"
LOAD_WAIT_SECONDS = 30.0
CLOSED_FLAG_TTL = 7 * 24 * 3600.0  # longer than any process keeps a season's rules
FLUSH_TTL = 60.0  # a write-behind job that has not committed by then is presumed dead


@dataclass(frozen=True, slots=True)
class SeasonRules:
    """A season as the hot path needs it."""

    pk: uuid.UUID
    season_id: str
    type: str
    sort: str
    operator: str
    reset_rule: str
    start: dt.datetime
    end: dt.datetime | None
    state: str
    authoritative: bool
    score_min: float | None
    score_max: float | None
    rate: Quota | None

    @property
    def board(self) -> Board:
        return Board(self.season_id, self.sort == "desc")

    def accepts_at(self, now: dt.datetime) -> bool:
        return self.state == OPEN and (self.end is None or now < self.end)

    @classmethod
    def of(cls, season: Season) -> SeasonRules:
        meta = season.meta or {}
        rate = meta.get("submission_rate")
        return cls(
            pk=season.id,
            season_id=season.season_id,
            type=season.type,
            sort=season.sort,
            operator=season.operator,
            reset_rule=season.reset_rule,
            start=season.start_date,
            end=season.end_date,
            state=season.state,
            authoritative=season.authoritative,
            score_min=meta.get("score_min"),
            score_max=meta.get("score_max"),
            rate=Quota.parse(rate) if isinstance(rate, str) else None,
        )


@dataclass(frozen=True, slots=True)
class PlayerCard:
    display_name: str | None
    visible: bool  # not banned, not merged


def board_store_for(hot: HotStore) -> BoardStore:
    """The board store over `hot`, by the hot store's adapter."""
    if isinstance(hot, MemoryHotStore):
        return MemoryBoards(hot)
    if isinstance(hot, RedisHotStore):
        return RedisBoards(hot)
    raise TypeError(f"no board store over a hot store of type {type(hot).__name__}")


class LiveBoards:
    """The leaderboards' per-process state (see the module docstring)."""

    def __init__(self, settings: Settings, db: Database, hot: HotStore) -> None:
        self.settings = settings
        self.db = db
        self.hot = hot
        self.boards = board_store_for(hot)
        self._seasons: dict[str, tuple[float, SeasonRules | None]] = {}
        self._forgotten = 0  # seasons forgotten so far (a read that straddles one is not kept)
        self._cards: dict[str, tuple[float, PlayerCard | None]] = {}
        self._pages: dict[PageKey, KeptPage] = {}
        self._ready: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # Seasons.

    async def season(self, season_id: str) -> SeasonRules:
        """The season's rules, from this process's copy when it is fresh; 404 if unknown."""
        cached = self._seasons.get(season_id)
        now = time.monotonic()
        if cached is None or cached[0] <= now:
            forgotten = self._forgotten
            async with self.db.unit_of_work(write=False) as uow:
                season = await repository.get_season(uow, season_id)
            rules = SeasonRules.of(season) if season is not None else None
            cached = (now + self.settings.leaderboard_season_cache_seconds, rules)
            # A season forgotten while this read was under way (a close committing) may have
            # been read as it was before: use it for this call, do not keep it.
            if forgotten == self._forgotten:
                self._seasons[season_id] = cached
            if len(self._seasons) > 10_000:
                self._seasons.clear()
        if cached[1] is None:
            raise NotFound("No such season.")
        return cached[1]

    def forget_season(self, season_id: str) -> None:
        self._forgotten += 1
        self._seasons.pop(season_id, None)

    # Display names and visibility.

    async def cards(self, canonical_ids: Sequence[str]) -> dict[str, PlayerCard]:
        """Cards for these players (unknown ones are invisible), one query for the misses."""
        from playerplatform.users import service as users

        now = time.monotonic()
        out: dict[str, PlayerCard] = {}
        missing = []
        for cid in canonical_ids:
            cached = self._cards.get(cid)
            if cached is not None and cached[0] > now:
                out[cid] = cached[1] or PlayerCard(None, False)
            else:
                missing.append(cid)
        if missing:
            async with self.db.unit_of_work(write=False) as uow:
                found = await users.display_cards(uow, missing)
            if len(self._cards) > 200_000:
                self._cards.clear()
            expires = now + self.settings.leaderboard_names_cache_seconds
            for cid in missing:
                name, visible = found.get(cid, (None, False))
                card = PlayerCard(name, visible)
                self._cards[cid] = (expires, card)
                out[cid] = card
        return out

    def forget_cards(self) -> None:
        self._cards.clear()
        self._pages.clear()  # built from them

    # Pages of live boards.

    def kept_page(self, key: PageKey) -> KeptPage | None:
        """The page kept for `key` while its cards are fresh; the caller asks the board
        whether its version is still current."""
        kept = self._pages.get(key)
        if kept is None or kept.until <= time.monotonic():
            return None
        return kept

    def keep_page(self, key: PageKey, version: str, body: bytes, members: Sequence[str]) -> None:
        """Keep `body` (a page, encoded), read at `version`, until the first of its members'
        cards expires."""
        if not version:
            return
        until = min((self._cards[m][0] for m in members if m in self._cards), default=0.0)
        if until <= time.monotonic():
            return
        if len(self._pages) >= MAX_KEPT_PAGES:
            self._pages.clear()
        self._pages[key] = KeptPage(version, until, body)

    # Keeping the hot store filled.

    async def ready(self, rules: SeasonRules) -> None:
        """Make sure the board is in the hot store before reading it; checked at most once
        per flush interval per process (the flusher checks too)."""
        now = time.monotonic()
        if self._ready.get(rules.season_id, 0.0) > now:
            return
        await self.ensure_loaded(rules)
        self._ready[rules.season_id] = now + self.settings.leaderboard_flush_seconds

    async def ensure_loaded(self, rules: SeasonRules) -> None:
        """Rebuild the season's board from the database unless the hot store has it (one
        process rebuilds, the others wait for it)."""
        from playerplatform.leaderboards import durability

        board = rules.board
        deadline = time.monotonic() + LOAD_WAIT_SECONDS
        token = secrets.token_hex(8)
        while not await self.hot.exists(board.loaded):
            if await self.hot.set_if_absent(board.loading, token, ttl=LOAD_WAIT_SECONDS):
                try:
                    if not await self.hot.exists(board.loaded):
                        await durability.rebuild_board(
                            self.db, self.hot, self.boards, rules.season_id
                        )
                finally:
                    await self.hot.delete_if_equals(board.loading, token)
                return
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    "The leaderboard is being rebuilt; try again shortly.",
                    headers={"Retry-After": "5"},
                )
            await asyncio.sleep(0.05)

    # The flusher.

    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="leaderboards-flusher")

    async def close(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self.write_behind_now()

    async def write_behind_now(self) -> int:
        """Write every live season's waiting scores now (at shutdown: in the embedded shape
        the hot store dies with this process). Returns how many entries were written."""
        from playerplatform.leaderboards import durability

        written = 0
        try:
            async with self.db.unit_of_work(write=False) as uow:
                seasons = await repository.list_seasons(uow, not_closed=True)
            for season in seasons:
                async with self.db.unit_of_work() as uow:
                    written += await durability.flush_season(
                        uow, self.boards, season, batch=self.settings.leaderboard_flush_batch
                    )
        except Exception:  # shutting down: report, let the rest of the shutdown run
            log.exception("leaderboard_final_write_behind_failed")
        return written

    async def _loop(self) -> None:
        interval = self.settings.leaderboard_flush_seconds
        while not self._stopping.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leaderboard_flusher_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)

    async def _needs_flush(self, rules: SeasonRules, now: dt.datetime) -> bool:
        """Load a live season's board if the hot store lost it, and claim the season's
        write-behind when scores wait (one job in flight per season: the job clears the
        marker when it commits; a job that died leaves it to expire). Seasons that have not
        started or have ended are not loaded here: nobody plays them, and a database with
        many of them would otherwise be read into the hot store every tick."""
        live = rules.start <= now and (rules.end is None or rules.end > now)
        if rules.state == OPEN and live and not await self.hot.exists(rules.board.loaded):
            await self.ensure_loaded(rules)
        _cursor, dirty = await self.boards.dirty(rules.board, 0, 1)
        return bool(dirty) and await self.hot.set_if_absent(
            rules.board.flushing, "1", ttl=FLUSH_TTL
        )

    async def tick(self) -> int:
        """One round of the flusher; returns how many flush jobs it enqueued."""
        from playerplatform.jobs.service import enqueue

        interval = self.settings.leaderboard_flush_seconds
        if not await self.hot.set_if_absent(FLUSHER_LOCK, "1", ttl=max(interval * 0.9, 0.05)):
            return 0
        async with self.db.unit_of_work(write=False) as uow:
            seasons = [
                SeasonRules.of(s) for s in await repository.list_seasons(uow, not_closed=True)
            ]
        now = utcnow()
        waiting, due = [], []
        for rules in seasons:
            if rules.end is not None and rules.end <= now:
                due.append(rules.season_id)
            try:
                if await self._needs_flush(rules, now):
                    waiting.append(rules.season_id)
            except UNAVAILABLE:
                raise  # the hot store is down: no season can go on
            except Exception:  # one season's board must not hold back the others'
                log.exception("leaderboard_tick_season_failed", season_id=rules.season_id)
        if waiting or due:
            from playerplatform.leaderboards.seasons import enqueue_close

            async with self.db.unit_of_work() as uow:
                for season_id in waiting:
                    await enqueue(
                        uow,
                        "leaderboard_update",
                        {"kind": "flush", "season_id": season_id, "at": now.isoformat()},
                    )
                for season_id in due:  # the season worker; keyed, so once per season
                    await enqueue_close(uow, season_id)
        return len(waiting)
