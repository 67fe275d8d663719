"""The broker-side worker: consumes job messages with a prefetch limit and acks each one
only after the handler's transaction committed (or the failure was recorded). A message
for a job that is already done is acked without running anything."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence

import orjson
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from playerplatform.jobs.broker import Broker, Relay
from playerplatform.jobs.runner import JobRunner, Outcome

log = structlog.get_logger("playerplatform.jobs")


class Consumer:
    def __init__(
        self,
        broker: Broker,
        runner: JobRunner,
        relay: Relay,
        queues: Sequence[str],
        *,
        prefetch: int,
        concurrency: int,
        shutdown_grace_seconds: float,
    ) -> None:
        self.broker = broker
        self.runner = runner
        self.relay = relay
        self.queues = sorted(queues)
        self.prefetch = max(1, prefetch)
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self._channel: AbstractChannel | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        self._channel = await self.broker.channel()
        await self._channel.set_qos(prefetch_count=self.prefetch)
        for name in self.queues:
            queue = await self.broker.declare_work_queue(self._channel, name)
            tag = await queue.consume(functools.partial(self._on_message, name))
            self._consumers.append((queue, tag))

    async def stop(self) -> None:
        """Take no new deliveries, finish the ones in flight; unstarted deliveries go back
        to the queue when the channel closes."""
        self._stopping = True
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag)
            except Exception as exc:  # the connection may already be gone
                log.warning("job_consumer_cancel_failed", error=str(exc))
        self._consumers.clear()
        if self._running:
            await asyncio.wait(self._running, timeout=self.shutdown_grace_seconds)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, queue: str, message: AbstractIncomingMessage) -> None:
        task = asyncio.create_task(self._handle(queue, message))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _handle(self, queue: str, message: AbstractIncomingMessage) -> None:
        try:
            job_id = uuid.UUID(orjson.loads(message.body)["job"])
        except (ValueError, KeyError, TypeError):
            log.error("job_message_malformed", message_id=message.message_id)
            await message.reject(requeue=False)
            return
        async with self._slots:
            if self._stopping:
                await self._settle(message, requeue=True)
                return
            try:
                outcome, due = await self.runner.run_delivered(
                    job_id, redelivered=bool(message.redelivered)
                )
                if outcome is Outcome.EARLY and due is not None:
                    await self.broker.publish(job_id, queue, due)
                elif outcome is Outcome.RETRY:
                    self.relay.wake()  # the relay routes the row through a delay queue
            except Exception:
                log.exception("job_delivery_failed", job_id=str(job_id))
                await asyncio.sleep(1.0)
                await self._settle(message, requeue=True)
                return
            await self._settle(message)

    @staticmethod
    async def _settle(message: AbstractIncomingMessage, *, requeue: bool | None = None) -> None:
        # After a reconnect the delivery belongs to a dead channel: the broker has already
        # requeued it, and the next delivery finds the job done.
        try:
            if requeue is None:
                await message.ack()
            else:
                await message.nack(requeue=requeue)
        except Exception as exc:
            log.warning("job_settle_failed", error=f"{type(exc).__name__}: {exc}")
