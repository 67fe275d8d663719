"""Redis hot store (single node or Redis Cluster) for the production shape.

Every key gets the namespace prefix in front, outside any `{hash tag}` the caller wrote, so
keys that share a tag stay in one cluster slot. Multi-key calls (`mget`, `set_many`,
`delete`) need that in cluster mode. The operations that must be atomic and are not single
commands run as Lua scripts, loaded once and called by SHA.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from playerplatform.kit.batching import Batcher
from playerplatform.kit.hotstore import UNLIMITED, WINDOW_SLOTS, WindowResult
from playerplatform.kit.hotstore.breaker import Breaker, GuardedPool
from playerplatform.kit.hotstore.cluster import FOLLOW_MOVED_IN_PLACE, HotStoreCluster
from playerplatform.kit.hotstore.near import NearCache

# One API process runs many requests at once and most touch the hot store once or twice.
# A single node's pool waits for a free connection rather than opening without bound; the
# cluster client cannot wait, so it gets more room per node.
POOL_SIZE = 128
CLUSTER_POOL_SIZE = 512
# Connecting, waiting for a free connection and each reply: a silent server costs a request at
# most this long, and only until the breaker opens (`breaker`).
TIMEOUT = 2.0

_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Values with a TTL each, set together: KEYS, then ARGV = their values, then their TTLs (ms).
_SET_MANY_PX = """
local n = #KEYS
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[i], 'PX', ARGV[n + i])
end
return n
"""

_INCR_WITH_TTL = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""

# The sliding-window limiter of `memory.sliding_window`, step for step, on the server's
# clock so every process shares one notion of time. State is a hash: slot index -> hits.
# `live_slots` reads the slots still in the window (and drops the others); `count` adds hits.
_WINDOW_STEPS = (
    f"local SLOTS = {WINDOW_SLOTS}\n"
    + """
