"""The hot store's Redis Cluster client: redis-py's, with what a failover does to it under
load made into outcomes the platform already handles (a success, or Redis unavailable).

When a master fails over, the old master answers MOVED to the new one, and commands in
flight may time out or lose their connection while the roles change. redis-py's async
cluster client answers those (and, by default, every fifth MOVED) by closing every
connection to every node and reading the topology again, also the connections that other
requests are opening or writing at that moment. Those requests then fail inside redis-py
with an AttributeError on a connection or node it has just dropped (`'NoneType' object has
no attribute 'writelines'`, or `'name'` in a pipeline), which the API would answer 500.

Two things keep that from reaching a player:

- MOVED no longer throws the topology away (`reinitialize_steps=0`, redis-py's own setting):
  each reply moves its slot to the node it names, the request follows it, and no connection
  is closed. Most requests during a coordinated failover simply succeed.
- A timeout or a lost connection still makes the client read the topology again (it must:
  the node may be gone). A call that fails then with such an AttributeError raised inside
  redis-py on `None` is raised as `ClusterReshaping`, a redis `ConnectionError`: Redis
  unavailable for a moment, as the hot store's callers already treat it (`UNAVAILABLE`: read
  through to the database, fail open, or answer 503 `unavailable` with `Retry-After`), and
  exactly as uncertain as a lost connection about whether the command ran. Every command
  and script goes through `execute_command`, every pipeline through `execute`: those two
  are the only places it is done, and any other AttributeError is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

# `reinitialize_steps`: how many MOVED replies make the client read the whole topology again
# (redis-py's default: every fifth). 0: never for MOVED; the slot follows the reply.
FOLLOW_MOVED_IN_PLACE = 0


class ClusterReshaping(RedisConnectionError):
    """A Redis Cluster call failed while the client was reading the cluster's topology again
    after a node changed role or stopped answering (a failover); retry shortly."""

    retry_after = 1.0


def _dropped_by_client(exc: AttributeError) -> bool:
    """An attribute looked up on `None` by redis-py itself: a connection's stream, or the
    client's default node, that a topology refresh in another task has just dropped."""
    if exc.obj is not None or exc.name is None:
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module == "redis" or module.startswith("redis.")


@contextlib.contextmanager
def _reshaping_is_unavailable() -> Iterator[None]:
    try:
        yield
    except AttributeError as exc:
        if not _dropped_by_client(exc):
            raise
        raise ClusterReshaping(f"Redis Cluster topology changing under the call ({exc})") from exc


class _Pipeline(ClusterPipeline):
    __slots__ = ()

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        with _reshaping_is_unavailable():
            return await super().execute(raise_on_error, allow_redirections)


class HotStoreCluster(RedisCluster):
    """redis-py's `RedisCluster` whose calls fail as `ClusterReshaping` (unavailable) rather
    than with an AttributeError when a topology refresh drops their connection under them.
    Make it with `from_url(..., reinitialize_steps=FOLLOW_MOVED_IN_PLACE)`."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        with _reshaping_is_unavailable():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        super().pipeline(transaction, shard_hint)  # refuses what a cluster cannot do
        # redis-py makes its own pipelines just so; its annotations leave one attribute of
        # the pipeline's bases abstract.
        return _Pipeline(self)  # type: ignore[abstract]
