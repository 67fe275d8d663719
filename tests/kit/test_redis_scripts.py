"""The Redis adapter sends its Lua scripts by hash and loads them when the server lost them
(a restart, a failover, SCRIPT FLUSH): the request that notices still gets its answer."""

from __future__ import annotations

import redis.asyncio as aioredis

from playerplatform.kit.hotstore.redis import RedisHotStore
from tests.kit import REDIS_URL, open_hot_store


async def test_window_pipeline_reloads_scripts_the_server_forgot() -> None:
    async with open_hot_store("redis") as hot:
        assert isinstance(hot, RedisHotStore)
        await hot.set("auth:{p}:user", "state")
        values, first = await hot.mget_and_hit_window(
            ["auth:{p}:user"], window_key="rl:{p}", limit=5, window=60
        )
        assert values == ["state"] and first.allowed and first.remaining == 4

        server = aioredis.from_url(REDIS_URL)
        try:
            await server.script_flush()
        finally:
            await server.aclose()

        values, second = await hot.mget_and_hit_window(
            ["auth:{p}:user"], window_key="rl:{p}", limit=5, window=60
        )
        assert values == ["state"] and second.allowed and second.remaining == 3
