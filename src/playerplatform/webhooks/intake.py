"""Storing checked deliveries durably, many at a time (`EventIntake`).

Each delivery needs the same three writes: its raw body in object storage, its event row and
its `webhook_processing` job, the row and the job in one transaction. Written one delivery per
transaction, intake spent most of its time on what every delivery repeats (a transaction's
round trips and its commit, a statement per table, a thread hop per file operation).
Deliveries that arrive at the same time in one process are therefore written together
(`kit.batching.Batcher`: a lone delivery goes at once, the ones that arrive while a batch is
written go in the next):

1. the raw bodies, in one call (`ObjectStore.put_many`; the event id derives from the
   provider and message id, so a redelivery writes the same object again, harmlessly);
2. one transaction: one statement inserts the events not stored yet, one more queues one
   `webhook_processing` job for the events it inserted (kind `webhook_events`: processing
   takes each event on its own, see `processing.process_events`); commit;
3. only then each delivery's answer: stored now, or stored before (a duplicate).

One job for the batch rather than one per event: each job costs a row, a broker message
published and confirmed by the relay, and a claim and an acknowledgement at the worker, and
those were most of what intake and processing spent per event.

Durability is each delivery's own: none is answered before its body, row and job are
committed, and a batch that fails is written again delivery by delivery, so one delivery's
error is its own. Two copies of one message in one batch: the first is stored, the other is
the duplicate; in batches of different processes, the database's unique key decides (the
second insert waits for the first's commit, then skips it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from playerplatform.jobs import enqueue
from playerplatform.kit.batching import Batcher
from playerplatform.kit.db import Database, UnitOfWork
from playerplatform.kit.http import in_unit_of_work
from playerplatform.kit.objects import NewObject, ObjectStore
from playerplatform.webhooks import repository

QUEUE = "webhook_processing"
KIND = "webhook_event"  # one event: a replay, or an event whose batch could not process it
BATCH_KIND = "webhook_events"  # the events one intake batch stored


@dataclass(frozen=True, slots=True)
class Arrival:
    """A checked delivery to store: its `webhook_events` row and its raw body."""

    row: dict[str, Any]
    body: bytes

    @property
    def event_id(self) -> str:
        return str(self.row["event_id"])


def job_key(event_id: str) -> str:
    return f"webhook:{event_id}"


class EventIntake:
    """Stores arrivals together (see the module docstring)."""

    MAX_BATCH = 64

    def __init__(self, db: Database, objects: ObjectStore, *, max_attempts: int) -> None:
        self.db = db
        self.objects = objects
        self.max_attempts = max_attempts
        self._batcher: Batcher[Arrival, bool] = Batcher(self._write, max_batch=self.MAX_BATCH)

    async def store(self, arrival: Arrival) -> bool:
        """Store `arrival` and queue its processing; returns False when its message was
        stored before (nothing is written for it then). Returns once committed."""
        return await self._batcher.submit(arrival)

    async def _write(self, arrivals: list[Arrival]) -> list[bool]:
        first: dict[str, Arrival] = {}
        for arrival in arrivals:
            first.setdefault(arrival.event_id, arrival)
        # Before the transaction's first write: on SQLite that write takes the one writer lock.
        await self.objects.put_many(
            [NewObject(a.row["object_key"], a.body, "application/json") for a in first.values()]
        )
        rows = [a.row for a in first.values()]

        async def write(uow: UnitOfWork) -> set[str]:
            return await self._insert(uow, rows)

        stored = await in_unit_of_work(self.db, write)
        answers = []
        for arrival in arrivals:
            answers.append(first.get(arrival.event_id) is arrival and arrival.event_id in stored)
        return answers

    async def _insert(self, uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> set[str]:
        stored = await repository.insert_events(uow, rows)
        if stored:
            payload = {"kind": BATCH_KIND, "event_ids": sorted(stored)}
            await enqueue(uow, QUEUE, payload, max_attempts=self.max_attempts)
        return stored
