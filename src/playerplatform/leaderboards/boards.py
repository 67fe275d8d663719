"""Leaderboard boards on the hot store: the board store port (`BoardStore`) and the shapes
its two adapters share, `memory_boards.MemoryBoards` over the in-process store and
`redis_boards.RedisBoards` (Lua scripts) over Redis, held to one contract test suite.
`live.board_store_for` picks the one for the hot store in use.

A board is one season's ranking. Its keys share the hash tag `{season}` so every operation
on it is one atomic step (a Lua script on Redis, one uninterrupted call in process) and works
on Redis Cluster unchanged:

    lb:{S}:rank             sorted set: the whole board
    lb:{S}:rank:<region>    sorted set: one region's board
    lb:{S}:entries          hash: member id -> the entry (score, time, region, metadata)
    lb:{S}:dirty            hash: member id -> version, entries not yet written behind
    lb:{S}:regions          set: regions that have a board
    lb:{S}:closed           flag: the season takes no more scores
    lb:{S}:loaded           flag: the board holds everything the database holds (its value,
                            the time of the load, names this filling of the board)
    lb:{S}:version          mark: a new one with every change to the board's rankings

A board's version is its `loaded` value and its mark together: a reader that kept a page
with the version it was read at (`BoardStore.page`) is told, in the same atomic step that
would read it again, whether the board changed since. Marks are random, not counted, and a
rebuild starts a new `loaded` value, so neither a change lost with a failover nor a board
lost and filled again ever makes an old version current again.

Unique ranks. A sorted-set member is `<16 hex digits of time>:<member id>` and its score is
the raw score. Redis orders equal scores by member bytes, so the time prefix breaks ties:
for a board sorted ascending the prefix is the achievement time in microseconds, read
forwards; for a descending board it is `2**63 - 1 - time`, read backwards (ZREVRANGE), which
again puts the earlier achievement first. Scores keep full double precision (integers are
exact up to 2**53); times are exact to the microsecond until the year 294,000.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

Operator = Literal["best", "latest", "increment"]
Status = Literal["applied", "kept", "closed", "removed", "cold"]
_TIME_MAX = 2**63 - 1
SEP = "\t"  # entry fields; never inside compact JSON, region names or numbers


@dataclass(frozen=True, slots=True)
class Board:
    """Where one season's board lives in the hot store, and which way it sorts."""

    season: str
    descending: bool

    @property
    def _tag(self) -> str:
        return f"lb:{{{self.season}}}"

    def ranking(self, region: str | None = None) -> str:
        return f"{self._tag}:rank" + (f":{region}" if region else "")

    @property
    def entries(self) -> str:
        return f"{self._tag}:entries"

    @property
    def dirty(self) -> str:
        return f"{self._tag}:dirty"

    @property
    def version(self) -> str:
        return f"{self._tag}:version"

    @property
    def regions(self) -> str:
        return f"{self._tag}:regions"

    @property
    def closed(self) -> str:
        return f"{self._tag}:closed"

    @property
    def loaded(self) -> str:
        return f"{self._tag}:loaded"

    @property
    def loading(self) -> str:
        return f"{self._tag}:loading"

    @property
    def flushing(self) -> str:
        return f"{self._tag}:flushing"

    def member(self, member_id: str, at: int) -> str:
        """The sorted-set member for `member_id` achieving its score at `at` (µs)."""
        stamp = _TIME_MAX - at if self.descending else at
        return f"{stamp:016x}:{member_id}"


