"""Prometheus metrics for jobs. Counters move as jobs run; the depth gauges are refreshed
from the table by the job system's housekeeping loop (the table is the source of truth)."""

from __future__ import annotations

import datetime as dt

from playerplatform.jobs import repository
from playerplatform.jobs.models import PENDING
from playerplatform.kit.db import Database, utcnow
from playerplatform.kit.metrics import counter, gauge, histogram

PROCESSED = counter("jobs_processed_total", "Jobs whose handler completed.", ("queue",))
FAILED = counter("jobs_failed_total", "Job attempts whose handler raised.", ("queue",))
DEAD = counter("jobs_dead_total", "Jobs that failed their last attempt.", ("queue",))
PARKED = counter(
    "jobs_parked_items_total", "Rows a batch job set aside instead of failing.", ("source",)
)
# Every process reads the same table, so with several workers the largest value is the truth.
DEPTH = gauge(
    "jobs_queue_depth", "Jobs pending or running.", ("queue", "status"), multiprocess_mode="max"
)
OLDEST = gauge(
    "jobs_oldest_pending_age_seconds",
    "Age of the oldest due pending job.",
    ("queue",),
    multiprocess_mode="max",
)
PICKUP = histogram(
    "jobs_pickup_delay_seconds", "From a job being due to its handler finishing.", ("queue",)
)


async def refresh_depth(db: Database, queues: frozenset[str]) -> None:
    async with db.unit_of_work(write=False) as uow:
        rows = await repository.queue_stats(uow)
    now = utcnow()
    seen: set[tuple[str, str]] = set()
    oldest: dict[str, dt.datetime] = {}
    for queue, status, count, first_run_at in rows:
        DEPTH.labels(queue, status).set(count)
        seen.add((queue, status))
        if status == PENDING and first_run_at is not None and first_run_at <= now:
            oldest[queue] = first_run_at
    for queue in queues | {q for q, _ in seen}:
        for status in ("pending", "running"):
            if (queue, status) not in seen:
                DEPTH.labels(queue, status).set(0)
        when = oldest.get(queue)
        OLDEST.labels(queue).set((now - when).total_seconds() if when else 0.0)
