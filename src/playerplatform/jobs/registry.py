"""Job handlers and periodic work, as the composition root declares them
(`playerplatform.wiring`): a domain writes its handlers in its own `jobs.py`, and the wiring
names each one with its queue, and each schedule with its cron expression.

    async def grant_entitlement(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None: ...

    JobHandler("grant_entitlement", commerce_jobs.grant_entitlement)
    Schedule("commerce_reconcile", "* * * * *", queue="revoke_entitlement", kind="reconcile")

Handlers must be idempotent: delivery is at least once (a crash after the handler's commit
but before the broker ack delivers the job again, and a job may run again after an admin
retry). A handler reloads state by business id and does nothing when the work is already
done. The runner opens the handler's unit of work, commits it together with the job's
status, and rolls it back when the handler raises. Do slow I/O (HTTP, SMTP) before the
first write: on SQLite the first write takes the database's single writer lock.

Several domains may share one queue (`moderation_review`, `notification_send`): a handler
declared with a `kind` receives the jobs whose payload carries that `kind`; one without a
kind receives the queue's other jobs.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

from playerplatform.kit.db import UnitOfWork

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

QUEUES = (
    "grant_entitlement",
    "revoke_entitlement",
    "scan_content",
    "moderation_review",
    "webhook_processing",
    "leaderboard_update",
    "notification_send",
    "maintenance",  # the platform's own upkeep (`jobs.maintenance`)
)
QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a handler receives: the job as it is being run."""

    id: uuid.UUID
    public_id: str
    queue: str
    key: str | None
    payload: dict[str, Any]
    attempt: int  # 1 on the first run
    max_attempts: int

    @property
    def kind(self) -> str | None:
        kind = self.payload.get("kind")
        return kind if isinstance(kind, str) else None


Handler = Callable[[UnitOfWork, JobRun, "Runtime"], Awaitable[None]]
PayloadFactory = Callable[[dt.datetime], dict[str, Any]]


class UnknownHandler(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class JobHandler:
    """`handler` runs the jobs on `queue` whose payload has this `kind` (any other kind too,
    when `kind` is None and no handler names it)."""

    queue: str
    handler: Handler
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Periodic work: at each tick of `cron` the scheduler enqueues one job on `queue` (key =
    name + tick) whose payload is `{"kind": kind}`, or what `build(tick)` returns."""

    name: str
    cron: str
    queue: str
    kind: str | None = None
    build: PayloadFactory | None = None

    def payload(self, tick: dt.datetime) -> dict[str, Any]:
        if self.build is not None:
            return self.build(tick)
        return {"kind": self.kind} if self.kind is not None else {}

    def latest_tick(self, now: dt.datetime) -> dt.datetime:
        """The most recent tick at or before `now` (cron fields have whole seconds)."""
        start = now.replace(microsecond=0) + dt.timedelta(seconds=1)
        tick: dt.datetime = croniter(self.cron, start).get_prev(dt.datetime)
        return tick


class JobRegistry:
    """Handlers by queue (and payload kind) plus schedules by name. Built once, at start-up,
    from the declarations it is given; a second handler for the same queue and kind, a second
    schedule of the same name, a bad queue name or cron expression is refused."""

    def __init__(
        self, handlers: Iterable[JobHandler] = (), schedules: Iterable[Schedule] = ()
    ) -> None:
        self.handlers: dict[tuple[str, str | None], Handler] = {}
        self.schedules: dict[str, Schedule] = {}
        for declared in handlers:
            self.register(declared.queue, declared.handler, kind=declared.kind)
        for schedule in schedules:
            self.add_schedule(schedule)

    def register(self, queue: str, handler: Handler, *, kind: str | None = None) -> None:
        if not QUEUE_NAME.match(queue):
            raise ValueError(f"invalid queue name {queue!r}")
        if (queue, kind) in self.handlers:
            raise ValueError(f"queue {queue!r} (kind {kind!r}) already has a handler")
        self.handlers[(queue, kind)] = handler

    def handler(self, queue: str, *, kind: str | None = None) -> Callable[[Handler], Handler]:
        """`register` as a decorator, for a registry of one's own (tests, tools)."""

        def decorate(fn: Handler) -> Handler:
            self.register(queue, fn, kind=kind)
            return fn

        return decorate

    def add_schedule(self, schedule: Schedule) -> None:
        if not croniter.is_valid(schedule.cron):
            raise ValueError(f"invalid cron expression {schedule.cron!r} for {schedule.name!r}")
        if not QUEUE_NAME.match(schedule.queue):
            raise ValueError(f"invalid queue name {schedule.queue!r} for {schedule.name!r}")
        if schedule.name in self.schedules:
            raise ValueError(f"scheduled entry {schedule.name!r} already exists")
        self.schedules[schedule.name] = schedule

    def schedule(
        self, cron: str, *, name: str, queue: str
    ) -> Callable[[PayloadFactory], PayloadFactory]:
        """`add_schedule` as a decorator of the payload factory, for a registry of one's own."""

        def decorate(fn: PayloadFactory) -> PayloadFactory:
            self.add_schedule(Schedule(name, cron, queue, build=fn))
            return fn

        return decorate

    def lookup(self, job: JobRun) -> Handler:
        handler = self.handlers.get((job.queue, job.kind)) or self.handlers.get((job.queue, None))
        if handler is None:
            raise UnknownHandler(f"no handler for queue {job.queue!r} kind {job.kind!r}")
        return handler

    def unhandled(self) -> list[Schedule]:
        """Schedules whose jobs no handler would take."""
        return [
            s
            for s in self.schedules.values()
            if (s.queue, s.kind) not in self.handlers and (s.queue, None) not in self.handlers
        ]

    @property
    def queues(self) -> frozenset[str]:
        return frozenset(queue for queue, _kind in self.handlers)
