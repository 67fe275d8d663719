"""Leaderboard boards on the in-process hot store (see `boards`): each operation runs to
completion without awaiting, so it is as atomic as the Redis adapter's scripts, and ranks
come from the store's sorted sets (`RankedSet`) in O(log n)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import islice

from playerplatform.kit.hotstore.memory import MemoryHotStore, RankedSet, redis_span
from playerplatform.leaderboards.boards import (
    Board,
    BoardEntry,
    RankedPage,
    Submission,
    Submitted,
    better,
    member_id_of,
)


class MemoryBoards:
    """The board store over a `MemoryHotStore`'s sorted sets, hashes and sets."""

    def __init__(self, store: MemoryHotStore) -> None:
        self.store = store

    def _changed(self, board: Board) -> None:
        """Count a change to the board's rankings (its version, see `boards`)."""
        counter = self.store.hash_map(board.version, create=True)
        assert counter is not None
        counter["n"] = str(int(counter.get("n", "0")) + 1)
        self.store.count_write()

    def _rank(self, ranked: RankedSet | None, member: str, board: Board) -> int | None:
        if ranked is None:
            return None
        rank = ranked.rank(member)
        if rank is None or not board.descending:
            return rank
        return len(ranked) - 1 - rank

    def _place(self, board: Board, region: str | None, member: str, score: float) -> None:
        for key in (board.ranking(), board.ranking(region) if region else None):
            if key is not None:
                ranked = self.store.sorted_set(key, create=True)
                assert ranked is not None
                ranked.put(member, score)

    def _unplace(self, board: Board, region: str | None, member: str) -> None:
        for key in (board.ranking(), board.ranking(region) if region else None):
            if key is not None and (ranked := self.store.sorted_set(key)) is not None:
                ranked.remove(member)
                self.store.drop_if_empty(key, ranked)

    async def submit(self, board: Board, submission: Submission) -> Submitted:
        if self.store.present(board.closed):
            return Submitted("closed")
        if not self.store.present(board.loaded):
            return Submitted("cold")
        entries = self.store.hash_map(board.entries, create=True)
        assert entries is not None
        raw = entries.get(submission.member_id)
        old = BoardEntry.decode(submission.member_id, raw) if raw is not None else None
        if old is not None and old.removed:
            return Submitted("removed")
        region = old.region if old is not None else submission.region
        new_score = submission.score
        if submission.operator == "increment" and old is not None:
            new_score = old.score + submission.score
        improved = better(board, new_score, old.score if old else None)
        if submission.operator == "best" and not improved:
            assert old is not None
            member = board.member(old.member_id, old.at)
            rank = self._rank(self.store.sorted_set(board.ranking()), member, board)
            return Submitted("kept", old.score, rank, False)
        if old is not None:
            self._unplace(board, region, board.member(old.member_id, old.at))
        member = board.member(submission.member_id, submission.at)
        self._place(board, region, member, new_score)
        if region:
            regions = self.store.member_set(board.regions, create=True)
            assert regions is not None
            regions.add(region)
        entry = BoardEntry(
            submission.member_id, new_score, submission.at, region, submission.metadata
        )
        entries[submission.member_id] = entry.encode(member)
        dirty = self.store.hash_map(board.dirty, create=True)
        assert dirty is not None
        dirty[submission.member_id] = f"{submission.at}:{new_score!r}"
        self._changed(board)
        rank = self._rank(self.store.sorted_set(board.ranking()), member, board)
        return Submitted("applied", new_score, rank, improved)

    def _slice(
        self, board: Board, start: int, stop: int, region: str | None
    ) -> tuple[list[BoardEntry], int]:
        ranked = self.store.sorted_set(board.ranking(region))
        if ranked is None:
            return [], 0
        size = len(ranked)
        first, end = redis_span(start, stop, size)
        if board.descending:
            rows = ranked.slice(size - end, size - first)
            rows.reverse()
        else:
            rows = ranked.slice(first, end)
        entries = self.store.hash_map(board.entries) or {}
        out = []
        for position, (_score, member) in enumerate(rows, first):
            member_id = member_id_of(member)
            raw = entries.get(member_id)
            if raw is not None:
                out.append(BoardEntry.decode(member_id, raw, position))
        return out, size

    async def range(
        self, board: Board, start: int, stop: int, *, region: str | None = None
    ) -> tuple[list[BoardEntry], int]:
        return self._slice(board, start, stop, region)

    async def page(
        self, board: Board, start: int, stop: int, *, region: str | None, known: str | None
    ) -> RankedPage | None:
        loaded = await self.store.get(board.loaded)
        version = ""
        if loaded is not None:
            counter = self.store.hash_map(board.version) or {}
            version = f"{loaded}:{counter.get('n', '0')}"
        if version and version == known:
            return None
        entries, total = self._slice(board, start, stop, region)
        return RankedPage(entries, total, version)

    async def around(
        self, board: Board, member_id: str, radius: int, *, region: str | None = None
    ) -> tuple[list[BoardEntry], int]:
        entries = self.store.hash_map(board.entries) or {}
        raw = entries.get(member_id)
        ranked = self.store.sorted_set(board.ranking(region))
        total = 0 if ranked is None else len(ranked)
        if raw is None or ranked is None:
            return [], total
        entry = BoardEntry.decode(member_id, raw)
        rank = self._rank(ranked, board.member(member_id, entry.at), board)
        if rank is None:
            return [], total
        width = 2 * radius + 1
        start = max(0, min(rank - radius, total - width))
        return self._slice(board, start, start + width - 1, region)

    async def entries(
        self, board: Board, member_ids: Sequence[str], *, region: str | None = None
    ) -> list[BoardEntry | None]:
        entries = self.store.hash_map(board.entries) or {}
        ranked = self.store.sorted_set(board.ranking(region))
        out: list[BoardEntry | None] = []
        for member_id in member_ids:
            raw = entries.get(member_id)
            entry = BoardEntry.decode(member_id, raw) if raw is not None else None
            if entry is None or entry.removed:
                out.append(None)
                continue
            rank = self._rank(ranked, board.member(member_id, entry.at), board)
            out.append(None if rank is None else BoardEntry.decode(member_id, raw or "", rank))
        return out

    async def remove(self, board: Board, member_id: str, *, at: int) -> None:
        entries = self.store.hash_map(board.entries, create=True)
        assert entries is not None
        raw = entries.get(member_id)
        if raw is not None:
            old = BoardEntry.decode(member_id, raw)
            self._unplace(board, old.region, board.member(member_id, old.at))
            entry = BoardEntry(member_id, old.score, old.at, old.region, old.metadata, True)
        else:
            entry = BoardEntry(member_id, 0.0, at, None, "", True)
        entries[member_id] = entry.encode(board.member(member_id, entry.at))
        dirty = self.store.hash_map(board.dirty)
        if dirty is not None:
            dirty.pop(member_id, None)  # the removal is written by the caller, durably
        self._changed(board)

    async def dirty(
        self, board: Board, cursor: int, count: int
    ) -> tuple[int, list[tuple[BoardEntry, str]]]:
        dirty = self.store.hash_map(board.dirty) or {}
        entries = self.store.hash_map(board.entries) or {}
        rows = list(islice(dirty.items(), cursor, cursor + count))
        following = cursor + len(rows)
        out = []
        for member_id, version in rows:
            raw = entries.get(member_id)
            if raw is not None:
                out.append((BoardEntry.decode(member_id, raw), version))
        return (0 if following >= len(dirty) else following), out

    async def clean(self, board: Board, versions: Mapping[str, str]) -> int:
        dirty = self.store.hash_map(board.dirty)
        if dirty is None:
            return 0
        cleaned = 0
        for member_id, version in versions.items():
            if dirty.get(member_id) == version:
                del dirty[member_id]
                cleaned += 1
        if not dirty:
            self.store.drop(board.dirty)
        return cleaned

    async def load(self, board: Board, entries: Sequence[BoardEntry]) -> None:
        stored = self.store.hash_map(board.entries, create=True)
        assert stored is not None
        for entry in entries:
            member = board.member(entry.member_id, entry.at)
            stored[entry.member_id] = entry.encode(member)
            if not entry.removed:
                self._place(board, entry.region, member, entry.score)
                if entry.region:
                    regions = self.store.member_set(board.regions, create=True)
                    assert regions is not None
                    regions.add(entry.region)
        self._changed(board)

    async def scan(self, board: Board, cursor: int, count: int) -> tuple[int, list[BoardEntry]]:
        entries = self.store.hash_map(board.entries) or {}
        rows = list(islice(entries.items(), cursor, cursor + count))
        following = cursor + len(rows)
        out = [BoardEntry.decode(member_id, raw) for member_id, raw in rows]
        return (0 if following >= len(entries) else following), out

    async def drop(self, board: Board) -> None:
        regions = self.store.member_set(board.regions) or set()
        for key in (
            board.ranking(),
            *(board.ranking(r) for r in regions),
            board.entries,
            board.dirty,
            board.regions,
            board.loaded,
            board.version,
        ):
            self.store.drop(key)
