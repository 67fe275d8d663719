"""Tests of the shared plumbing. `open_hot_store` gives each test a hot store adapter of
either kind under a key prefix of its own; Redis keys under it are removed afterwards.

Set PP_TEST_REDIS_CLUSTER_URL (e.g. redis://127.0.0.1:7000/0, the cluster scripts/services.sh
starts) to hold a Redis Cluster to the same contract as well.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.hotstore.memory import MemoryHotStore
from playerplatform.kit.hotstore.redis import RedisHotStore

REDIS_URL = os.environ.get("PP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CLUSTER_URL = os.environ.get("PP_TEST_REDIS_CLUSTER_URL")
RUN_PREFIX = f"pptest:kit:{secrets.token_hex(4)}:"
ADAPTERS = ("memory", "redis", *(("redis-cluster",) if REDIS_CLUSTER_URL else ()))


@asynccontextmanager
async def open_hot_store(
    kind: str, *, near_prefixes: tuple[str, ...] = ()
) -> AsyncIterator[HotStore]:
    prefix = f"{RUN_PREFIX}{secrets.token_hex(4)}:"
    store: HotStore
    if kind == "memory":
        store = MemoryHotStore(prefix=prefix)
    elif kind == "redis":
        store = RedisHotStore.from_url(REDIS_URL, prefix=prefix, near_prefixes=near_prefixes)
    else:
        assert REDIS_CLUSTER_URL
        store = RedisHotStore.from_url(REDIS_CLUSTER_URL, prefix=prefix, cluster=True)
    try:
        yield store
    finally:
        await store.close()
        if kind != "memory":
            await drop_prefix(kind, prefix)


async def drop_prefix(kind: str, prefix: str) -> None:
    client: Any
    if kind == "redis":
        client = aioredis.from_url(REDIS_URL)
    else:
        assert REDIS_CLUSTER_URL
        client = RedisCluster.from_url(REDIS_CLUSTER_URL)
    try:
        # One key per call: keys of one test may sit in different cluster slots.
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()
