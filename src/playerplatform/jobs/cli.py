"""`playerplatform worker`: a job worker process. With `PP_BROKER_URL` it consumes from
RabbitMQ (and relays outbox rows); without one it claims jobs from the database table.
SIGTERM or SIGINT stops it gracefully: nothing new is taken, jobs in flight finish."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import click
import structlog

from playerplatform.kit.logging import configure_logging
from playerplatform.kit.metrics import settle_gc
from playerplatform.kit.settings import Settings

log = structlog.get_logger("playerplatform.jobs")


async def run_until_signalled(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Run `start`, wait for SIGTERM/SIGINT, then `stop`."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start()
        await stopping.wait()
        log.info("worker_stopping")
    finally:
        await stop()


async def _serve_worker(
    queues: list[str] | None, concurrency: int | None, prefetch: int | None
) -> None:
    from playerplatform.runtime import Runtime
    from playerplatform.wiring import platform_wiring

    wiring = platform_wiring()
    unknown = sorted(set(queues or ()) - wiring.jobs.queues)
    if unknown:
        raise click.BadParameter(f"no handler for: {', '.join(unknown)}", param_hint="--queues")
    settings = Settings()
    configure_logging(settings)
    runtime = Runtime.build(settings, wiring)

    async def start() -> None:
        await runtime.start()
        await runtime.jobs.run_worker(
            runtime, queues=queues, concurrency=concurrency, prefetch=prefetch
        )
        settle_gc(tune=settings.gc_tuning)  # the command line started it with the collector off
        log.info(
            "worker_started",
            broker=bool(settings.broker_url),
            queues=sorted(queues or runtime.jobs.registry.queues),
        )

    await run_until_signalled(start, runtime.close)


def _split_queues(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [q.strip() for q in value.split(",") if q.strip()]


@click.command("worker")
@click.option("--queues", default=None, help="Comma-separated queues (default: all).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None, help="Jobs at once.")
@click.option(
    "--prefetch", type=click.IntRange(1, 10000), default=None, help="Unacked broker deliveries."
)
def worker(queues: str | None, concurrency: int | None, prefetch: int | None) -> None:
    """Consume jobs (production shape; claims from the database without a broker)."""
    asyncio.run(_serve_worker(_split_queues(queues), concurrency, prefetch))
