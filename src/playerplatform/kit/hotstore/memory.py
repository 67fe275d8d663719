"""In-process hot store for the embedded shape: one process, one event loop.

Every method runs to completion without awaiting, so each call is atomic within the loop,
which is what makes counters, locks and the limiter safe without a lock. Keys live in one
keyspace (as in Redis), so `delete`, `exists`, `expire` and `ttl` work on every kind of
value. Expired keys are dropped when touched and by an amortised sweep.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import TypeVar

from playerplatform.kit.hotstore import UNLIMITED, WINDOW_SLOTS, WindowResult

_T = TypeVar("_T")
_Entry = tuple[float, str]

# Sweep expired keys after this many writes at least (more when many keys carry a TTL),
# so the sweep's cost stays O(1) per write on average.
_SWEEP_EVERY = 1024


def redis_span(start: int, stop: int, size: int) -> tuple[int, int]:
    """Redis's inclusive, negative-aware [start, stop] as a Python half-open range."""
    if start < 0:
        start = max(start + size, 0)
    if stop < 0:
        stop += size
    stop = min(stop, size - 1)
    if start > stop:
        return 0, 0
    return start, stop + 1


WindowState = tuple[tuple[int, int], ...]  # (slot index, hits), oldest first


def sliding_window(
    state: WindowState | None,
    *,
    now: float,
    limit: int,
    window: float,
    cost: int,
) -> tuple[WindowResult, WindowState | None]:
    """One decision of the sliding-window limiter (mirrored by the Redis adapter's script).

    The window's hits are counted in `WINDOW_SLOTS` slots of `window / WINDOW_SLOTS` seconds.
    A hit is let through when the slots the last `window` seconds touch hold, with it, at
    most `limit` hits. Every hit of the last `window` seconds is in those slots, so in no
    interval of `window` seconds, wherever it starts, do more than `limit` hits pass: the
    limit is exact, never exceeded. The slot where the window begins is counted whole, so a
    hit may wait up to one slot longer than strictly needed. Memory stays at most
    `WINDOW_SLOTS + 1` counters per key whatever the limit.

    Returns the result and the state to store when the hit is counted (None when nothing
    changes). A `cost` of 0 peeks: it reports whether one more hit would pass, without
    counting.
    """
    peek = cost == 0
    cost = cost or 1
    slot = window / WINDOW_SLOTS
    index = math.floor(now / slot)
    oldest = math.floor((now - window) / slot)
    live = [(i, c) for i, c in state or () if i >= oldest]
    count = sum(c for _i, c in live)
    if count + cost <= limit:
        remaining = math.floor(limit - count - (0 if peek else cost))
        if peek:
            return WindowResult(True, limit, remaining, 0.0), None
        if live and live[-1][0] == index:
            live[-1] = (index, live[-1][1] + cost)
        else:
            live.append((index, cost))
        return WindowResult(True, limit, remaining, 0.0), tuple(live)
    wait = 2 * window  # a cost beyond the limit never fits; the hint only bounds retries
    if cost <= limit:
        left = count
        for i, c in live:  # slots leave the window oldest first
            left -= c
            if left + cost <= limit:
                wait = (i + 1) * slot + window - now
                break
    return WindowResult(False, limit, max(0, math.floor(limit - count)), max(wait, 0.0)), None


