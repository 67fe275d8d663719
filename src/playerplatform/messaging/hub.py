"""The realtime hub: which sockets this process holds, per player, and how an event raised
anywhere reaches them.

- `LocalHub` (embedded shape): one process, so publishing is handing the frame to the
  player's sockets here.
- `RedisHub` (production shape): every API process subscribes to one Redis pub/sub channel;
  publishing sends `{user, frame}` there and each process hands it to the sockets it holds
  for that player. Pub/sub is fire-and-forget: a process that was disconnected from Redis for
  a moment misses frames, which is why every frame is also a row in `realtime_events` and a
  client reconnecting with `?after=<last id>` gets exactly what it missed.

Each socket has a bounded queue; a socket too slow to drain it is closed (it reconnects with
`?after=` and catches up from the durable log) instead of growing memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
import structlog

from playerplatform.kit.settings import Settings

log = structlog.get_logger("playerplatform.realtime")
QUEUE_FRAMES = 256


class Socket:
    """One open realtime connection, as the hub sees it: frames to send, or a close."""

    def __init__(self, user_id: uuid.UUID) -> None:
        self.user_id = user_id
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_FRAMES)
        self.overflowed = False

    def offer(self, frame: dict[str, Any]) -> None:
        try:
            self.frames.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True


class RealtimeHub(Protocol):
    async def publish(self, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        """Hand `frame` to every socket of `user_id`, on every process."""
        ...

    async def publish_all(self, frame: dict[str, Any]) -> None:
        """Hand `frame` to every socket, on every process."""
        ...

    async def attach(self, socket: Socket) -> bool:
        """Hold `socket` for its player; False when the player has too many sockets."""
        ...

    def detach(self, socket: Socket) -> None: ...

    def sockets(self) -> int:
        """How many sockets this process holds."""
        ...

    async def close(self) -> None: ...


class LocalHub:
    """Sockets of this process, per player (also the base of `RedisHub`)."""

    def __init__(self, max_per_player: int) -> None:
        self.max_per_player = max_per_player
        self._by_user: dict[uuid.UUID, set[Socket]] = {}

    async def publish(self, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        self.deliver(user_id, frame)

    async def publish_all(self, frame: dict[str, Any]) -> None:
        self.deliver(None, frame)

    def deliver(self, user_id: uuid.UUID | None, frame: dict[str, Any]) -> None:
        """Hand `frame` to the sockets of `user_id` held here (None: to all of them)."""
        if user_id is not None:
            for socket in self._by_user.get(user_id, ()):
                socket.offer(frame)
            return
        for held in self._by_user.values():
            for socket in held:
                socket.offer(frame)

    async def attach(self, socket: Socket) -> bool:
        held = self._by_user.setdefault(socket.user_id, set())
        if len(held) >= self.max_per_player:
            return False
        held.add(socket)
        return True

    def detach(self, socket: Socket) -> None:
        held = self._by_user.get(socket.user_id)
        if held is not None:
            held.discard(socket)
            if not held:
                del self._by_user[socket.user_id]

    def sockets(self) -> int:
        return sum(len(held) for held in self._by_user.values())

    async def close(self) -> None:
        self._by_user.clear()


class RedisHub(LocalHub):
    """Fan-out across processes and machines through one Redis pub/sub channel.

    Publishing is bounded by `timeout` like every other hot-store call (an event is raised
    after a commit, inside a request: a Redis gone silent must fail it, not hold it), so it
    has a client of its own; the listener's connection is quiet by design and reads without
    a bound, on another client."""

    def __init__(self, url: str, channel: str, max_per_player: int, *, timeout: float) -> None:
        super().__init__(max_per_player)
        self.channel = channel
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._listening = aioredis.Redis.from_url(url, socket_connect_timeout=timeout)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, user_id: uuid.UUID, frame: dict[str, Any]) -> None:
        message = orjson.dumps({"u": str(user_id), "f": frame})
        await self._redis.publish(self.channel, message)

    async def publish_all(self, frame: dict[str, Any]) -> None:
        await self._redis.publish(self.channel, orjson.dumps({"u": "*", "f": frame}))

    async def attach(self, socket: Socket) -> bool:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._subscribed.wait()
        return await super().attach(socket)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._listening.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        self._dispatch(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime_listener_failed")
                self._subscribed.clear()
                await asyncio.sleep(1)

    def _dispatch(self, raw: Any) -> None:
        try:
            decoded = orjson.loads(raw)
            user_id = None if decoded["u"] == "*" else uuid.UUID(decoded["u"])
        except (TypeError, ValueError, KeyError):
            return
        self.deliver(user_id, decoded["f"])

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._redis.aclose()
        await self._listening.aclose()
        await super().close()


def create_hub(settings: Settings) -> RealtimeHub:
    """Redis pub/sub when a Redis URL is set (production shape), else in-process."""
    limit = settings.realtime_max_sockets_per_player
    if settings.redis_url:
        return RedisHub(
            settings.redis_url,
            f"{settings.redis_prefix}realtime",
            limit,
            timeout=settings.redis_timeout_seconds,
        )
    return LocalHub(limit)
