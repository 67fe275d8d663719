"""Hot store port: the fast, shared, non-durable state (sessions cache, rate limits,
idempotency locks, hot feeds). Two adapters: in-process (`memory`) and Redis (`redis`), held
to one contract test suite.

Keys are plain strings; the adapter adds the configured namespace prefix. Multi-key
operations take keys that share a hash tag (`{...}`) so Redis Cluster works unchanged.
Values are strings.

A domain whose structures need several steps done atomically (the leaderboards' boards)
builds its own adapter over each: Lua scripts on `RedisHotStore` (`client`, `key`,
`script`), and on `MemoryHotStore` its sorted sets, hashes and sets, reached without awaiting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# The limit `count_window_hits` counts under: a sliding window that never refuses.
UNLIMITED = 2**50
# What a hot store raises when it cannot be reached (Redis down, silent, its circuit open, or a
# Redis Cluster's topology changing under the call: `cluster.ClusterReshaping`): callers that
# can do without it catch these; the API answers them 503 `unavailable`.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
# A rate-limit window is kept as this many slots of hits (see `memory.sliding_window`): the
# count never misses a hit of the last window and holds back at most one slot's worth of
# hits that have just left it.
WINDOW_SLOTS = 20


class WindowResult(NamedTuple):
    """Outcome of one hit on a sliding-window limiter (a named tuple: one is made per
    request)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the window has room again (0 when allowed)


@runtime_checkable
class HotStore(Protocol):
    # Values with TTL.
    async def get(self, key: str) -> str | None: ...
    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        """Values in the order of `keys`. Multi-key: the keys must share a hash tag."""
        ...

    async def mget_near(self, keys: Sequence[str]) -> list[str | None]:
        """`mget` that may answer from a copy in this process, kept coherent by the store:
        a change from any process drops every copy before (this process) or within a moment
        after (others) the write returns. For keys under the store's `near_prefixes` that
        every request reads and few change; other keys are read as `mget` reads them."""
        ...

    def peek_near(self, keys: Sequence[str]) -> list[str | None] | None:
        """What `mget_near` would answer, when it can answer without waiting on anything
        (every key has a current copy in this process); else None. For hot paths: no
        coroutine when nothing needs one."""
        ...

    async def set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...
    async def set_many(self, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        """Set every item (each with `ttl`). Multi-key: without a `ttl` the keys must share a
        hash tag; with one they need not (a cluster sets each on its slot, pipelined)."""
        ...

    async def delete(self, *keys: str) -> int:
        """Delete keys of any kind; returns how many existed. Multi-key: the keys must share
        a hash tag."""
        ...

    async def exists(self, key: str) -> bool: ...
    async def expire(self, key: str, ttl: float) -> bool: ...
    async def ttl(self, key: str) -> float | None:
        """Seconds left; None when the key is missing or has no expiry."""
        ...

    # Atomic counters.
    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add `amount`; `ttl` is applied only when the key is created."""
        ...

    # Locks: SET-if-absent and compare-and-delete.
    async def set_if_absent(self, key: str, value: str, *, ttl: float | None = None) -> bool: ...
    async def delete_if_equals(self, key: str, value: str) -> bool: ...

    # Sorted sets (ascending by score; ties by member, as Redis does).
    async def zadd(self, key: str, members: Mapping[str, float]) -> int: ...
    async def zincrby(self, key: str, member: str, amount: float) -> float: ...
    async def zscore(self, key: str, member: str) -> float | None: ...
    async def zrank(self, key: str, member: str, *, reverse: bool = False) -> int | None: ...
    async def zrange(
        self, key: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[str, float]]:
        """Members by rank, `stop` inclusive (Redis semantics, negative indexes allowed)."""
        ...

    async def zcard(self, key: str) -> int: ...
    async def zrem(self, key: str, *members: str) -> int: ...

    # Capped lists (newest first).
    async def push_capped(self, key: str, value: str, *, cap: int) -> None: ...
    async def lrange(self, key: str, start: int, stop: int) -> list[str]: ...

    # Rate limiting.
    async def count_window_hits(self, hits: Sequence[tuple[str, float, int]]) -> list[int]:
        """Add hits that were already let through to sliding windows, without a limit:
        `(key, window seconds, hits)` each; returns each window's count after (rounded up).
        The per-process rate-limit counter (`kit.ratelimit`) sends its share this way."""
        ...

    async def hit_window(
        self, key: str, *, limit: int, window: float, cost: int = 1
    ) -> WindowResult:
        """Count one hit in a sliding window of `window` seconds; refuse beyond `limit`."""
        ...

    async def peek_window(self, key: str, *, limit: int, window: float) -> WindowResult:
        """The window's state without counting a hit."""
        ...

    async def ping(self) -> None: ...
    async def close(self) -> None: ...


def create_hot_store(
    redis_url: str | None,
    *,
    prefix: str = "pp:",
    cluster: bool = False,
    near_prefixes: Sequence[str] = (),
    timeout: float = 2.0,
) -> HotStore:
    """Pick the adapter from settings: Redis when a URL is set, otherwise in-process.
    `near_prefixes` name the keys `mget_near` may copy into the process (Redis only: the
    in-process store is already here)."""
    if redis_url:
        from playerplatform.kit.hotstore.redis import RedisHotStore

        return RedisHotStore.from_url(
            redis_url, prefix=prefix, cluster=cluster, near_prefixes=near_prefixes, timeout=timeout
        )
    from playerplatform.kit.hotstore.memory import MemoryHotStore

    return MemoryHotStore(prefix=prefix)