class RankedSet:
    """A sorted set: scores by member, plus (score, member) pairs in sorted chunks with a
    Fenwick tree over the chunk sizes, so rank, by-rank lookups and updates are O(log n).
    Ties sort by member, as Redis sorts them."""

    __slots__ = ("_chunks", "_maxes", "_tree", "scores")
    _LOAD = 512

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self._chunks: list[list[_Entry]] = []
        self._maxes: list[_Entry] = []
        self._tree: list[int] = [0]  # 1-based Fenwick tree over len(chunk)

    def __len__(self) -> int:
        return len(self.scores)

    def put(self, member: str, score: float) -> bool:
        """Set a member's score; True when the member is new."""
        if math.isnan(score):
            raise ValueError("resulting score is not a number (NaN)")
        old = self.scores.get(member)
        if old == score:
            return False
        if old is not None:
            self._discard((old, member))
        self.scores[member] = score
        self._insert((score, member))
        return old is None

    def remove(self, member: str) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self._discard((score, member))
        return True

    def rank(self, member: str) -> int | None:
        score = self.scores.get(member)
        if score is None:
            return None
        entry = (score, member)
        i = bisect_left(self._maxes, entry)
        return self._prefix(i) + bisect_left(self._chunks[i], entry)

    def slice(self, start: int, stop: int) -> list[_Entry]:
        """Entries at ascending positions [start, stop)."""
        out: list[_Entry] = []
        want = stop - start
        if want <= 0:
            return out
        i, offset = self._locate(start)
        while len(out) < want and i < len(self._chunks):
            out.extend(self._chunks[i][offset : offset + want - len(out)])
            i, offset = i + 1, 0
        return out

    def _insert(self, entry: _Entry) -> None:
        if not self._chunks:
            self._chunks.append([entry])
            self._maxes.append(entry)
            self._rebuild()
            return
        i = bisect_left(self._maxes, entry)
        if i == len(self._maxes):
            i -= 1
            self._chunks[i].append(entry)
            self._maxes[i] = entry
        else:
            insort(self._chunks[i], entry)
        chunk = self._chunks[i]
        if len(chunk) <= 2 * self._LOAD:
            self._bump(i, 1)
            return
        tail = chunk[self._LOAD :]
        del chunk[self._LOAD :]
        self._chunks.insert(i + 1, tail)
        self._maxes[i] = chunk[-1]
        self._maxes.insert(i + 1, tail[-1])
        self._rebuild()

    def _discard(self, entry: _Entry) -> None:
        i = bisect_left(self._maxes, entry)
        chunk = self._chunks[i]
        del chunk[bisect_left(chunk, entry)]
        if chunk:
            self._maxes[i] = chunk[-1]
            self._bump(i, -1)
            return
        del self._chunks[i]
        del self._maxes[i]
        self._rebuild()

    def _rebuild(self) -> None:
        tree = [0] * (len(self._chunks) + 1)
        for i, chunk in enumerate(self._chunks, 1):
            tree[i] += len(chunk)
            parent = i + (i & -i)
            if parent < len(tree):
                tree[parent] += tree[i]
        self._tree = tree

    def _bump(self, chunk: int, delta: int) -> None:
        i = chunk + 1
        while i < len(self._tree):
            self._tree[i] += delta
            i += i & -i

    def _prefix(self, chunks: int) -> int:
        """How many entries the first `chunks` chunks hold."""
        total, i = 0, chunks
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total

    def _locate(self, position: int) -> tuple[int, int]:
        """The chunk holding ascending `position`, and the offset inside it."""
        index, step = 0, 1 << (len(self._tree) - 1).bit_length()
        while step:
            nxt = index + step
            if nxt < len(self._tree) and self._tree[nxt] <= position:
                index = nxt
                position -= self._tree[nxt]
            step >>= 1
        return index, position


