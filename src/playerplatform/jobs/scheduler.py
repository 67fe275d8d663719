"""The scheduler: one active across all processes (a leader lock), turning each due entry's
tick into one job. A missed tick (nobody was leader, the process was down) is caught up once
at the latest tick, not once per missed tick, and the job key `name@tick` makes a tick that
two leaders raced on (a lost lock) a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from playerplatform.jobs import repository
from playerplatform.jobs.registry import JobRegistry, Schedule
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import Database, utcnow

log = structlog.get_logger("playerplatform.jobs")
ADVISORY_LOCK_CLASS = 0x5050  # first half of the advisory lock key; the second is the database


class LeaderLock(Protocol):
    async def try_acquire(self) -> bool:
        """True while this process holds the lock (acquiring it if free)."""
        ...

    async def release(self) -> None: ...


class PostgresLeaderLock:
    """A session-level advisory lock held on a dedicated connection: it is released when the
    connection closes, so a dead leader never blocks the next one."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(sa.text("SELECT 1"))
                return True
            except Exception:
                log.warning("scheduler_lock_connection_lost")
                await self._drop()
        conn = await self.db.write_engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            held = (
                await conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:cls, hashtext(current_database()))"),
                    {"cls": ADVISORY_LOCK_CLASS},
                )
            ).scalar_one()
        except Exception:
            await conn.close()
            raise
        if held:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:cls, hashtext(current_database()))"),
                    {"cls": ADVISORY_LOCK_CLASS},
                )
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


class FileLeaderLock:
    """An exclusive `flock` on a file next to the SQLite database; the kernel drops it when
    the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def leader_lock_for(db: Database) -> LeaderLock:
    if db.is_sqlite:
        database = sa.engine.make_url(db.url).database or "playerplatform.db"
        return FileLeaderLock(Path(database).expanduser().resolve().with_suffix(".scheduler.lock"))
    return PostgresLeaderLock(db)


class Scheduler:
    def __init__(
        self,
        db: Database,
        registry: JobRegistry,
        lock: LeaderLock,
        *,
        poll_seconds: float = 1.0,
        standby_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.registry = registry
        self.lock = lock
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        self.is_leader = False
        self.enqueued = 0  # ticks this instance turned into jobs
        self._last: dict[str, dt.datetime] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="jobs-scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.lock.release()
        self.is_leader = False

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                leader = await self.lock.try_acquire()
                if leader and not self.is_leader:
                    log.info("scheduler_leader_elected")
                    self._last.clear()  # another leader may have moved the ticks on
                self.is_leader = leader
                if leader:
                    await self.run_due(utcnow())
            except Exception:
                log.exception("scheduler_failed")
            wait = self.poll_seconds if self.is_leader else self.standby_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)

    async def run_due(self, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Enqueue the latest tick of every entry that has not run for it yet."""
        ran = []
        for entry in list(self.registry.schedules.values()):
            tick = entry.latest_tick(now)
            known = self._last.get(entry.name)
            if known is not None and tick <= known:
                continue
            try:
                if await self._run_entry(entry, tick):
                    ran.append((entry.name, tick))
            except Exception:  # one entry failing must not keep the others from running
                log.exception("scheduled_entry_failed", name=entry.name, tick=tick.isoformat())
        return ran

    async def _run_entry(self, entry: Schedule, tick: dt.datetime) -> bool:
        async with self.db.unit_of_work() as uow:
            last = await repository.last_tick(uow, entry.name)
            if last is not None and tick <= last:
                self._last[entry.name] = last
                return False
            job_id = await enqueue(
                uow, entry.queue, entry.payload(tick), key=f"{entry.name}@{tick.isoformat()}"
            )
            await repository.save_tick(uow, entry.name, tick, now=utcnow())
        self._last[entry.name] = tick
        if job_id is None:  # another leader enqueued this tick already
            return False
        self.enqueued += 1
        log.info("scheduled_job_enqueued", name=entry.name, tick=tick.isoformat())
        return True
