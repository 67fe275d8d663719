"""Jobs benchmark: `.venv/bin/python bench/jobs.py [--jobs 10000]`.

Measures end-to-end job throughput (enqueue in a committed transaction -> a no-op handler
done) and the delay from the commit to the handler's start, in both shapes:

- embedded: SQLite file, the in-process worker claiming rows from the table;
- production: PostgreSQL, the outbox relay publishing to RabbitMQ with confirms, and a
  consumer acking after the handler's transaction commits;

plus RabbitMQ's raw rate with a plain aio-pika producer (persistent messages, publisher
confirms) and consumer (prefetch, acks) as the ceiling. Producers, relay and worker share
one process, as they would in a single `playerplatform worker`. Records the section
"Jobs" in BENCHMARKS.md. Every database, vhost and file of the run is removed at
the end, also when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wrk  # bench/wrk.py: the script's own directory comes first on sys.path

sys.path.insert(0, str(wrk.ROOT / "src"))

import aio_pika
import asyncpg

from playerplatform.jobs import enqueue
from playerplatform.jobs.registry import JobRegistry, JobRun
from playerplatform.jobs.system import JobSystem
from playerplatform.kit import migrate
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.logging import configure_logging
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime

TITLE = "Jobs"
QUEUE = "bench_noop"
PRODUCERS = 8
PACED_RATE = 100  # jobs/s, well under capacity: the delay without a backlog
PACED_JOBS = 1_000
PG_SERVER = "postgres@127.0.0.1:5432"
AMQP_SERVER = "guest:guest@127.0.0.1:5672"


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@asynccontextmanager
async def vhost() -> AsyncIterator[str]:
    name = f"pp_bench_{secrets.token_hex(3)}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://{AMQP_SERVER}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    name = f"pp_bench_jobs_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(f"postgresql://{PG_SERVER}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+asyncpg://{PG_SERVER}/{name}"
            await migrate.upgrade_async(url)
            yield url
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def end_to_end(
    name: str, settings: Settings, jobs: int, *, paced_rate: float | None = None
) -> Result:
    """Producers commit one job per transaction while the worker runs them: as fast as they
    can (throughput), or one producer at `paced_rate` jobs/s (delay without a backlog)."""
    committed: dict[str, float] = {}
    started: dict[str, float] = {}
    finished = asyncio.Event()
    registry = JobRegistry()

    @registry.handler(QUEUE)
    async def noop(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
        started[job.public_id] = time.perf_counter()
        if len(started) >= jobs:
            finished.set()

    runtime = Runtime.build(settings)
    system = JobSystem(settings, runtime.db, job_registry=registry, relay_queues=[QUEUE])
    await system.run_worker(runtime, queues=[QUEUE])
    remaining = iter(range(jobs))

    async def produce() -> None:
        for n in remaining:
            if paced_rate:
                await asyncio.sleep(max(0.0, begin + n / paced_rate - time.perf_counter()))
            async with runtime.db.unit_of_work() as uow:
                job_id = await enqueue(uow, QUEUE, {"n": n})
            assert job_id is not None
            committed[job_id] = time.perf_counter()

    begin = time.perf_counter()
    try:
        await asyncio.gather(*(produce() for _ in range(1 if paced_rate else PRODUCERS)))
        await asyncio.wait_for(finished.wait(), timeout=600)
        seconds = time.perf_counter() - begin
    finally:
        await system.close()
        await runtime.close()
    delays = [max(0.0, started[j] - committed[j]) * 1000 for j in committed if j in started]
    return Result(name, jobs, seconds, percentile(delays, 0.5), percentile(delays, 0.99))


async def broker_ceiling(url: str, messages: int) -> tuple[Result, Result]:
    """Plain aio-pika: persistent messages published with confirms, then consumed."""
    connection = await aio_pika.connect_robust(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue("bench.raw", durable=True)
        body = b'{"job": "00000000-0000-0000-0000-000000000000"}'
        begin = time.perf_counter()
        for start in range(0, messages, 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name,
                    )
                    for _ in range(min(500, messages - start))
                )
            )
        published = Result(
            "RabbitMQ raw publish (aio-pika, persistent, confirms)",
            messages,
            time.perf_counter() - begin,
        )

        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=200)
        received = 0
        done = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= messages:
                done.set()

        begin = time.perf_counter()
        raw_queue = await consumer.get_queue("bench.raw")
        await raw_queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=600)
        consumed = Result(
            "RabbitMQ raw consume (aio-pika, prefetch 200, acks)",
            messages,
            time.perf_counter() - begin,
        )
    finally:
        await connection.close()
    return published, consumed


def render(results: list[Result], jobs: int, rabbit: str) -> str:
    lines = [
        f"## {TITLE}",
        "",
        f"{jobs} jobs per throughput scenario, enqueued by {PRODUCERS} concurrent producers, one",
        "job per committed transaction; the handler does nothing. Jobs/s = jobs / (first enqueue",
        "to last handler start). Delay = commit returned -> handler started (p50/p99); in the",
        "throughput rows it is mostly time spent in the backlog, so the paced rows",
        f"({PACED_JOBS} jobs from one producer at {PACED_RATE} jobs/s) show the delay of a job",
        "arriving at a worker that keeps up. Producers, relay and worker share one process, with",
        "the default settings (8 jobs at a time, prefetch 32). The raw RabbitMQ rows are the",
        "ceiling: as many persistent messages through plain aio-pika, without a database.",
        "Run with `.venv/bin/python bench/jobs.py`.",
        "",
        "| scenario | jobs/s | p50 delay (ms) | p99 delay (ms) |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        p50 = f"{r.p50_ms:.1f}" if r.p50_ms is not None else "-"
        p99 = f"{r.p99_ms:.1f}" if r.p99_ms is not None else "-"
        lines.append(f"| {r.name} | {r.rate:.0f} | {p50} | {p99} |")
    lines += ["", "Machine:", ""]
    for key, value in [*wrk.machine_description(), ("RabbitMQ", rabbit)]:
        lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


async def main(jobs: int, record: bool) -> None:
    wrk.warn_if_busy()
    quiet: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "scheduler_enabled": False,
    }
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pp-bench-jobs-") as tmp:
        storage = f"file://{Path(tmp) / 'objects'}"
        configure_logging(Settings(**quiet))
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await migrate.upgrade_async(sqlite_url)
        embedded = Settings(database_url=sqlite_url, storage_url=storage, **quiet)
        results.append(await end_to_end("embedded: SQLite, in-process worker", embedded, jobs))
        print(f"bench: {results[-1]}", flush=True)
        results.append(
            await end_to_end(
                f"embedded, paced at {PACED_RATE} jobs/s",
                embedded,
                PACED_JOBS,
                paced_rate=PACED_RATE,
            )
        )
        print(f"bench: {results[-1]}", flush=True)

        async with postgres_database() as pg_url, vhost() as amqp_url:
            production = Settings(
                database_url=pg_url, broker_url=amqp_url, storage_url=storage, **quiet
            )
            results.append(
                await end_to_end(
                    "production: PostgreSQL + RabbitMQ (relay + consumer)", production, jobs
                )
            )
            print(f"bench: {results[-1]}", flush=True)
            results.append(
                await end_to_end(
                    f"production, paced at {PACED_RATE} jobs/s",
                    production,
                    PACED_JOBS,
                    paced_rate=PACED_RATE,
                )
            )
            print(f"bench: {results[-1]}", flush=True)
            results.extend(await broker_ceiling(amqp_url, jobs))
            print(f"bench: {results[-2]}\nbench: {results[-1]}", flush=True)
    section = render(results, jobs, rabbitmqctl("version") or "unavailable")
    print(section)
    if record:
        path = wrk.DEEP_DIVES_MD
        document = path.read_text() if path.exists() else "# Benchmarks: deep dives\n"
        path.write_text(wrk.replace_section(document, TITLE, section))
        print(f"bench: recorded '{TITLE}' in BENCHMARKS.md", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--no-record", action="store_true", help="print only")
    arguments = parser.parse_args()
    os.environ.pop("PP_BROKER_URL", None)
    asyncio.run(main(arguments.jobs, not arguments.no_record))
