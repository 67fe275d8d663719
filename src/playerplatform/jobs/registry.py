"""Where domains declare their job handlers and periodic work, next to their own code.

    @job_handler("grant_entitlement")
    async def grant_entitlement(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None: ...

    @scheduled("*/5 * * * *", name="close_due_seasons", queue="leaderboard_update")
    def close_due_seasons(tick: dt.datetime) -> dict[str, Any]:
        return {"action": "close_due_seasons"}

Handlers must be idempotent: delivery is at least once (a crash after the handler's commit
but before the broker ack delivers the job again, and a job may run again after an admin
retry). A handler reloads state by business id and does nothing when the work is already
done. The runner opens the handler's unit of work, commits it together with the job's
status, and rolls it back when the handler raises. Do slow I/O (HTTP, SMTP) before the
first write: on SQLite the first write takes the database's single writer lock.

Several domains may share one queue (`moderation_review`, `notification_send`): a handler
registered with `kind=` receives the jobs whose payload carries that `kind`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
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

# Modules that declare handlers or schedules; missing ones (a domain not built yet) are skipped.
HANDLER_MODULES = (
    "playerplatform.jobs.maintenance",
    "playerplatform.kit.mail",
    "playerplatform.commerce.jobs",
    "playerplatform.ugc.jobs",
    "playerplatform.leaderboards.jobs",
    "playerplatform.messaging.jobs",
    "playerplatform.drops.jobs",
    "playerplatform.safety.jobs",
)


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
class ScheduledEntry:
    name: str
    cron: str
    queue: str
    payload: PayloadFactory

    def latest_tick(self, now: dt.datetime) -> dt.datetime:
        """The most recent tick at or before `now` (cron fields have whole seconds)."""
        start = now.replace(microsecond=0) + dt.timedelta(seconds=1)
        tick: dt.datetime = croniter(self.cron, start).get_prev(dt.datetime)
        return tick

    def next_tick(self, after: dt.datetime) -> dt.datetime:
        tick: dt.datetime = croniter(self.cron, after.replace(microsecond=0)).get_next(dt.datetime)
        return tick


@dataclass
class JobRegistry:
    """Handlers by queue (and payload kind) plus scheduled entries."""

    handlers: dict[tuple[str, str | None], Handler] = field(default_factory=dict)
    schedules: dict[str, ScheduledEntry] = field(default_factory=dict)

    def register(self, queue: str, handler: Handler, *, kind: str | None = None) -> None:
        if not QUEUE_NAME.match(queue):
            raise ValueError(f"invalid queue name {queue!r}")
        existing = self.handlers.get((queue, kind))
        if existing is not None and existing is not handler:
            raise ValueError(f"queue {queue!r} (kind {kind!r}) already has a handler")
        self.handlers[(queue, kind)] = handler

    def handler(self, queue: str, *, kind: str | None = None) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.register(queue, fn, kind=kind)
            return fn

        return decorate

    def lookup(self, job: JobRun) -> Handler:
        handler = self.handlers.get((job.queue, job.kind)) or self.handlers.get((job.queue, None))
        if handler is None:
            raise UnknownHandler(f"no handler for queue {job.queue!r} kind {job.kind!r}")
        return handler

    @property
    def queues(self) -> frozenset[str]:
        return frozenset(queue for queue, _kind in self.handlers)

    def schedule(
        self, cron: str, *, name: str, queue: str
    ) -> Callable[[PayloadFactory], PayloadFactory]:
        if not croniter.is_valid(cron):
            raise ValueError(f"invalid cron expression {cron!r}")

        def decorate(fn: PayloadFactory) -> PayloadFactory:
            if name in self.schedules and self.schedules[name].payload is not fn:
                raise ValueError(f"scheduled entry {name!r} already exists")
            self.schedules[name] = ScheduledEntry(name=name, cron=cron, queue=queue, payload=fn)
            return fn

        return decorate


registry = JobRegistry()


def job_handler(queue: str, *, kind: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler in the platform's registry (see the module docstring)."""
    return registry.handler(queue, kind=kind)


def scheduled(cron: str, *, name: str, queue: str) -> Callable[[PayloadFactory], PayloadFactory]:
    """Declare periodic work: at each tick the scheduler enqueues one job on `queue` with the
    payload the decorated function builds for that tick (key = name + tick)."""
    return registry.schedule(cron, name=name, queue=queue)


def load_handler_modules(modules: Iterable[str] = HANDLER_MODULES) -> None:
    """Import every module that declares handlers or schedules."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # the domain package itself is not there yet
            found = False
        if found:
            importlib.import_module(module)
