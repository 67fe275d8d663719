"""The Redis adapter sends its Lua scripts by hash and loads them when the server lost them
(a restart, a failover, SCRIPT FLUSH): the request that notices still gets its answer."""

from __future__ import annotations

import redis.asyncio as aioredis

from playerplatform.kit.hotstore.redis import RedisHotStore
from tests.kit import REDIS_URL, open_hot_store


async def test_batched_window_hits_reload_scripts_the_server_forgot() -> None:
    async with open_hot_store("redis") as hot:
        assert isinstance(hot, RedisHotStore)
        assert await hot.count_window_hits([("rl:{p}", 60.0, 2), ("rl:{q}", 60.0, 1)]) == [2, 1]

        server = aioredis.from_url(REDIS_URL)
        try:
            await server.script_flush()
        finally:
            await server.aclose()

        assert await hot.count_window_hits([("rl:{p}", 60.0, 3)]) == [5]
        after = await hot.hit_window("rl:{p}", limit=6, window=60)
        assert after.allowed and after.remaining == 0
