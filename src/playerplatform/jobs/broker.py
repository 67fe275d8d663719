"""RabbitMQ (aio-pika): the topology, publishing with confirms, and the outbox relay.

Topology, per queue `q` (names carry the configured prefix):
- `q`: durable work queue; messages are persistent and name the job (`{"job": id}`).
- `q.delay.<ms>`: durable delay queues, one per delay bucket, with a queue-wide TTL and a
  dead-letter route back to `q`. Queue-wide TTLs keep expiry in order (a per-message TTL only
  expires at the head of a queue); buckets round delays up to two significant digits, and an
  unused bucket deletes itself (`x-expires`, longer than its TTL, reset on every publish).

aio-pika is the maintained asyncio client with publisher confirms and a robust connection
that reconnects and restores channels, queues and consumers on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import uuid
from collections.abc import Sequence

import aio_pika
import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection

from playerplatform.jobs import repository, service
from playerplatform.kit.db import Database, utcnow

log = structlog.get_logger("playerplatform.jobs")
PUBLISH_TIMEOUT_SECONDS = 2.0  # a batch of confirms; past it the relay backs off and retries

MAX_DELAY_SECONDS = 24 * 3600.0


def delay_bucket_ms(seconds: float) -> int:
    """Round a delay up to two significant digits of milliseconds (at least 10 ms)."""
    ms = max(10, math.ceil(seconds * 1000))
    step = 10 ** max(0, len(str(ms)) - 2)
    return math.ceil(ms / step) * step


class Broker:
    def __init__(self, url: str, *, prefix: str, name: str) -> None:
        self.url = url
        self.prefix = prefix
        self.name = name
        self.connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._declared: set[str] = set()
        self._lock = asyncio.Lock()

    def work_queue(self, queue: str) -> str:
        return f"{self.prefix}{queue}"

    async def connect(self) -> None:
        if self.connection is None:
            self.connection = await aio_pika.connect_robust(
                self.url, client_properties={"connection_name": self.name}
            )

    @property
    def is_connected(self) -> bool:
        return self.connection is not None and not self.connection.is_closed

    async def ping(self) -> None:
        if not self.is_connected:
            raise ConnectionError("not connected to the broker")

    async def channel(self) -> AbstractChannel:
        assert self.connection is not None, "connect() first"
        return await self.connection.channel(publisher_confirms=True, on_return_raises=True)

    async def declare_work_queue(self, channel: AbstractChannel, queue: str) -> AbstractQueue:
        return await channel.declare_queue(self.work_queue(queue), durable=True)

    async def publisher(self) -> AbstractChannel:
        async with self._lock:
            if self.connection is None:
                await self.connect()
            if self._publisher is None or self._publisher.is_closed:
                self._publisher = await self.channel()
                self._declared.clear()
            return self._publisher

    async def ensure_queue(self, queue: str) -> AbstractChannel:
        channel = await self.publisher()
        if self.work_queue(queue) not in self._declared:
            await self.declare_work_queue(channel, queue)
            self._declared.add(self.work_queue(queue))
        return channel

    async def publish(self, job_id: uuid.UUID, queue: str, run_at: dt.datetime) -> None:
        """Publish a job message and wait for the broker's confirm: to the work queue when
        due, else through the delay bucket for the time left."""
        channel = await self.ensure_queue(queue)
        target = self.work_queue(queue)
        # Long waits go in steps of at most a day (RabbitMQ caps TTLs near 49 days): a message
        # that comes back early is sent round again by the consumer.
        delay = min((run_at - utcnow()).total_seconds(), MAX_DELAY_SECONDS)
        if delay > 0.01:
            ms = delay_bucket_ms(delay)
            routing_key = f"{target}.delay.{ms}"
            await channel.declare_queue(
                routing_key,
                durable=True,
                arguments={
                    "x-message-ttl": ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": target,
                    "x-expires": ms + 60_000,
                },
            )
        else:
            routing_key = target
        message = aio_pika.Message(
            orjson.dumps({"job": str(job_id)}),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(job_id),
        )
        await channel.default_exchange.publish(message, routing_key=routing_key, mandatory=True)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None
            self._publisher = None


class Relay:
    """Publishes committed job rows to the broker and marks them published after the
    confirm. Woken after commits in this process; sweeps the table on a timer for the rest
    (rows committed elsewhere, retries, anything a broken connection left behind)."""

    def __init__(
        self,
        db: Database,
        broker: Broker,
        queues: Sequence[str],
        *,
        sweep_seconds: float,
        stale_seconds: float,
        batch: int = 500,
    ) -> None:
        self.db = db
        self.broker = broker
        self.queues = sorted(queues)
        self.sweep_seconds = sweep_seconds
        self.stale_seconds = stale_seconds
        self.batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            service.add_waker(self.wake)
            self._task = asyncio.create_task(self._loop(), name="jobs-relay")

    async def stop(self) -> None:
        self._stopping = True
        service.remove_waker(self.wake)
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.relay_once()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("job_relay_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))
                continue
            if published >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_seconds)

    async def relay_once(self) -> int:
        """Publish one batch; returns how many rows it took."""
        stale_before = utcnow() - dt.timedelta(seconds=self.stale_seconds)
        failures: list[BaseException] = []
        async with self.db.unit_of_work() as uow:
            rows = await repository.take_unpublished(
                uow, queues=self.queues, limit=self.batch, stale_before=stale_before
            )
            if not rows:
                return 0
            # The rows stay taken (on SQLite: the database's one writer) while the broker
            # confirms; a broker that stopped answering must not hold them longer than this.
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                for queue in {row.queue for row in rows}:
                    await self.broker.ensure_queue(queue)
                results = await asyncio.gather(
                    *(self.broker.publish(row.id, row.queue, row.run_at) for row in rows),
                    return_exceptions=True,
                )
            confirmed = [
                row.id for row, result in zip(rows, results, strict=True) if result is None
            ]
            failures = [result for result in results if isinstance(result, BaseException)]
            await repository.mark_published(uow, confirmed, now=utcnow())
        if failures:
            raise failures[0]
        return len(rows)