local function now()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local function live_slots(key, window, at)
  local slot = window / SLOTS
  local oldest = math.floor((at - window) / slot)
  local fields = redis.call('HGETALL', key)
  local slots, count, stale = {}, 0, {}
  for i = 1, #fields, 2 do
    local index = tonumber(fields[i])
    if index ~= nil and index >= oldest then
      slots[#slots + 1] = {index, tonumber(fields[i + 1])}
      count = count + tonumber(fields[i + 1])
    else
      stale[#stale + 1] = fields[i]
    end
  end
  if #stale > 0 then
    redis.call('HDEL', key, unpack(stale))
  end
  table.sort(slots, function(a, b) return a[1] < b[1] end)
  return slot, math.floor(at / slot), slots, count
end
local function count(key, window, slot, index, cost)
  redis.call('HINCRBY', key, string.format('%d', index), cost)
  redis.call('PEXPIRE', key, math.ceil((window + slot) * 1000))
end
"""
)

# One hit of `cost` against `limit` (a cost of 0 peeks): {allowed, remaining, wait}.
_SLIDING_WINDOW = (
    _WINDOW_STEPS
    + """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local peek = cost == 0
if peek then cost = 1 end
local at = now()
local slot, index, slots, hits = live_slots(KEYS[1], window, at)
if hits + cost <= limit then
  if peek then
    return {1, math.floor(limit - hits), '0'}
  end
  count(KEYS[1], window, slot, index, cost)
  return {1, math.floor(limit - hits - cost), '0'}
end
local wait = 2 * window
if cost <= limit then
  local left = hits
  for _, pair in ipairs(slots) do
    left = left - pair[2]
    if left + cost <= limit then
      wait = (pair[1] + 1) * slot + window - at
      break
    end
  end
end
if wait < 0 then wait = 0 end
return {0, math.max(0, math.floor(limit - hits)), string.format('%.17g', wait)}
"""
)

# `count_window_hits` on one node: the counting step (limit `UNLIMITED`, so always allowed)
# for many keys in one call. KEYS: the windows; ARGV: the limit, then each key's window length
# and hit count in turn. Returns each key's remaining allowance, as the window script does.
_COUNT_HITS = (
    _WINDOW_STEPS
    + """
local limit = tonumber(ARGV[1])
local at = now()
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  local cost = tonumber(ARGV[2 * i + 1])
  local slot, index, _, hits = live_slots(key, window, at)
  count(key, window, slot, index, cost)
  out[i] = math.floor(limit - hits - cost)
end
return out
"""
)
# Keys per `_COUNT_HITS` call: Redis serves nothing else while a script runs.
COUNT_HITS_CHUNK = 100


class Script:
    """A Lua script sent by hash (EVALSHA); a server that does not hold it (restarted,
    flushed, or a replica just promoted by a failover: script caches are not replicated) gets
    it whole once (EVAL), which also loads it there. redis-py's own `Script` reloads with
    SCRIPT LOAD, which a cluster client may send to the old master after a failover."""

    def __init__(self, client: Any, source: str) -> None:
        self._client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        try:
            return await self._client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.eval(self.source, len(keys), *keys, *args)


def _count_hits_args(hits: Iterable[tuple[str, float, int]]) -> list[Any]:
    """`_COUNT_HITS`'s ARGV for these windows: the limit, then each one's length and cost."""
    args: list[Any] = [UNLIMITED]
    for _, window, cost in hits:
        args += [repr(float(window)), max(cost, 1)]
    return args


def _ms(seconds: float) -> int:
    """Redis takes whole milliseconds; never round a positive TTL down to 'no expiry'."""
    return max(1, math.ceil(seconds * 1000))


class RedisHotStore:
    """The hot store port on Redis (see `HotStore`).

    In cluster mode, multi-key calls work only when the caller's keys share a hash tag
    (`lb:{season}:a`, `lb:{season}:b`); the namespace prefix never breaks a tag.
    """

    def __init__(
        self, client: Any, *, prefix: str, cluster: bool, near_prefixes: Sequence[str] = ()
    ) -> None:
        self._client = client
        self.prefix = prefix
        self.cluster = cluster
        self._setting: Batcher[tuple[Mapping[str, str], float], None] = Batcher(self._set_together)
        # Copies in the process (see `near`); on one node only: in a cluster each node would
        # need a listener of its own.
        self.near: NearCache | None = None
        if near_prefixes and not cluster:
            pool = client.connection_pool
            self.near = NearCache(
                # A quiet connection by design: no read timeout, and no health checks (they
                # would read from under the listener); it pings the server itself.
                lambda: pool.connection_class(
                    **{
                        **pool.connection_kwargs,
                        "health_check_interval": 0,
                        "socket_timeout": None,
                    }
                ),
                prefix=prefix,
                tracked=near_prefixes,
            )
        self._delete_if_equals = Script(client, _DELETE_IF_EQUALS)
        self._incr_with_ttl = Script(client, _INCR_WITH_TTL)
        self._set_many_px = Script(client, _SET_MANY_PX)
        self._sliding_window = Script(client, _SLIDING_WINDOW)
        self._count_hits_script = Script(client, _COUNT_HITS)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "pp:",
        cluster: bool = False,
        near_prefixes: Sequence[str] = (),
        timeout: float = TIMEOUT,
        breaker: Breaker | None = None,
    ) -> RedisHotStore:
        """A store on `url`. On one node, commands go through `breaker` (a fresh one unless
        given): once Redis stops answering they fail at once instead of waiting `timeout`."""
        if "{" in prefix or "}" in prefix:
            # A brace in the prefix would become every key's hash tag.
            raise ValueError("the Redis key prefix must not contain '{' or '}'")
        client: Any
        if cluster:
            # A failover's MOVED replies are followed in place, and a call the client's own
            # topology refresh breaks fails as Redis unavailable (`cluster`).
            client = HotStoreCluster.from_url(
                url,
                decode_responses=True,
                max_connections=CLUSTER_POOL_SIZE,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                reinitialize_steps=FOLLOW_MOVED_IN_PLACE,
            )
        else:
            pool: GuardedPool = GuardedPool.from_url(
                url,
                breaker=breaker or Breaker(),
                decode_responses=True,
                max_connections=POOL_SIZE,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
            )
            # The client owns the pool and closes it (the redis stubs lag redis 5 here).
            client = aioredis.Redis.from_pool(pool)
        return cls(client, prefix=prefix, cluster=cluster, near_prefixes=near_prefixes)

    # For adapters built on this store (the leaderboards' boards): their own Lua scripts.

    @property
    def client(self) -> Any:
        """The redis-py client (single node or cluster); keys go through `key`."""
        return self._client

    def key(self, key: str) -> str:
        """`key` as stored: under the namespace prefix, outside any hash tag."""
        return self.prefix + key

    def script(self, source: str) -> Script:
        """A Lua script, sent by hash (and sent whole when the server lost it)."""
        return Script(self._client, source)

    def pipeline(self) -> Any:
        """A pipeline: a transaction on one node (in a cluster, where the keys share a slot
        anyway, a plain pipeline: cluster pipelines cannot be transactions)."""
        return self._client.pipeline(transaction=not self.cluster)

    def _changing(self, *keys: str) -> None:
        """Drop this process's copies of keys it is about to write (other processes hear of
        the write from Redis)."""
        if self.near is not None:
            self.near.forget(keys)

    # Values with TTL.

    async def get(self, key: str) -> str | None:
        value: str | None = await self._client.get(self.key(key))
        return value

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        return list(await self._client.mget([self.key(k) for k in keys]))

    def peek_near(self, keys: Sequence[str]) -> list[str | None] | None:
        near = self.near
        if near is None or not near.live:
            return None
        return near.peek(keys)

    async def mget_near(self, keys: Sequence[str]) -> list[str | None]:
        near = self.near
        if near is None or not all(map(near.covers, keys)):
            return await self.mget(keys)
        if not near.live:
            near.start()
        return await near.mget(keys, self.mget)

    async def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self._changing(key)
        await self._client.set(self.key(key), value, px=None if ttl is None else _ms(ttl))

    async def set_many(self, items: Mapping[str, str], *, ttl: float | None = None) -> None:
        if not items:
            return
        self._changing(*items)
        if ttl is None:
            await self._client.mset({self.key(k): v for k, v in items.items()})
            return
        if self.cluster:
            await self._set_together([(items, ttl)])
            return
        # Calls made at the same time go in one transaction (sign-ins publish a session each).
        await self._setting.submit((items, ttl))

    async def _set_together(self, calls: list[tuple[Mapping[str, str], float]]) -> list[None]:
        if self.cluster:  # keys in many slots: one SET each, pipelined
            pipe = self.pipeline()
            for items, ttl in calls:
                for key, value in items.items():
                    pipe.set(self.key(key), value, px=_ms(ttl))
            await pipe.execute()
            return [None] * len(calls)
        # One script call: a single command to send and a single reply to read, however
        # many keys (a transaction of SETs costs a command and a reply per key).
        keys: list[str] = []
        values: list[str] = []
        ttls: list[int] = []
        for items, ttl in calls:
            keys.extend(map(self.key, items))
            values.extend(items.values())
            ttls.extend([_ms(ttl)] * len(items))
        await self._set_many_px(keys=keys, args=[*values, *ttls])
        return [None] * len(calls)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        self._changing(*keys)
        return int(await self._client.delete(*(self.key(k) for k in keys)))

    async def exists(self, key: str) -> bool:
        return bool(await self._client.exists(self.key(key)))

    async def expire(self, key: str, ttl: float) -> bool:
        self._changing(key)
        return bool(await self._client.pexpire(self.key(key), _ms(ttl)))

    async def ttl(self, key: str) -> float | None:
        left = int(await self._client.pttl(self.key(key)))
        return None if left < 0 else left / 1000

    # Atomic counters and locks.

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        self._changing(key)
        if ttl is None:
            return int(await self._client.incrby(self.key(key), amount))
        return int(await self._incr_with_ttl(keys=[self.key(key)], args=[amount, _ms(ttl)]))

    async def set_if_absent(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        px = None if ttl is None else _ms(ttl)
        self._changing(key)
        return bool(await self._client.set(self.key(key), value, nx=True, px=px))

    async def delete_if_equals(self, key: str, value: str) -> bool:
        self._changing(key)
        return bool(await self._delete_if_equals(keys=[self.key(key)], args=[value]))

    # Sorted sets.

    async def zadd(self, key: str, members: Mapping[str, float]) -> int:
        if not members:
            return 0
        return int(await self._client.zadd(self.key(key), dict(members)))

    async def zincrby(self, key: str, member: str, amount: float) -> float:
        return float(await self._client.zincrby(self.key(key), amount, member))

    async def zscore(self, key: str, member: str) -> float | None:
        score = await self._client.zscore(self.key(key), member)
        return None if score is None else float(score)

    async def zrank(self, key: str, member: str, *, reverse: bool = False) -> int | None:
        command = self._client.zrevrank if reverse else self._client.zrank
        rank = await command(self.key(key), member)
        return None if rank is None else int(rank)

    async def zrange(
        self, key: str, start: int, stop: int, *, reverse: bool = False
    ) -> list[tuple[str, float]]:
        rows = await self._client.zrange(self.key(key), start, stop, desc=reverse, withscores=True)
        return [(member, float(score)) for member, score in rows]

    async def zcard(self, key: str) -> int:
        return int(await self._client.zcard(self.key(key)))

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return int(await self._client.zrem(self.key(key), *members))

    # Capped lists.

    async def push_capped(self, key: str, value: str, *, cap: int) -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        full = self.key(key)
        pipe = self.pipeline()
        pipe.lpush(full, value)
        pipe.ltrim(full, 0, cap - 1)
        await pipe.execute()

    async def lrange(self, key: str, start: int, stop: int) -> list[str]:
        return list(await self._client.lrange(self.key(key), start, stop))

    # Rate limiting.

    async def hit_window(
        self, key: str, *, limit: int, window: float, cost: int = 1
    ) -> WindowResult:
        return await self._window(key, limit=limit, window=window, cost=max(cost, 1))

    async def peek_window(self, key: str, *, limit: int, window: float) -> WindowResult:
        return await self._window(key, limit=limit, window=window, cost=0)

    async def count_window_hits(self, hits: Sequence[tuple[str, float, int]]) -> list[int]:
        if not hits:
            return []
        if self.cluster:
            return await self._count_hits_by_slot(hits)
        counts: list[int] = []
        for start in range(0, len(hits), COUNT_HITS_CHUNK):
            chunk = hits[start : start + COUNT_HITS_CHUNK]
            counts += await self._count_hits_script(
                keys=[self.key(key) for key, _, _ in chunk], args=_count_hits_args(chunk)
            )
        return [UNLIMITED - int(r) for r in counts]

    async def _count_hits_by_slot(self, hits: Sequence[tuple[str, float, int]]) -> list[int]:
        """`count_window_hits` on a cluster: a script call may only name keys of one slot, so
        the windows are grouped by slot, one `_COUNT_HITS` call per group, every call in one
        pipeline (a round trip per node). The calls go as EVAL: a cluster pipeline cannot
        send EVALSHA, and the server keeps the compiled script after the first call."""
        groups: dict[int, list[int]] = {}
        for i, (key, _, _) in enumerate(hits):
            groups.setdefault(key_slot(self.key(key).encode()), []).append(i)
        calls: list[list[int]] = []
        async with self._client.pipeline(transaction=False) as pipe:
            for indexes in groups.values():
                for start in range(0, len(indexes), COUNT_HITS_CHUNK):
                    chunk = indexes[start : start + COUNT_HITS_CHUNK]
                    keys = [self.key(hits[i][0]) for i in chunk]
                    pipe.eval(
                        _COUNT_HITS, len(keys), *keys, *_count_hits_args(hits[i] for i in chunk)
                    )
                    calls.append(chunk)
            replies = await pipe.execute()
        counts = [0] * len(hits)
        for chunk, remaining in zip(calls, replies, strict=True):
            for i, left in zip(chunk, remaining, strict=True):
                counts[i] = UNLIMITED - int(left)
        return counts

    async def _window(self, key: str, *, limit: int, window: float, cost: int) -> WindowResult:
        allowed, remaining, wait = await self._sliding_window(
            keys=[self.key(key)], args=[limit, repr(float(window)), cost]
        )
        return WindowResult(bool(allowed), limit, int(remaining), float(wait))

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        if self.near is not None:
            await self.near.stop()
        await self._client.aclose()
