"""`mget_near`: copies of hot-store keys in the process. Whoever changes a key, and however
(a write here, a write from another process, a delete, a flush, a listener that dropped),
the next read after the change reaches the process gives the current value."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis

from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.hotstore.redis import RedisHotStore
from tests.kit import ADAPTERS, REDIS_URL, open_hot_store

TRACKED = ("n:",)
KEY = "n:{p}:state"
OTHER = "n:{p}:other"
UNTRACKED = "u:{p}:value"


@pytest.fixture(params=[a for a in ADAPTERS if a != "redis-cluster"])
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[HotStore]:
    async with open_hot_store(request.param, near_prefixes=TRACKED) as store:
        yield store


@pytest.fixture
async def near_store() -> AsyncIterator[RedisHotStore]:
    async with open_hot_store("redis", near_prefixes=TRACKED) as store:
        assert isinstance(store, RedisHotStore) and store.near is not None
        await store.mget_near([KEY])  # starts the listener
        async with asyncio.timeout(5):
            await store.near.wait_live()
        yield store


@pytest.fixture
async def elsewhere() -> AsyncIterator[aioredis.Redis]:
    """Another process's connection: writes that reach our copies only through Redis."""
    client = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def eventually(store: HotStore, keys: Sequence[str], expected: list[str | None]) -> float:
    """Seconds until `mget_near` answers `expected` (fails after one second)."""
    started = time.monotonic()
    while (seen := await store.mget_near(keys)) != expected:
        assert time.monotonic() - started < 1.0, f"still {seen}, expected {expected}"
        await asyncio.sleep(0.001)
    return time.monotonic() - started


async def test_reads_follow_this_process_writes_at_once(hot: HotStore) -> None:
    keys = [KEY, OTHER, UNTRACKED]
    assert await hot.mget_near(keys) == [None, None, None]
    await hot.set_many({KEY: "1", OTHER: "a"})
    await hot.set(UNTRACKED, "u")
    assert await hot.mget_near(keys) == ["1", "a", "u"]
    await hot.set(KEY, "2")
    assert await hot.mget_near(keys) == ["2", "a", "u"]
    await hot.set_many({KEY: "3", OTHER: "b"}, ttl=60)
    assert await hot.mget_near(keys) == ["3", "b", "u"]
    assert await hot.delete_if_equals(OTHER, "b")
    assert await hot.mget_near(keys) == ["3", None, "u"]
    assert await hot.set_if_absent(OTHER, "c")
    assert await hot.mget_near(keys) == ["3", "c", "u"]
    await hot.delete(KEY)
    assert await hot.mget_near(keys) == [None, "c", "u"]
    assert await hot.incr(KEY, 5) == 5
    assert await hot.mget_near(keys) == ["5", "c", "u"]


async def test_a_copy_serves_repeated_reads(near_store: RedisHotStore) -> None:
    assert near_store.near is not None
    await near_store.set(KEY, "kept")
    # Redis's message about our own write may overtake the first read, which then keeps no
    # copy (it cannot tell the change from a later one): a following read keeps it.
    for _ in range(100):
        assert await near_store.mget_near([KEY]) == ["kept"]
        if KEY in near_store.near._entries:
            break
        await asyncio.sleep(0.01)
    assert KEY in near_store.near._entries
    # Now served here: the copy answers even though Redis is never asked.
    reads = near_store.mget

    async def refuse(keys: Sequence[str]) -> list[str | None]:
        raise AssertionError(f"read {keys} from Redis")

    near_store.mget = refuse  # type: ignore[method-assign]
    try:
        assert await near_store.mget_near([KEY]) == ["kept"]
    finally:
        near_store.mget = reads  # type: ignore[method-assign]


async def test_changes_from_another_process_reach_the_copy(
    near_store: RedisHotStore, elsewhere: aioredis.Redis
) -> None:
    full = near_store.prefix + KEY
    await near_store.set(KEY, "before")
    assert await near_store.mget_near([KEY]) == ["before"]
    await elsewhere.set(full, "after")
    await eventually(near_store, [KEY], ["after"])
    await elsewhere.delete(full)
    await eventually(near_store, [KEY], [None])
    await elsewhere.set(full, "short-lived", px=50)
    await eventually(near_store, [KEY], ["short-lived"])
    await elsewhere.execute_command("PEXPIRE", full, 1)
    await asyncio.sleep(0.01)
    await elsewhere.get(full)  # touching an expired key deletes it, and Redis tells every copy
    await eventually(near_store, [KEY], [None])


