"""A process-local copy of hot-store keys that every request reads and few change: session
and ban state, cached user objects, cached ownership answers.

Redis tells us when to drop a copy. One connection per process asks for server-assisted
client-side caching in broadcast mode (`CLIENT TRACKING ON REDIRECT <self> BCAST PREFIX ...`)
and subscribes to `__redis__:invalidate`: every change to a key under a tracked prefix, from
any process, by any command, expiry and eviction and FLUSHALL included, reaches every copy.
Nothing that writes these keys has to remember to publish anything.

Copies are served only while that subscription is live; when it breaks, every copy is dropped
and reads go to Redis until it is back. A read that was in flight while its key changed is not
kept (it may predate the change). A write from this process drops its own copy at once, so a
request that follows a ban in the same process never sees the old state; other processes drop
theirs as soon as Redis's message arrives, well under a millisecond on one host.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import structlog
from redis.asyncio import Connection

from playerplatform.kit.metrics import counter

log = structlog.get_logger(__name__)
NEAR_READS = counter(
    "hot_store_near_reads_total",
    "Keys read through the process-local copies: served here (hit, added in batches of 100), "
    "read from Redis (miss), or read from Redis while the invalidation listener is down (bypass).",
    ("result",),
)
NEAR_RESETS = counter(
    "hot_store_near_resets_total",
    "Times the invalidation listener (re)subscribed and the copies were dropped.",
)
_HITS = NEAR_READS.labels("hit")
_MISSES = NEAR_READS.labels("miss")
_BYPASSES = NEAR_READS.labels("bypass")

INVALIDATE_CHANNEL = "__redis__:invalidate"
# Belt and braces: a copy older than this is read again even if no message said so.
MAX_AGE = 300.0
# Hits are added to their counter in batches (a counter update costs more than a hit).
HITS_BATCH = 100
MAX_ENTRIES = 200_000
PING_EVERY = 5.0
SILENCE_LIMIT = 3 * PING_EVERY
RECONNECT_DELAY = 1.0
MAX_RECONNECT_DELAY = 30.0

Fetch = Callable[[Sequence[str]], Awaitable[list[str | None]]]


class NearCache:
    """Copies of tracked keys (names without the store's prefix), coherent through Redis's
    invalidation messages. `start()` runs the listener; `mget` reads through the copies."""

    def __init__(self, connect: Callable[[], Connection], *, prefix: str, tracked: Sequence[str]):
        self._connect = connect
        self._prefix = prefix
        self.tracked = tuple(tracked)
        self._entries: dict[str, tuple[str, float]] = {}
        self._inflight: dict[str, int] = {}
        self._stale_in_flight: set[str] = set()  # changed while a read of theirs was in flight
        self._hits = 0  # not yet added to the counter
        self.live = False
        self._went_live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._heard = 0.0
        self.client_id: int | None = None  # the listener's connection, as Redis numbers it

    def covers(self, key: str) -> bool:
        return key.startswith(self.tracked)

    # Reads.

    def peek(self, keys: Sequence[str]) -> list[str | None] | None:
        """The values of `keys` when every one has a fresh copy here, else None (nothing
        counted: `mget` then reads them)."""
        now = time.monotonic()
        entries = self._entries
        values: list[str | None] = []
        for key in keys:
            entry = entries.get(key)
            if entry is None or entry[1] <= now:
                return None
            values.append(entry[0])
        self._hits += len(values)
        if self._hits >= HITS_BATCH:
            _HITS.inc(self._hits)
            self._hits = 0
        return values

    async def mget(self, keys: Sequence[str], fetch: Fetch) -> list[str | None]:
        """Values of `keys` (all tracked), from the copies where they are fresh, the rest
        through `fetch` in one call. Only a fetched value that no change overtook is kept."""
        now = time.monotonic()
        entries = self._entries
        values: list[str | None] = []
        missing: list[int] = []
        for index, key in enumerate(keys):
            entry = entries.get(key)
            if entry is not None and entry[1] > now:
                values.append(entry[0])
            else:
                values.append(None)
                missing.append(index)
        if len(missing) < len(keys):
            self._hits += len(keys) - len(missing)
            if self._hits >= HITS_BATCH:
                _HITS.inc(self._hits)
                self._hits = 0
        if not missing:
            return values
        wanted = [keys[i] for i in missing]
        if not self.live:
            _BYPASSES.inc(len(wanted))
            fetched = await fetch(wanted)
        else:
            _MISSES.inc(len(wanted))
            for key in wanted:
                self._inflight[key] = self._inflight.get(key, 0) + 1
            got: list[str | None] | None = None
            try:
                got = await fetch(wanted)
            finally:
                self._settle(wanted, got)
            fetched = got
        for index, value in zip(missing, fetched, strict=True):
            values[index] = value
        return values

    def _settle(self, keys: Sequence[str], fetched: list[str | None] | None) -> None:
        expires = time.monotonic() + MAX_AGE
        for position, key in enumerate(keys):
            left = self._inflight[key] - 1
            stale = key in self._stale_in_flight
            if left:
                self._inflight[key] = left
            else:
                del self._inflight[key]
                self._stale_in_flight.discard(key)
            value = fetched[position] if fetched is not None else None
            if value is not None and not stale:
                self._remember(key, value, expires)

    def _remember(self, key: str, value: str, expires: float) -> None:
        entries = self._entries
        if len(entries) >= MAX_ENTRIES and key not in entries:
            del entries[next(iter(entries))]  # the oldest copy
        entries[key] = (value, expires)

    # Changes.

    def forget(self, keys: Iterable[str]) -> None:
        """Drop copies of `keys` (a write from this process, or Redis's message)."""
        for key in keys:
            self._entries.pop(key, None)
            if key in self._inflight:
                self._stale_in_flight.add(key)

    def forget_all(self) -> None:
        self._entries.clear()
        self._stale_in_flight.update(self._inflight)

    # The listener.

    def start(self) -> None:
        if self._task is None:
            # A context of its own: not the request's that happened to start it (its log lines
            # would carry that request's id).
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._listen(), context=contextvars.Context())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._down()

    def _down(self) -> None:
        self.live = False
        self._went_live.clear()
        self.forget_all()

    async def wait_live(self) -> None:
        """Until the listener is subscribed (callers bound it with `asyncio.timeout`)."""
        while not self.live:
            await self._went_live.wait()

    async def _listen(self) -> None:
        delay = RECONNECT_DELAY
        while True:
            connection = self._connect()
            try:
                await self._subscribe(connection)
                delay = RECONNECT_DELAY
                pinger = asyncio.get_running_loop().create_task(self._ping(connection))
                try:
                    await self._receive(connection)
                finally:
                    pinger.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the store is down or restarting: serve from Redis
                log.warning("near_cache.listener_down", error=str(error))
            finally:
                self._down()
                with contextlib.suppress(Exception):
                    await connection.disconnect()
            # A server that refuses tracking (Redis before 6, some proxies) is asked again
            # less and less often; meanwhile every read goes to Redis.
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _subscribe(self, connection: Connection) -> None:
        await connection.connect()
        await connection.send_command("CLIENT", "ID")
        own_id = await connection.read_response()
        self.client_id = int(own_id)
        prefixes: list[str] = []
        for tracked in self.tracked:
            prefixes += ["PREFIX", self._prefix + tracked]
        await connection.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", own_id, "BCAST", *prefixes
        )
        await connection.read_response()
        await connection.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
        await connection.read_response()
        self._heard = time.monotonic()
        self.forget_all()  # anything copied before now may have missed a message
        NEAR_RESETS.inc()
        self.live = True
        self._went_live.set()

    async def _receive(self, connection: Connection) -> None:
        strip = len(self._prefix)
        while True:
            message = await connection.read_response()
            self._heard = time.monotonic()
            if not isinstance(message, list) or message[0] != "message":
                continue  # a pong
            keys = message[2]
            if keys is None:  # FLUSHALL / FLUSHDB
                self.forget_all()
            else:
                self.forget(key[strip:] for key in keys)

    async def _ping(self, connection: Connection) -> None:
        """Keep the quiet connection honest: a server that stopped answering ends it."""
        while True:
            await asyncio.sleep(PING_EVERY)
            if time.monotonic() - self._heard > SILENCE_LIMIT:
                self._down()
                await connection.disconnect()
                return
            await connection.send_command("PING", check_health=False)
