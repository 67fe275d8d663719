"""The hot store contract: every adapter passes the same tests, whatever PP_TEST_SHAPE is."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from playerplatform.kit.hotstore import HotStore
from tests.kit import ADAPTERS, open_hot_store

SHORT = 0.2  # seconds: a TTL or window short enough to watch it pass
SLACK = 0.1


@pytest.fixture(params=ADAPTERS)
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[HotStore]:
    async with open_hot_store(request.param) as store:
        yield store


async def test_adapter_implements_the_port(hot: HotStore) -> None:
    assert isinstance(hot, HotStore)
    await hot.ping()


# Values with TTL.


async def test_value_round_trip_overwrite_and_missing(hot: HotStore) -> None:
    assert await hot.get("v") is None
    await hot.set("v", "one")
    assert await hot.get("v") == "one"
    await hot.set("v", "two")
    assert await hot.get("v") == "two"
    assert await hot.ttl("v") is None


async def test_value_with_ttl_expires(hot: HotStore) -> None:
    await hot.set("v", "soon gone", ttl=SHORT)
    left = await hot.ttl("v")
    assert left is not None and 0 < left <= SHORT
    assert await hot.get("v") == "soon gone"
    await asyncio.sleep(SHORT + SLACK)
    assert await hot.get("v") is None
    assert not await hot.exists("v")
    assert await hot.ttl("v") is None


async def test_plain_set_clears_an_earlier_ttl(hot: HotStore) -> None:
    await hot.set("v", "a", ttl=SHORT)
    await hot.set("v", "b")
    await asyncio.sleep(SHORT + SLACK)
    assert await hot.get("v") == "b"
    assert await hot.ttl("v") is None


async def test_mget_set_many_delete_exists(hot: HotStore) -> None:
    keys = ["s:{match}:a", "s:{match}:b", "s:{match}:c"]
    await hot.set_many({keys[0]: "1", keys[1]: "2"})
    assert await hot.mget(keys) == ["1", "2", None]
    assert await hot.mget([]) == []
    assert await hot.exists(keys[0])
    assert not await hot.exists(keys[2])
    assert await hot.delete(*keys) == 2
    assert await hot.mget(keys) == [None, None, None]
    assert await hot.delete(*keys) == 0
    assert await hot.delete() == 0


async def test_set_many_with_ttl_expires_every_key(hot: HotStore) -> None:
    items = {f"s:{{many}}:{i}": str(i) for i in range(5)}
    await hot.set_many(items, ttl=SHORT)
    assert await hot.mget(list(items)) == list(items.values())
    for key in items:
        left = await hot.ttl(key)
        assert left is not None and 0 < left <= SHORT
    await asyncio.sleep(SHORT + SLACK)
    assert await hot.mget(list(items)) == [None] * 5


async def test_concurrent_set_many_calls_keep_their_own_ttls(hot: HotStore) -> None:
    """Calls made at the same time may be written together: each key keeps its call's TTL."""
    calls = [
        (
            {f"s:{{together}}:{i}:a": f"{i}a", f"s:{{together}}:{i}:b": f"{i}b"},
            SHORT if i % 2 else 60.0,
        )
        for i in range(10)
    ]
    await asyncio.gather(*(hot.set_many(items, ttl=ttl) for items, ttl in calls))
    every_key = [key for items, _ in calls for key in items]
    assert await hot.mget(every_key) == [value for items, _ in calls for value in items.values()]
    await asyncio.sleep(SHORT + SLACK)
    for items, ttl in calls:
        expected: list[str | None] = list(items.values()) if ttl == 60.0 else [None, None]
        assert await hot.mget(list(items)) == expected
        if ttl == 60.0:
            left = await hot.ttl(next(iter(items)))
            assert left is not None and SHORT < left <= 60.0


async def test_expire_sets_a_deadline_on_existing_keys_only(hot: HotStore) -> None:
    assert not await hot.expire("absent", 10)
    await hot.set("v", "x")
    assert await hot.expire("v", SHORT)
    left = await hot.ttl("v")
    assert left is not None and 0 < left <= SHORT
    await asyncio.sleep(SHORT + SLACK)
    assert not await hot.exists("v")


# Counters.