class BoardEntry(NamedTuple):
    """One member's entry. `rank` is 0-based in the ranking it was read from (None when
    not read from one); `metadata` is compact JSON or empty. A named tuple: pages decode a
    hundred of these per read, and a tuple is built in C."""

    member_id: str
    score: float
    at: int  # microseconds since the epoch: when this score was achieved
    region: str | None = None
    metadata: str = ""
    removed: bool = False
    rank: int | None = None

    def encode(self, member: str) -> str:
        return SEP.join(
            (
                format_score(self.score),
                str(self.at),
                self.region or "",
                "1" if self.removed else "0",
                member,
                self.metadata,
            )
        )

    @classmethod
    def decode(cls, member_id: str, raw: str, rank: int | None = None) -> BoardEntry:
        score, at, region, removed, _member, metadata = raw.split(SEP, 5)
        # Positional: a named tuple built from keywords costs a third more, per entry.
        return cls(member_id, float(score), int(at), region or None, metadata, removed == "1", rank)


@dataclass(frozen=True, slots=True)
class Submission:
    member_id: str
    score: float
    at: int
    operator: Operator
    region: str | None = None
    metadata: str = ""


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a submission did. `score` and `rank` (0-based, whole board) are the member's
    standing afterwards; `improved` says the stored score moved in the board's favour."""

    status: Status
    score: float | None = None
    rank: int | None = None
    improved: bool = False


def format_score(score: float) -> str:
    """A score as both adapters store it: the shortest text that reads back exactly."""
    return repr(float(score))


def better(board: Board, new: float, old: float | None) -> bool:
    if old is None:
        return True
    return new > old if board.descending else new < old


def member_id_of(member: str) -> str:
    return member[17:]


class RankedPage(NamedTuple):
    """A page of a ranking, its total, and the board's version it was read at ('' when the
    board is not loaded: such a page is not kept)."""

    entries: list[BoardEntry]
    total: int
    version: str


class BoardStore(Protocol):
    """Boards in the hot store; each call is atomic and touches one board's keys."""

    async def submit(self, board: Board, submission: Submission) -> Submitted:
        """Apply a score with the board's operator, unless the board is closed, not loaded
        (`cold`) or the member was removed; mark the entry dirty for the write-behind."""
        ...

    async def range(
        self, board: Board, start: int, stop: int, *, region: str | None = None
    ) -> tuple[list[BoardEntry], int]:
        """Entries at 0-based ranks [start, stop] (inclusive, non-negative) and the total."""
        ...

    async def page(
        self, board: Board, start: int, stop: int, *, region: str | None, known: str | None
    ) -> RankedPage | None:
        """As `range`, with the board's version; None when the version is `known` (the page
        read at that version is still the page)."""
        ...

    async def around(
        self, board: Board, member_id: str, radius: int, *, region: str | None = None
    ) -> tuple[list[BoardEntry], int]:
        """`2 * radius + 1` entries around the member (shifted at the top and bottom so the
        page stays full), and the total; no entries when the member is not ranked."""
        ...

    async def entries(
        self, board: Board, member_ids: Sequence[str], *, region: str | None = None
    ) -> list[BoardEntry | None]:
        """Each member's ranked entry (None when not ranked), in the order asked."""
        ...

    async def remove(self, board: Board, member_id: str, *, at: int) -> None:
        """Take the member off every ranking and keep it marked removed (later submissions
        answer `removed`); its dirty marker goes, the caller writes the removal durably."""
        ...

    async def dirty(
        self, board: Board, cursor: int, count: int
    ) -> tuple[int, list[tuple[BoardEntry, str]]]:
        """One step of a scan over entries not yet written behind: (next cursor, 0 when
        done; [(entry, version)]). Versions go back to `clean` once written."""
        ...

    async def clean(self, board: Board, versions: Mapping[str, str]) -> int:
        """Drop dirty markers whose version is still the one written (compare-and-delete)."""
        ...

    async def load(self, board: Board, entries: Sequence[BoardEntry]) -> None:
        """Put entries (from the database) on the board as they are; used to rebuild."""
        ...

    async def scan(self, board: Board, cursor: int, count: int) -> tuple[int, list[BoardEntry]]:
        """One step of a scan over every entry (removed ones included)."""
        ...

    async def drop(self, board: Board) -> None:
        """Free the board's rankings, entries and markers (the closed flag stays)."""
        ...
