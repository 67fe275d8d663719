"""PostgreSQL read replicas: which one a read may go to, and a player's own writes.

Routes whose reads tolerate a little lag (public profiles, catalog, UGC browse, audit and
admin searches, ...) are declared with `replica_reads` (`kit.http`); their unit of work reads
from a replica this module chooses, or from the primary when none fits. Nothing else changes:
writes, and every other read, stay on the primary.

Health is checked in the background, never per request. Every `replica_check_seconds` each
process asks each replica how far it has replayed (`pg_last_wal_replay_lsn()`) and samples
the primary's WAL position (`pg_current_wal_lsn()`) with the time. A replica's lag is the age
of the oldest primary sample it has not replayed yet (0 when it has replayed the newest): a
measure on the primary's clock alone, which a paused or cut-off replica cannot fake by being
idle. A replica is skipped while it is down, not in recovery, or behind more than
`replica_max_lag_seconds`. One that fails under a request is marked down at once and the
request is read again from the primary: a replica going away never fails a read the primary
can answer (so never a 503 while the primary is up). A read the replica holds (it waits for a
lock the replica is replaying, for ever while replay is paused) is cancelled by the replica
after `replica_read_timeout_seconds` and read again from the primary the same way.

Read-your-writes is by LSN, not by a time pin. After a route's write commits, the WAL position
of the primary (read after the commit, so it covers the commit record) is kept in the hot store
under the player (`rw:{subject}`, for `replica_max_lag_seconds` plus a check interval: past
that any replica still in use has replayed it). The player's replica-read routes then go to a
replica only when its last checked replay position is at or past that mark. A fixed pin would
either be too short when replication lags or send every writer to the primary for the whole
bound; the mark costs one statement on the primary and one hot-store write per player write,
and only when replicas are configured. A hot store that is down reads as "unknown": the
primary serves.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from playerplatform.kit.hotstore import UNAVAILABLE, HotStore

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge

_log = structlog.get_logger("playerplatform.replicas")

# What a read on a replica may fail with when the replica (not the query) is at fault: the
# read is then repeated on the primary. Recovery conflicts (a query cancelled because the
# replica replayed a change under it) are DBAPIErrors too.
REPLICA_FAILED: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)
# Of those, what says the replica itself is gone (not a query it refused): it is skipped
# until a check finds it well again.
REPLICA_GONE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)


def _metrics() -> tuple[Gauge, Gauge, Counter]:
    """The replica metrics, made on first use rather than at import: `serve` imports this
    module (through the database) before it tells prometheus_client where the worker
    processes keep their values, and the client decides that at its own import."""
    from playerplatform.kit.metrics import counter, gauge

    return (
        gauge(
            "db_replica_up",
            "1 while the read replica is used (up, in recovery, within the lag bound), else 0.",
            ("replica",),
            multiprocess_mode="livemin",
        ),
        gauge(
            "db_replica_lag_seconds",
            "How far the read replica is behind the primary, at the last check.",
            ("replica",),
            multiprocess_mode="livemax",
        ),
        counter(
            "db_replica_reads_repeated_total",
            "Reads that failed on a read replica and were read again from the primary.",
        ),
    )


def count_read_repeated() -> None:
    """Count a read a failing replica handed back to the primary."""
    _metrics()[2].inc()


_MARK_FAILED: tuple[type[Exception], ...] = (*UNAVAILABLE, *REPLICA_FAILED)
_REPLICA_STATE = sa.text(
    "SELECT pg_is_in_recovery(), COALESCE(pg_last_wal_replay_lsn() - '0/0'::pg_lsn, 0)::bigint"
)
_PRIMARY_POSITION = sa.text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")


# The replica the current task is reading from (set by `Database.read_from`): caches filled
# from a read (`kit.views`) ask it whether what they would store may be older than they think.
reading_from: contextvars.ContextVar[Replica | None] = contextvars.ContextVar(
    "reading_from", default=None
)


@dataclass(eq=False)
class Replica:
    """One replica: its engine and what the last check saw."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    up: bool = False
    replayed: int = 0  # WAL position replayed at the last check (bytes from 0/0)
    lag: float = float("inf")  # seconds, on the primary's clock (see the module docstring)
    checked_at: float = 0.0

    @property
    def name(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @property
    def label(self) -> str:
        """host:port/database, for metrics."""
        url = sa.engine.make_url(self.url)
        return f"{url.host}:{url.port or 5432}/{url.database}"

    def report(self, max_lag: float) -> None:
        up, lag, _ = _metrics()
        up.labels(self.label).set(1 if self.up and self.lag <= max_lag else 0)
        if self.lag != float("inf"):
            lag.labels(self.label).set(self.lag)


@dataclass
class _Samples:
    """The primary's WAL position over the last while: (monotonic time, position)."""

    keep: float
    points: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)

    def add(self, at: float, position: int) -> None:
        self.points.append((at, position))
        while self.points and self.points[0][0] < at - self.keep:
            self.points.popleft()

    def lag(self, replayed: int, now: float) -> float:
        """Seconds since the primary first held WAL this replica has not replayed."""
        for at, position in self.points:
            if position > replayed:
                return now - at
        return 0.0


