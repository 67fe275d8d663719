"""Calls made at the same time are served together, each with its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from playerplatform.kit.batching import Batcher


class Doubler:
    """Doubles numbers in batches, recording each batch; refuses 13."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0.01)  # a round trip's worth: the next calls queue meanwhile
        if 13 in items:
            raise ValueError("13 is refused")
        return [2 * n for n in items]


async def test_a_lone_call_is_served_at_once_and_the_ones_meanwhile_together() -> None:
    doubler = Doubler()
    batcher = Batcher(doubler.run, max_batch=8)
    assert await batcher.submit(1) == 2
    assert doubler.batches == [[1]]

    numbers = range(20, 40)
    results = await asyncio.gather(*(batcher.submit(n) for n in numbers))
    assert results == [2 * n for n in numbers]
    assert sorted(n for batch in doubler.batches[1:] for n in batch) == list(numbers)
    assert all(len(batch) <= 8 for batch in doubler.batches)
    assert len(doubler.batches) <= 1 + 3  # 20 calls at once: at most ceil(20 / 8) batches


async def test_a_failing_call_fails_alone() -> None:
    doubler = Doubler()
    batcher = Batcher(doubler.run)
    results = await asyncio.gather(
        *(batcher.submit(n) for n in (11, 12, 13, 14)), return_exceptions=True
    )
    assert results[:2] == [22, 24] and results[3] == 28
    assert isinstance(results[2], ValueError)
    # The batch failed, then each call was served on its own.
    assert doubler.batches[0] == [11, 12, 13, 14]
    assert [11] in doubler.batches and [13] in doubler.batches

    assert await batcher.submit(5) == 10  # and the batcher goes on


async def test_a_call_made_after_a_batch_started_waits_for_the_next() -> None:
    doubler = Doubler()
    batcher = Batcher(doubler.run)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.002)  # the first batch is under way
    second = await asyncio.gather(batcher.submit(2), batcher.submit(3))
    assert await first == 2 and second == [4, 6]
    assert doubler.batches == [[1], [2, 3]]


async def test_results_must_match_the_calls() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(short)
    with pytest.raises(ValueError):
        await batcher.submit(1)
