"""Sorted sets of both adapters against a reference: sort by (score, member)."""

from __future__ import annotations

import random
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from playerplatform.kit.hotstore import WINDOW_SLOTS, HotStore
from playerplatform.kit.hotstore.memory import sliding_window
from tests.kit import ADAPTERS, open_hot_store

# Few members and coarse scores, so ties and re-scoring happen all the time.
MEMBERS = ["a", "b", "c", "aa", "ab", "B", "zz", "é"]
scores = st.integers(-4, 4).map(float) | st.sampled_from([0.5, -0.5, 1e9, -1e-3])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("zadd"), st.dictionaries(st.sampled_from(MEMBERS), scores, max_size=3)),
        st.tuples(st.just("zincrby"), st.sampled_from(MEMBERS), scores),
        st.tuples(st.just("zrem"), st.lists(st.sampled_from(MEMBERS), max_size=3)),
    ),
    max_size=25,
)


@pytest.fixture(params=ADAPTERS)
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[HotStore]:
    async with open_hot_store(request.param) as store:
        yield store


async def apply(hot: HotStore, key: str, reference: dict[str, float], op: tuple[Any, ...]) -> None:
    match op:
        case ("zadd", members):
            await hot.zadd(key, members)
            reference.update(members)
        case ("zincrby", member, amount):
            reference[member] = reference.get(member, 0.0) + amount
            assert await hot.zincrby(key, member, amount) == reference[member]
        case ("zrem", members):
            assert await hot.zrem(key, *members) == len(set(members) & reference.keys())
            for member in members:
                reference.pop(member, None)


async def assert_matches(hot: HotStore, key: str, reference: dict[str, float]) -> None:
    ordered = sorted(((score, member) for member, score in reference.items()))
    expected = [(member, score) for score, member in ordered]
    assert await hot.zcard(key) == len(expected)
    assert await hot.zrange(key, 0, -1) == expected
    assert await hot.zrange(key, 0, -1, reverse=True) == expected[::-1]
    assert await hot.zrange(key, 1, -2) == expected[1:-1]
    assert await hot.zrange(key, -3, -1, reverse=True) == expected[::-1][-3:]
    for member in MEMBERS:
        if member in reference:
            rank = expected.index((member, reference[member]))
            assert await hot.zrank(key, member) == rank
            assert await hot.zrank(key, member, reverse=True) == len(expected) - 1 - rank
            assert await hot.zscore(key, member) == reference[member]
        else:
            assert await hot.zrank(key, member) is None
            assert await hot.zscore(key, member) is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
async def test_random_updates_rank_like_a_sort(hot: HotStore, ops: list[tuple[Any, ...]]) -> None:
    key = f"lb:{secrets.token_hex(6)}"
    reference: dict[str, float] = {}
    for op in ops:
        await apply(hot, key, reference, op)
    await assert_matches(hot, key, reference)
    await hot.delete(key)


async def test_a_large_board_ranks_like_a_sort(hot: HotStore) -> None:
    """Thousands of members: enough to split and empty the in-process adapter's chunks."""
    rng = random.Random(20240607)
    key = "lb:{large}"
    reference: dict[str, float] = {}
    members = [f"player-{i:05d}" for i in range(3000)]
    for start in range(0, len(members), 500):
        batch = {m: float(rng.randint(0, 300)) for m in members[start : start + 500]}
        await hot.zadd(key, batch)
        reference.update(batch)
    for member in rng.sample(members, 1500):
        if rng.random() < 0.5:
            await hot.zrem(key, member)
            reference.pop(member, None)
        else:
            amount = float(rng.randint(-50, 50))
            await hot.zincrby(key, member, amount)
            reference[member] = reference.get(member, 0.0) + amount
    # Dropping the whole bottom of the board empties its chunks outright.
    bottom = [m for _, m in sorted((s, m) for m, s in reference.items())[:1000]]
    assert await hot.zrem(key, *bottom) == 1000
    for member in bottom:
        del reference[member]

    ordered = [(m, s) for s, m in sorted((s, m) for m, s in reference.items())]
    assert await hot.zcard(key) == len(ordered)
    assert await hot.zrange(key, 0, -1) == ordered
    assert await hot.zrange(key, 0, -1, reverse=True) == ordered[::-1]
    assert await hot.zrange(key, 700, 709) == ordered[700:710]
    assert await hot.zrange(key, 100, 104, reverse=True) == ordered[::-1][100:105]
    for position in rng.sample(range(len(ordered)), 100):
        member = ordered[position][0]
        assert await hot.zrank(key, member) == position
        assert await hot.zrank(key, member, reverse=True) == len(ordered) - 1 - position


@settings(max_examples=200, deadline=None)
@given(
    window=st.sampled_from([0.25, 1.0, 60.0]),
    limit=st.integers(1, 20),
    cost=st.integers(1, 3),
    slots=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 8)), max_size=8),
    position=st.floats(0, 0.999),
)
def test_window_wait_is_exactly_when_the_hit_fits(
    window: float,
    limit: int,
    cost: int,
    slots: list[tuple[int, int]],
    position: float,
) -> None:
    """The in-process adapter's window math (the Redis script mirrors it): a refused hit's
    `reset_after` is the moment the same hit would pass, no sooner and no later."""
    base = 100_000
    state = tuple(sorted({base + i: c for i, c in slots}.items()))
    now = (base + 30 + position) * window / WINDOW_SLOTS
    result, _ = sliding_window(state, now=now, limit=limit, window=window, cost=cost)
    if result.allowed or cost > limit:
        return
    assert 0 < result.reset_after <= 2 * window
    slack = window * 1e-6
    later, _ = sliding_window(
        state, now=now + result.reset_after + slack, limit=limit, window=window, cost=cost
    )
    assert later.allowed
    if result.reset_after > slack:
        sooner, _ = sliding_window(
            state, now=now + result.reset_after - slack, limit=limit, window=window, cost=cost
        )
        assert not sooner.allowed


# A burst at the end of one fixed window, then more half a window later: a counter that
# weighs the previous window as if its hits were spread evenly lets 15 through here.
@example(limit=10, gaps=[0.39, 0.3, 0.3] + [0.0] * 9 + [0.4, 0.11] + [0.0] * 9)
@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1, 30),
    gaps=st.lists(st.floats(0, 0.4), min_size=1, max_size=300),
)
def test_no_window_ever_lets_more_than_the_limit_through(limit: int, gaps: list[float]) -> None:
    """Whatever the pattern of hits, no interval of one window, wherever it starts, holds
    more than `limit` hits let through (the limit is exact, not an estimate)."""
    window = 1.0
    state = None
    now = 1000.0
    passed: list[float] = []
    for gap in gaps:
        now += gap
        result, new_state = sliding_window(state, now=now, limit=limit, window=window, cost=1)
        if result.allowed:
            passed.append(now)
            state = new_state
    for first, start in enumerate(passed):
        inside = sum(1 for at in passed[first:] if at < start + window)
        assert inside <= limit, (start, inside)
