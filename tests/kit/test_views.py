"""Cached views (`kit.views`) on every hot-store adapter: a view is served until its owner
changes, a change reaches every reader once committed (not before, not if rolled back), and a
reader that loaded before a change but stored after it never has its stale answer served."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.views import Views
from playerplatform.runtime import Runtime
from tests.kit import ADAPTERS, open_hot_store


@pytest.fixture(params=ADAPTERS)
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[HotStore]:
    async with open_hot_store(request.param, near_prefixes=(views.PREFIX,)) as store:
        yield store


class Source:
    """What the views show, and how often it was loaded."""

    def __init__(self) -> None:
        self.value = b"one"
        self.loads = 0

    async def load(self) -> bytes:
        self.loads += 1
        return self.value


def unit(runtime: Runtime, cache: Views) -> UnitOfWork:
    uow = runtime.db.unit_of_work()
    uow.after_commit(lambda: cache.after_commit(uow))
    return uow


async def test_a_view_is_served_until_its_owner_changes(hot: HotStore, runtime: Runtime) -> None:
    cache, source = Views(hot), Source()
    assert await cache.read("p1", "wallet", source.load) == b"one"
    assert await cache.read("p1", "wallet", source.load) == b"one"
    assert source.loads == 1

    source.value = b"two"
    uow = unit(runtime, cache)
    views.changed(uow, "p1")
    assert await cache.read("p1", "wallet", source.load) == b"one"  # not committed yet
    await uow.commit()
    await uow.close()
    assert await cache.read("p1", "wallet", source.load) == b"two"
    assert source.loads == 2


async def test_a_rolled_back_change_renews_nothing(hot: HotStore, runtime: Runtime) -> None:
    cache, source = Views(hot), Source()
    await cache.read("p2", "wallet", source.load)
    uow = unit(runtime, cache)
    views.changed(uow, "p2")
    await uow.rollback()
    await uow.close()
    await cache.read("p2", "wallet", source.load)
    assert source.loads == 1


async def test_other_owners_keep_their_views(hot: HotStore, runtime: Runtime) -> None:
    cache, source = Views(hot), Source()
    await cache.read("p3", "wallet", source.load)
    await cache.read("p4", "wallet", source.load)
    await cache.renew("p3")
    await cache.read("p3", "wallet", source.load)
    await cache.read("p4", "wallet", source.load)
    assert source.loads == 3


async def test_a_load_that_raced_a_change_is_never_served(hot: HotStore) -> None:
    cache = Views(hot)
    loaded, release = asyncio.Event(), asyncio.Event()

    async def slow_stale_load() -> bytes:
        loaded.set()
        await release.wait()  # the change commits while this reader holds old data
        return b"stale"

    reader = asyncio.create_task(cache.read("p5", "wallet", slow_stale_load))
    await loaded.wait()
    await cache.renew("p5")  # the writer's commit, then its new generation
    release.set()
    assert await reader == b"stale"  # that reader answers with what it read, as any would

    async def fresh() -> bytes:
        return b"fresh"

    assert await cache.read("p5", "wallet", fresh) == b"fresh"
