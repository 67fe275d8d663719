"""Tests of the shared plumbing. `open_hot_store` gives each test a hot store adapter of
either kind under a key prefix of its own; Redis keys under it are removed afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.hotstore.memory import MemoryHotStore
from playerplatform.kit.hotstore.redis import RedisHotStore

REDIS_URL = os.environ.get("PP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_PREFIX = f"pptest:kit:{secrets.token_hex(4)}:"
ADAPTERS = ("memory", "redis")


@asynccontextmanager
async def open_hot_store(kind: str) -> AsyncIterator[HotStore]:
    prefix = f"{RUN_PREFIX}{secrets.token_hex(4)}:"
    store: HotStore
    if kind == "memory":
        store = MemoryHotStore(prefix=prefix)
    else:
        store = RedisHotStore.from_url(REDIS_URL, prefix=prefix)
    try:
        yield store
    finally:
        await store.close()
        if kind == "redis":
            await drop_prefix(prefix)


async def drop_prefix(prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