async def test_a_read_overtaken_by_a_change_is_not_kept(
    near_store: RedisHotStore, elsewhere: aioredis.Redis
) -> None:
    near = near_store.near
    assert near is not None
    await near_store.set(KEY, "old")

    async def slow_read(keys: Sequence[str]) -> list[str | None]:
        values = await near_store.mget(keys)  # reads "old"
        await elsewhere.set(near_store.prefix + KEY, "new")  # a change while the answer travels
        async with asyncio.timeout(1):
            while KEY not in near._stale_in_flight:
                await asyncio.sleep(0.001)
        return values

    assert await near.mget([KEY], slow_read) == ["old"]  # the caller gets what was read...
    assert KEY not in near._entries  # ...but it is not kept
    assert await near_store.mget_near([KEY]) == ["new"]


async def test_a_flush_drops_every_copy(near_store: RedisHotStore) -> None:
    await near_store.set_many({KEY: "1", OTHER: "2"})
    assert await near_store.mget_near([KEY, OTHER]) == ["1", "2"]
    # FLUSHDB on a database nothing else uses: Redis tells every copy, of every database.
    spare = aioredis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/15")
    try:
        await spare.flushdb()
    finally:
        await spare.aclose()
    assert near_store.near is not None
    async with asyncio.timeout(1):
        while near_store.near._entries:
            await asyncio.sleep(0.001)


async def test_while_the_listener_is_down_reads_go_to_redis(
    near_store: RedisHotStore, elsewhere: aioredis.Redis
) -> None:
    near = near_store.near
    assert near is not None
    await near_store.set(KEY, "before")
    assert await near_store.mget_near([KEY]) == ["before"]
    await elsewhere.execute_command("CLIENT", "KILL", "ID", near.client_id)
    async with asyncio.timeout(1):
        while near.live:
            await asyncio.sleep(0.001)
    assert not near._entries
    # A change nobody could announce is still seen: without a listener nothing is copied.
    await elsewhere.set(near_store.prefix + KEY, "during")
    assert await near_store.mget_near([KEY]) == ["during"]
    assert KEY not in near._entries
    async with asyncio.timeout(5):
        await near.wait_live()
    await elsewhere.set(near_store.prefix + KEY, "after")
    await eventually(near_store, [KEY], ["after"])


async def test_a_peek_answers_only_what_a_read_would(hot: HotStore) -> None:
    await hot.set(KEY, "one")
    await hot.mget_near([KEY, OTHER])  # copies what there is to copy
    peeked = hot.peek_near([KEY])
    assert peeked in (None, ["one"])  # a store may decline; never a different answer
    await hot.set(KEY, "two")
    assert hot.peek_near([KEY]) in (None, ["two"])
    await hot.delete(KEY)
    assert hot.peek_near([KEY]) in (None, [None])


async def test_a_peek_serves_copies_and_never_a_dropped_one(
    near_store: RedisHotStore, elsewhere: aioredis.Redis
) -> None:
    await near_store.set(KEY, "one")
    assert near_store.peek_near([KEY]) is None  # a write drops this process's copy
    await copied(near_store, KEY, "one")
    assert near_store.peek_near([KEY, OTHER]) is None  # OTHER has no copy: a read must go
    assert near_store.peek_near([UNTRACKED]) is None

    await elsewhere.set(near_store.prefix + KEY, "two")  # another process's write
    async with asyncio.timeout(1):
        while near_store.peek_near([KEY]) is not None:
            await asyncio.sleep(0.001)
    await copied(near_store, KEY, "two")


async def copied(store: RedisHotStore, key: str, value: str) -> None:
    """Read `key` until a copy of `value` is kept (a read overtaken by the invalidation of
    the write before it is not kept), then check that a peek serves it."""
    async with asyncio.timeout(1):
        while store.peek_near([key]) is None:
            assert await store.mget_near([key]) == [value]
            await asyncio.sleep(0.001)
    assert store.peek_near([key]) == [value]