async def test_concurrent_increments_are_all_counted(hot: HotStore) -> None:
    results = await asyncio.gather(*(hot.incr("hits") for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await hot.get("hits") == "200"
    assert await hot.incr("hits", 5) == 205
    assert await hot.incr("hits", -10) == 195


async def test_concurrent_increments_with_ttl_count_once_each(hot: HotStore) -> None:
    results = await asyncio.gather(*(hot.incr("burst", ttl=5) for _ in range(200)))
    assert max(results) == 200
    left = await hot.ttl("burst")
    assert left is not None and 0 < left <= 5


async def test_increment_sets_ttl_only_when_creating(hot: HotStore) -> None:
    assert await hot.incr("c", ttl=SHORT * 2) == 1
    await asyncio.sleep(SHORT / 2)
    assert await hot.incr("c", ttl=60) == 2
    left = await hot.ttl("c")
    assert left is not None and left < SHORT * 2  # the first deadline still stands
    await asyncio.sleep(SHORT * 2)
    assert await hot.get("c") is None
    assert await hot.incr("c", ttl=60) == 1  # created again, with the new TTL
    left = await hot.ttl("c")
    assert left is not None and left > SHORT * 2


async def test_increment_keeps_a_counter_without_ttl_unexpiring(hot: HotStore) -> None:
    await hot.incr("forever")
    assert await hot.incr("forever", ttl=SHORT) == 2
    assert await hot.ttl("forever") is None


# Locks.


async def test_set_if_absent_has_exactly_one_winner(hot: HotStore) -> None:
    won = await asyncio.gather(
        *(hot.set_if_absent("lock", f"holder-{i}", ttl=5) for i in range(50))
    )
    assert won.count(True) == 1
    assert await hot.get("lock") == f"holder-{won.index(True)}"
    left = await hot.ttl("lock")
    assert left is not None and 0 < left <= 5


async def test_set_if_absent_frees_after_ttl(hot: HotStore) -> None:
    assert await hot.set_if_absent("lock", "a", ttl=SHORT)
    assert not await hot.set_if_absent("lock", "b", ttl=SHORT)
    await asyncio.sleep(SHORT + SLACK)
    assert await hot.set_if_absent("lock", "b")
    assert await hot.get("lock") == "b"


async def test_only_the_holder_releases_a_lock(hot: HotStore) -> None:
    assert not await hot.delete_if_equals("lock", "anyone")
    await hot.set_if_absent("lock", "holder", ttl=5)
    assert not await hot.delete_if_equals("lock", "intruder")
    assert await hot.get("lock") == "holder"
    assert await hot.delete_if_equals("lock", "holder")
    assert await hot.get("lock") is None
    assert not await hot.delete_if_equals("lock", "holder")


# Sorted sets.


async def test_sorted_set_ranks_with_ties_by_member(hot: HotStore) -> None:
    added = await hot.zadd("lb", {"carol": 20, "alice": 10, "bob": 10, "dave": 30})
    assert added == 4
    assert await hot.zadd("lb", {"alice": 10, "erin": 5}) == 1  # only erin is new
    assert await hot.zcard("lb") == 5
    ascending = ["erin", "alice", "bob", "carol", "dave"]
    for rank, member in enumerate(ascending):
        assert await hot.zrank("lb", member) == rank
        assert await hot.zrank("lb", member, reverse=True) == 4 - rank
    assert await hot.zrange("lb", 0, -1) == [
        ("erin", 5.0),
        ("alice", 10.0),
        ("bob", 10.0),
        ("carol", 20.0),
        ("dave", 30.0),
    ]
    # Descending order reverses the tie order too, as Redis does.
    assert [m for m, _ in await hot.zrange("lb", 0, -1, reverse=True)] == ascending[::-1]


async def test_sorted_set_ranges_with_negative_and_outside_indexes(hot: HotStore) -> None:
    await hot.zadd("lb", {f"p{i}": i for i in range(10)})
    assert [m for m, _ in await hot.zrange("lb", -3, -1)] == ["p7", "p8", "p9"]
    assert [m for m, _ in await hot.zrange("lb", 0, 2, reverse=True)] == ["p9", "p8", "p7"]
    assert [m for m, _ in await hot.zrange("lb", -2, -1, reverse=True)] == ["p1", "p0"]
    assert [m for m, _ in await hot.zrange("lb", 8, 100)] == ["p8", "p9"]
    assert [m for m, _ in await hot.zrange("lb", -100, 1)] == ["p0", "p1"]
    assert await hot.zrange("lb", 5, 2) == []
    assert await hot.zrange("lb", 10, 20) == []
    assert await hot.zrange("missing", 0, -1) == []


async def test_sorted_set_increments_and_removals(hot: HotStore) -> None:
    assert await hot.zincrby("lb", "alice", 2.5) == 2.5
    assert await hot.zincrby("lb", "alice", 10) == 12.5
    await hot.zadd("lb", {"bob": 12.5, "carol": -1})
    assert await hot.zscore("lb", "alice") == 12.5
    assert await hot.zrank("lb", "alice") == 1
    assert await hot.zincrby("lb", "carol", 100) == 99
    assert await hot.zrank("lb", "carol", reverse=True) == 0
    assert await hot.zrem("lb", "bob", "nobody") == 1
    assert await hot.zrem("lb") == 0
    assert await hot.zcard("lb") == 2
    assert await hot.zrange("lb", 0, -1) == [("alice", 12.5), ("carol", 99.0)]
    assert await hot.zrem("lb", "alice", "carol") == 2
    assert not await hot.exists("lb")  # an emptied sorted set is gone


async def test_sorted_set_missing_members_and_keys(hot: HotStore) -> None:
    assert await hot.zscore("none", "x") is None
    assert await hot.zrank("none", "x") is None
    assert await hot.zrank("none", "x", reverse=True) is None
    assert await hot.zcard("none") == 0
    assert await hot.zrem("none", "x") == 0
    assert await hot.zadd("none", {}) == 0
    await hot.zadd("lb", {"a": 1})
    assert await hot.zscore("lb", "x") is None
    assert await hot.zrank("lb", "x", reverse=True) is None


# Capped lists.


async def test_capped_list_keeps_the_newest_first(hot: HotStore) -> None:
    for i in range(7):
        await hot.push_capped("feed", f"item-{i}", cap=4)
    assert await hot.lrange("feed", 0, -1) == ["item-6", "item-5", "item-4", "item-3"]
    assert await hot.lrange("feed", 0, 1) == ["item-6", "item-5"]
    assert await hot.lrange("feed", -2, -1) == ["item-4", "item-3"]
    assert await hot.lrange("feed", 2, 100) == ["item-4", "item-3"]
    assert await hot.lrange("feed", 3, 1) == []
    assert await hot.lrange("missing", 0, -1) == []


async def test_capped_list_refuses_a_cap_below_one(hot: HotStore) -> None:
    with pytest.raises(ValueError, match="cap"):
        await hot.push_capped("feed", "x", cap=0)


async def test_every_kind_of_key_shares_the_keyspace(hot: HotStore) -> None:
    await hot.zadd("k:{all}:z", {"a": 1})
    await hot.push_capped("k:{all}:l", "x", cap=3)
    await hot.hit_window("k:{all}:w", limit=5, window=10)
    await hot.incr("k:{all}:c")
    for key in ("k:{all}:z", "k:{all}:l", "k:{all}:w", "k:{all}:c"):
        assert await hot.exists(key)
    assert await hot.expire("k:{all}:z", 30)
    assert await hot.ttl("k:{all}:l") is None
    left = await hot.ttl("k:{all}:w")  # a window key cleans itself up
    assert left is not None and 0 < left <= 20
    assert await hot.delete("k:{all}:z", "k:{all}:l", "k:{all}:w", "k:{all}:c") == 4


# The sliding-window limiter.


async def test_window_allows_the_limit_then_refuses(hot: HotStore) -> None:
    window = 0.5
    remaining = [(await hot.hit_window("rl", limit=3, window=window)) for _ in range(3)]
    assert all(r.allowed and r.limit == 3 and r.reset_after == 0 for r in remaining)
    assert [r.remaining for r in remaining] == [2, 1, 0]
    refused = await hot.hit_window("rl", limit=3, window=window)
    assert not refused.allowed
    assert refused.remaining == 0
    assert 0 < refused.reset_after <= 2 * window
    # Refused hits are not counted: the wait does not grow while a client keeps knocking.
    again = await hot.hit_window("rl", limit=3, window=window)
    assert not again.allowed and again.reset_after <= refused.reset_after

    await asyncio.sleep(refused.reset_after + 0.05)
    assert (await hot.hit_window("rl", limit=3, window=window)).allowed


async def test_window_reset_after_is_the_time_to_wait(hot: HotStore) -> None:
    """Refuse, wait `reset_after`, pass: a few rounds, so the wait is measured both while this
    window's hits and while the previous window's share stand in the way."""
    window, margin = 0.6, 0.12
    for _ in range(3):
        while (result := await hot.hit_window("rl", limit=3, window=window)).allowed:
            pass
        assert 0 < result.reset_after <= 2 * window
        if result.reset_after > 2 * margin:
            await asyncio.sleep(result.reset_after - margin)
            assert not (await hot.peek_window("rl", limit=3, window=window)).allowed
            await asyncio.sleep(2 * margin)
        else:
            await asyncio.sleep(result.reset_after + margin)
        assert (await hot.hit_window("rl", limit=3, window=window)).allowed


async def test_window_recovers_fully_after_two_windows(hot: HotStore) -> None:
    window = 0.3
    for _ in range(4):
        await hot.hit_window("rl", limit=4, window=window)
    assert not (await hot.hit_window("rl", limit=4, window=window)).allowed
    await asyncio.sleep(2 * window + 0.05)
    fresh = await hot.hit_window("rl", limit=4, window=window)
    assert fresh.allowed and fresh.remaining == 3


async def test_window_counts_cost(hot: HotStore) -> None:
    first = await hot.hit_window("rl", limit=5, window=5, cost=3)
    assert first.allowed and first.remaining == 2
    too_big = await hot.hit_window("rl", limit=5, window=5, cost=3)
    assert not too_big.allowed and too_big.remaining == 2 and too_big.reset_after > 0
    fits = await hot.hit_window("rl", limit=5, window=5, cost=2)
    assert fits.allowed and fits.remaining == 0


async def test_peek_reports_without_counting(hot: HotStore) -> None:
    fresh = await hot.peek_window("rl", limit=2, window=5)
    assert fresh.allowed and fresh.remaining == 2
    assert not await hot.exists("rl")
    await hot.hit_window("rl", limit=2, window=5)
    for _ in range(3):
        seen = await hot.peek_window("rl", limit=2, window=5)
        assert seen.allowed and seen.remaining == 1
    await hot.hit_window("rl", limit=2, window=5)
    full = await hot.peek_window("rl", limit=2, window=5)
    assert not full.allowed and full.remaining == 0 and 0 < full.reset_after <= 10


async def test_windows_are_counted_per_key(hot: HotStore) -> None:
    assert (await hot.hit_window("rl:a", limit=1, window=5)).allowed
    assert not (await hot.hit_window("rl:a", limit=1, window=5)).allowed
    assert (await hot.hit_window("rl:b", limit=1, window=5)).allowed


async def test_counted_hits_join_the_window_without_a_limit(hot: HotStore) -> None:
    assert await hot.count_window_hits([]) == []
    counts = await hot.count_window_hits([("rl:batch:a", 5.0, 3), ("rl:batch:b", 5.0, 1)])
    assert counts == [3, 1]
    # Far past any limit: batches report what already happened, they never refuse.
    assert await hot.count_window_hits([("rl:batch:a", 5.0, 10)]) == [13]
    # The same window `hit_window` counts in.
    assert not (await hot.hit_window("rl:batch:a", limit=13, window=5)).allowed
    assert (await hot.hit_window("rl:batch:b", limit=2, window=5)).remaining == 0


async def test_many_windows_are_counted_in_one_call(hot: HotStore) -> None:
    # More windows than one script call takes on Redis: every one is counted, in order.
    hits = [(f"rl:many:{n}", 5.0, n % 7 + 1) for n in range(1_234)]
    assert await hot.count_window_hits(hits) == [n % 7 + 1 for n in range(1_234)]
    again = await hot.count_window_hits(hits[::-1])
    assert again == [2 * (n % 7 + 1) for n in reversed(range(1_234))]
    assert (await hot.hit_window("rl:many:5", limit=100, window=5)).remaining == 100 - 12 - 1