class Replicas:
    """The configured replicas of the primary, health-checked in the background."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        primary: AsyncEngine,
        max_lag: float,
        check_seconds: float,
        timeout: float,
        read_timeout: float,
        pool_size: int,
        engine_options: dict[str, Any],
    ) -> None:
        self.primary = primary
        self.max_lag = max_lag
        self.check_seconds = check_seconds
        self.timeout = timeout
        self.replicas: list[Replica] = []
        for url in urls:
            engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=timeout,
                # The server cancels a read that outlasts `read_timeout` (a replica holds
                # reads on a relation while it replays a lock on it, for ever while replay is
                # paused): the read fails here and is repeated on the primary.
                # A replica gone silent does not even cancel: the driver gives up a little
                # later and the connection is dropped (`kit.db.drop_unanswered_connections`).
                connect_args={
                    "timeout": timeout,
                    "command_timeout": read_timeout + timeout,
                    "server_settings": {"statement_timeout": str(round(read_timeout * 1000))},
                },
                isolation_level="AUTOCOMMIT",
                **engine_options,
            )
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            self.replicas.append(Replica(url, engine, sessions))
        self._samples = _Samples(keep=max_lag + 4 * check_seconds)
        self._task: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.replicas)

    def choose(self, replayed_at_least: int = 0) -> Replica | None:
        """A replica fit to serve a read now (up, within the lag bound, and at or past
        `replayed_at_least`), picked at random among the fit; None: read from the primary."""
        fit = [
            r
            for r in self.replicas
            if r.up and r.lag <= self.max_lag and r.replayed >= replayed_at_least
        ]
        if not fit:
            return None
        return fit[0] if len(fit) == 1 else random.choice(fit)  # spreads the load

    def mark_down(self, replica: Replica, error: BaseException) -> None:
        """Skip `replica` until the next check finds it well (it failed under a request)."""
        if replica.up:
            _log.warning("replica_down", replica=replica.name, error_type=type(error).__name__)
        replica.up = False
        replica.report(self.max_lag)

    async def primary_position(self) -> int:
        """The primary's WAL position now: after a commit, at or past its commit record."""
        async with self.primary.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return int((await conn.execute(_PRIMARY_POSITION)).scalar_one())

    async def check(self) -> None:
        """One health check of every replica (the background loop runs it; tests too)."""
        now = time.monotonic()
        try:
            self._samples.add(now, await asyncio.wait_for(self.primary_position(), self.timeout))
        except REPLICA_FAILED as exc:
            # Without the primary's position no lag can be measured: keep the last verdicts;
            # the primary being down is the readiness check's business, not ours.
            _log.warning("replica_check_primary_failed", error_type=type(exc).__name__)
            return
        await asyncio.gather(*(self._check_one(r, now) for r in self.replicas))

    async def _check_one(self, replica: Replica, now: float) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                async with replica.engine.connect() as conn:
                    in_recovery, replayed = (await conn.execute(_REPLICA_STATE)).one()
        except REPLICA_FAILED as exc:
            self.mark_down(replica, exc)
            replica.checked_at = now
            return
        was_up = replica.up
        replica.replayed = int(replayed)
        replica.lag = self._samples.lag(replica.replayed, now)
        # A replica promoted to primary (not in recovery) is not ours to read from.
        replica.up = bool(in_recovery)
        replica.checked_at = now
        replica.report(self.max_lag)
        if replica.up and not was_up:
            _log.info("replica_up", replica=replica.name, lag=round(replica.lag, 3))

    async def start(self) -> None:
        """Check once now, then every `check_seconds` in the background."""
        if not self.replicas or self._task is not None:
            return
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="replica-checks")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except Exception:  # the loop must outlive any one bad check
                _log.exception("replica_check_failed")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for replica in self.replicas:
            await replica.engine.dispose()


class ReadYourWrites:
    """A player's reads after their own write: the WAL position each player's last write
    reached, kept in the hot store (see the module docstring)."""

    PREFIX = "rw:"

    def __init__(
        self,
        replicas: Replicas,
        hot: HotStore,
        *,
        subject_of: Callable[[str | None], str | None],
    ) -> None:
        self.replicas = replicas
        self.hot = hot
        # Who a request's Authorization header names, unverified: it only picks where a read
        # goes; the route still authenticates the caller as it always does.
        self.subject_of = subject_of
        self.ttl = replicas.max_lag + 2 * replicas.check_seconds

    @property
    def active(self) -> bool:
        return self.replicas.configured

    async def remember_write(self, subject: str) -> None:
        """Record where `subject`'s committed write reached on the primary."""
        try:
            position = await self.replicas.primary_position()
            await self.hot.set(f"{self.PREFIX}{subject}", str(position), ttl=self.ttl)
        except _MARK_FAILED as exc:
            # The write is committed; without the mark this player may read their change a
            # moment late from a replica, which is what a lag-tolerant route tolerates.
            _log.warning("read_your_writes_unrecorded", error_type=type(exc).__name__)

    async def replica_for(self, authorization: str | None) -> Replica | None:
        """The replica a read of the caller may go to, or None for the primary."""
        if self.replicas.choose() is None:
            return None  # no replica fit for anyone: no need to ask about the caller
        subject = self.subject_of(authorization)
        if subject is None:
            return self.replicas.choose()
        try:
            mark = await self.hot.get(f"{self.PREFIX}{subject}")
        except UNAVAILABLE:
            return None  # the caller's last write is unknown: the primary has it
        return self.replicas.choose(int(mark) if mark else 0)
