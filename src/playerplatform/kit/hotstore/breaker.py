"""A circuit breaker in front of Redis, so that a Redis that is down or silent costs each
request nothing rather than a socket timeout.

Every command, script and pipeline takes a connection from the pool and gives it back; a
command that failed on the wire (refused, reset, timed out) gives it back disconnected. The
guarded pool counts those: after `threshold` failures in a row the circuit opens, and for
`cooldown` seconds taking a connection fails at once with `CircuitOpen` (a redis
`ConnectionError`, so every caller treats it as Redis being down, and the API answers 503
`unavailable` with `Retry-After`). Then one caller is let through to try; its success closes
the circuit, its failure opens it again.
"""

from __future__ import annotations

import math
import time
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError

from playerplatform.kit.metrics import counter

log = structlog.get_logger("playerplatform.hotstore")
OPENED = counter("hot_store_circuit_opened_total", "Times Redis stopped answering.")
FAST_FAILS = counter("hot_store_fast_failures_total", "Commands refused while Redis is down.")


class CircuitOpen(RedisConnectionError):
    """Redis stopped answering a moment ago; not tried again until the cool-down passes."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the hot store is not answering")
        self.retry_after = retry_after


class Breaker:
    """Closed (calls go through), open (calls fail at once) or trying one call."""

    def __init__(self, *, threshold: int = 3, cooldown: float = 2.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self.trying = False

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self) -> None:
        """Let a call through, or raise `CircuitOpen`."""
        if self.opened_at is None:
            return
        left = self.opened_at + self.cooldown - time.monotonic()
        if left <= 0 and not self.trying:
            self.trying = True  # this caller tries; the others still fail fast
            return
        FAST_FAILS.inc()
        raise CircuitOpen(max(left, 0.0) or self.cooldown)

    def succeeded(self) -> None:
        if self.opened_at is not None:
            log.info("hot_store_answering_again")
        self.failures, self.opened_at, self.trying = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        if self.trying or (self.opened_at is None and self.failures >= self.threshold):
            if self.opened_at is None:
                OPENED.inc()
                log.warning("hot_store_not_answering", failures=self.failures)
            self.opened_at, self.trying = time.monotonic(), False

    def retry_after(self) -> int:
        """Whole seconds until a call may be tried again (at least one)."""
        if self.opened_at is None:
            return 1
        return max(1, math.ceil(self.opened_at + self.cooldown - time.monotonic()))


class GuardedPool(aioredis.BlockingConnectionPool):
    """A blocking connection pool that consults `breaker` before handing out a connection
    and tells it how each one came back (overrides the pool's two public methods)."""

    def __init__(self, *args: Any, breaker: Breaker, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaker = breaker

    async def get_connection(self, command_name: Any, *keys: Any, **options: Any) -> Any:
        self.breaker.allow()
        try:
            return await super().get_connection(command_name, *keys, **options)
        except RedisConnectionError as exc:
            if str(exc) == "No connection available.":  # every connection is stuck
                self.breaker.failed()
            raise

    async def release(self, connection: Any) -> None:
        if connection.is_connected:
            self.breaker.succeeded()
        else:  # a command failed on the wire, or the connection could not be made
            self.breaker.failed()
        await super().release(connection)