class MemoryHotStore:
    """The hot store port held in this process's memory (see `HotStore`)."""

    def __init__(self, prefix: str = "pp:") -> None:
        self.prefix = prefix
        self._data: dict[str, object] = {}
        self._deadlines: dict[str, float] = {}
        self._writes = 0

    # Keyspace plumbing.

    def _live(self, key: str) -> object | None:
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= time.monotonic():
            self._drop(key)
            return None
        return self._data.get(key)

    def _typed(self, key: str, kind: type[_T]) -> _T | None:
        value = self._live(key)
        if value is not None and not isinstance(value, kind):
            raise TypeError("WRONGTYPE operation against a key holding another kind of value")
        return value

    def _store(self, key: str, value: object, ttl: float | None, *, keep_ttl: bool = False) -> None:
        self._data[key] = value
        if ttl is not None:
            self._deadlines[key] = time.monotonic() + max(ttl, 0.001)
        elif not keep_ttl:
            self._deadlines.pop(key, None)
        self._wrote()

    def _drop(self, key: str) -> bool:
        self._deadlines.pop(key, None)
        return self._data.pop(key, None) is not None

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes < max(_SWEEP_EVERY, len(self._deadlines)):
            return
        self._writes = 0
        now = time.monotonic()
        for key in [k for k, deadline in self._deadlines.items() if deadline <= now]:
            self._drop(key)

    # Structures for adapters built on this store (the leaderboards' boards). Synchronous:
    # calls made without awaiting in between are one atomic step. Keys without the prefix.

    def present(self, key: str) -> bool:
        """Whether a live (unexpired) value of any kind is at `key`."""
        return self._live(self.prefix + key) is not None

    def sorted_set(self, key: str, *, create: bool = False) -> RankedSet | None:
        return self._ranked(key, create=create)

    def hash_map(self, key: str, *, create: bool = False) -> dict[str, str] | None:
        return self._structure(key, dict, create=create)

    def member_set(self, key: str, *, create: bool = False) -> set[str] | None:
        return self._structure(key, set, create=create)

    def drop(self, key: str) -> bool:
        return self._drop(self.prefix + key)

    def drop_if_empty(self, key: str, ranked: RankedSet) -> None:
        self._forget_if_empty(key, ranked)

    def count_write(self) -> None:
        """Count a change made to a structure, for the amortised sweep of expired keys."""
        self._wrote()

    def _structure(self, key: str, kind: type[_T], *, create: bool) -> _T | None:
        full = self.prefix + key
        found = self._typed(full, kind)
        if found is None and create:
            found = kind()
            self._store(full, found, None)
        return found

    # Values with TTL.

    async def get(self, key: str) -> str | None:
        return self._typed(self.prefix + key, str)

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        return self._mget(keys)

    def _mget(self, keys: Sequence[str]) -> list[str | None]:
        values = [self._live(self.prefix + key) for key in keys]
        return [v if isinstance(v, str) else None for v in values]  # as MGET: others are nil

    async def mget_near(self, keys: Sequence[str]) -> list[str | None]:
        return self._mget(keys)  # already in the process

    def peek_near(self, keys: Sequence[str]) -> list[str | None] | None:
        return self._mget(keys)

    async def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self._store(self.prefix + key, value, ttl)

    async def set_many(self, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        for key, value in items.items():
            self._store(self.prefix + key, value, ttl)

    async def delete(self, *keys: str) -> int:
        return sum(
            self._live(self.prefix + k) is not None and self._drop(self.prefix + k) for k in keys
        )

    async def exists(self, key: str) -> bool:
        return self._live(self.prefix + key) is not None

    async def expire(self, key: str, ttl: float) -> bool:
        full = self.prefix + key
        if self._live(full) is None:
            return False
        self._deadlines[full] = time.monotonic() + max(ttl, 0.001)
        return True

    async def ttl(self, key: str) -> float | None:
        full = self.prefix + key
        if self._live(full) is None or full not in self._deadlines:
            return None
        return max(self._deadlines[full] - time.monotonic(), 0.0)

    # Atomic counters and locks.

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        full = self.prefix + key
        current = self._typed(full, str)
        if current is None:
            self._store(full, str(amount), ttl)
            return amount
        value = int(current) + amount
        self._store(full, str(value), None, keep_ttl=True)
        return value

    async def set_if_absent(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        full = self.prefix + key
        if self._live(full) is not None:
            return False
        self._store(full, value, ttl)
        return True

    async def delete_if_equals(self, key: str, value: str) -> bool:
        full = self.prefix + key
        if self._live(full) != value:
            return False
        return self._drop(full)

    # Sorted sets.

    def _ranked(self, key: str, *, create: bool = False) -> RankedSet | None:
        full = self.prefix + key
        ranked = self._typed(full, RankedSet)
        if ranked is None and create:
            ranked = RankedSet()
            self._store(full, ranked, None)
        return ranked

    def _forget_if_empty(self, key: str, ranked: RankedSet) -> None:
        if not ranked:  # Redis deletes a sorted set with its last member
            self._drop(self.prefix + key)

    async def zadd(self, key: str, members: Mapping[str, float]) -> int:
        if not members:
            return 0
        ranked = self._ranked(key, create=True)
        assert ranked is not None
        added = sum(ranked.put(member, float(score)) for member, score in members.items())
        self._wrote()
        return added

    async def zincrby(self, key: str, member: str, amount: float) -> float:
        ranked = self._ranked(key, create=True)
        assert ranked is not None
        score = ranked.scores.get(member, 0.0) + amount
        ranked.put(member, score)
        self._wrote()
        return score

    async def zscore(self, key: str, member: str) -> float | None:
        ranked = self._ranked(key)
        return None if ranked is None else ranked.scores.get(member)

    async def zrank(self, key: str, member: str, *, reverse: bool = False) -> int | None:
        ranked = self._ranked(key)
        rank = None if ranked is None else ranked.rank(member)
        if rank is None or not reverse:
            return rank
        assert ranked is not None
        return len(ranked) - 1 - rank

    async def zrange(
        self, key: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[str, float]]:
        ranked = self._ranked(key)
        if ranked is None:
            return []
        size = len(ranked)
        first, end = redis_span(start, stop, size)
        if reverse:
            entries = ranked.slice(size - end, size - first)
            entries.reverse()
        else:
            entries = ranked.slice(first, end)
        return [(member, score) for score, member in entries]

    async def zcard(self, key: str) -> int:
        ranked = self._ranked(key)
        return 0 if ranked is None else len(ranked)

    async def zrem(self, key: str, *members: str) -> int:
        ranked = self._ranked(key)
        if ranked is None:
            return 0
        removed = sum(ranked.remove(member) for member in members)
        self._forget_if_empty(key, ranked)
        return removed

    # Capped lists.

    async def push_capped(self, key: str, value: str, *, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        full = self.prefix + key
        items = self._typed(full, deque)
        if items is None:
            items = deque()
            self._store(full, items, None)
        items.appendleft(value)
        while len(items) > cap:
            items.pop()

    async def lrange(self, key: str, start: int, stop: int) -> list[str]:
        items = self._typed(self.prefix + key, deque)
        if items is None:
            return []
        first, end = redis_span(start, stop, len(items))
        return list(islice(items, first, end))

    # Rate limiting.

    async def hit_window(
        self, key: str, *, limit: int, window: float, cost: int = 1
    ) -> WindowResult:
        return self._window(key, limit=limit, window=window, cost=max(cost, 1))

    async def count_window_hits(self, hits: Sequence[tuple[str, float, int]]) -> list[int]:
        counts = []
        for key, window, cost in hits:
            result = self._window(key, limit=UNLIMITED, window=window, cost=max(cost, 1))
            counts.append(UNLIMITED - result.remaining)
        return counts

    async def peek_window(self, key: str, *, limit: int, window: float) -> WindowResult:
        return self._window(key, limit=limit, window=window, cost=0)

    def _window(self, key: str, *, limit: int, window: float, cost: int) -> WindowResult:
        full = self.prefix + key
        state = self._typed(full, tuple)
        result, new_state = sliding_window(
            state, now=time.monotonic(), limit=limit, window=window, cost=cost
        )
        if new_state is not None:
            # Until its newest slot has left the window.
            self._store(full, new_state, window + window / WINDOW_SLOTS)
        return result

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
        self._deadlines.clear()
