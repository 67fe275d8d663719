"""Relational store: engines for SQLite (embedded) and PostgreSQL (production), the declarative
base every domain's tables derive from, and the unit of work that the edge opens per request
or job. Services flush; only the edge commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session

from playerplatform.kit.replicas import (
    REPLICA_FAILED,
    REPLICA_GONE,
    Replica,
    Replicas,
    count_read_repeated,
    reading_from,
)
from playerplatform.kit.settings import Settings

T = TypeVar("T")

_log = structlog.get_logger("playerplatform.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is not dt.UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        uuid.UUID: sa.Uuid(),
        dict[str, Any]: JSONType,
    }


_UUID7_RANDOM = (1 << 80) - 1
_UUID7_VERSION_AND_VARIANT = (0x7 << 76) | (0x2 << 62)
_UUID7_FIXED_BITS = (0xF << 76) | (0x3 << 62)


def new_uuid() -> uuid.UUID:
    """A new row id: a version-7 UUID (RFC 9562), 48 bits of Unix time in milliseconds and 74
    random bits. Ids made later sort later, so PostgreSQL adds a new row's id (and the ids that
    refer to it) at the right edge of each index instead of on a random page: fewer pages
    touched and logged per insert. Ids are internal; what players see (canonical and session
    ids) stays wholly random."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10)) & _UUID7_RANDOM
    return uuid.UUID(int=value & ~_UUID7_FIXED_BITS | _UUID7_VERSION_AND_VARIANT)


def _json_text(value: Any) -> str:
    """JSON columns' text, by orjson (compact; several times faster than the json module)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# What both backends' engines share: JSON columns written and read with orjson.
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"timeout": 30},
        **_JSON_CODEC,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN, so writers can begin IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock at BEGIN so concurrent writers queue on busy_timeout instead
        # of failing with "database is locked" when a read lock is upgraded.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class UnitSession(Session):
    """The sessions of units of work (a class of their own to hang their events on); each
    names its unit in `info["unit"]`."""


@event.listens_for(UnitSession, "do_orm_execute")
def _skip_needless_synchronize(state: ORMExecuteState) -> None:
    """An UPDATE or DELETE of mapped rows brings the session's loaded objects in line with
    it, by default by compiling its WHERE clause into Python and testing every object, which
    costs more than running the statement. When the session holds no object of that class
    there is nothing to bring in line."""
    if not (state.is_update or state.is_delete):
        return
    if "synchronize_session" in state.execution_options:
        return
    mapper = state.bind_mapper
    if mapper is None:
        return
    target = mapper.class_
    if not any(isinstance(obj, target) for obj in state.session.identity_map.values()):
        state.update_execution_options(synchronize_session=False)


def drop_unanswered_connections(engine: AsyncEngine) -> None:
    """A PostgreSQL statement the server did not answer within the driver's command timeout,
    or whose task was cancelled (a caller's own timeout), leaves its connection waiting for
    the server to confirm the statement's cancellation, and everything later on that
    connection (the rollback, the pool's reset, a graceful close) waits with it, for ever if
    the server went silent. Such a connection is closed at once instead and counted as lost,
    so its request fails (503) and the pool opens a new one."""

    @event.listens_for(engine.sync_engine, "handle_error")
    def _drop(context: Any) -> None:
        if not isinstance(context.original_exception, TimeoutError | asyncio.CancelledError):
            return
        if context.connection is not None and not context.connection.invalidated:
            context.connection.connection.driver_connection.terminate()
        context.is_disconnect = True


class Database:
    """Owns the engines. On SQLite, writes and reads use separate pools so only writers
    serialise; on PostgreSQL one pool serves both, and reads that tolerate lag may go to a
    read replica (`replicas`, `kit.replicas`)."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        self.is_sqlite = settings.is_sqlite
        if self.is_sqlite:
            _ensure_sqlite_dir(self.url)
            self.write_engine = _sqlite_engine(self.url, immediate=True, pool_size=4)
            self.read_engine = _sqlite_engine(
                self.url, immediate=False, pool_size=settings.database_pool_size
            )
        else:
            self.write_engine = create_async_engine(
                self.url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_pool_size,
                pool_pre_ping=False,
                pool_timeout=settings.database_timeout_seconds,
                connect_args={
                    "timeout": settings.database_timeout_seconds,
                    "command_timeout": settings.database_statement_timeout_seconds,
                },
                **_JSON_CODEC,
            )
            drop_unanswered_connections(self.write_engine)
            # Reads run in autocommit: no BEGIN/COMMIT round trips around a GET's SELECTs.
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writers = async_sessionmaker(
            self.write_engine, expire_on_commit=False, sync_session_class=UnitSession
        )
        self._driver_statements: dict[sa.Executable, DriverStatement] = {}
        self._readers = async_sessionmaker(
            self.read_engine, expire_on_commit=False, sync_session_class=UnitSession
        )
        self.replicas = Replicas(
            [] if self.is_sqlite else settings.database_replica_urls,
            primary=self.write_engine,
            max_lag=settings.replica_max_lag_seconds,
            check_seconds=settings.replica_check_seconds,
            # A replica that does not answer soon is skipped: the primary serves meanwhile.
            timeout=min(settings.database_timeout_seconds, 2.0),
            read_timeout=settings.replica_read_timeout_seconds,
            pool_size=settings.database_pool_size,
            engine_options=_JSON_CODEC,
        )
        for replica in self.replicas.replicas:
            drop_unanswered_connections(replica.engine)
        # Run after every unit of work's commit (set by the composition root: cached views).
        self.commit_hooks: list[CommitHook] = []

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def unit_of_work(self, *, write: bool = True, single_statement: bool = False) -> UnitOfWork:
        """A new unit of work. `single_statement`: every write in it is one atomic statement,
        so on PostgreSQL it runs in autocommit, without BEGIN/COMMIT round trips."""
        hooks = self.commit_hooks
        # On PostgreSQL the readers' sessions are in autocommit: each statement commits itself.
        autocommit = not self.is_sqlite
        if not write:
            return UnitOfWork(
                self._readers, dialect=self.dialect, commit_hooks=hooks, autocommit=autocommit
            )
        if single_statement and not self.is_sqlite:
            return UnitOfWork(
                self._readers,
                dialect=self.dialect,
                commit_hooks=hooks,
                transactional=self._writers,
                autocommit=True,
            )
        return UnitOfWork(self._writers, dialect=self.dialect, commit_hooks=hooks)

    def replica_unit_of_work(self, replica: Replica) -> UnitOfWork:
        """A read-only unit of work on `replica` (autocommit: each statement sees the replica
        as it has replayed so far). Run it through `read_from` to fall back on the primary."""
        return UnitOfWork(replica.sessions, dialect=self.dialect)

    async def read_from(
        self,
        replica: Replica | None,
        run: Callable[[UnitOfWork], Awaitable[T]],
    ) -> T:
        """`run` a read on `replica`, or on the primary when it is None or fails under the
        read (it is then skipped until a check finds it well): a replica going away costs a
        read repeated, never an error the primary could have avoided. `run` gets the unit of
        work and is responsible for closing it (as `kit.http.transact` does)."""
        if replica is not None:
            uow = self.replica_unit_of_work(replica)
            reading = reading_from.set(replica)
            try:
                return await run(uow)
            except REPLICA_FAILED as exc:
                if not uow.touched:
                    raise  # it failed before reading anything: not the replica's doing
                if isinstance(exc, REPLICA_GONE) or getattr(exc, "connection_invalidated", False):
                    self.replicas.mark_down(replica, exc)
                count_read_repeated()
                _log.info("replica_read_repeated_on_primary", error_type=type(exc).__name__)
            finally:
                reading_from.reset(reading)
        return await run(self.unit_of_work(write=False))

    async def read_lagging(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """`work` in a read-only unit of work on any fit replica (lag up to
        `replica_max_lag_seconds`, no read-your-writes), else on the primary: for reads that
        tolerate lag and have no caller whose writes they must show (archives)."""

        async def run(uow: UnitOfWork) -> T:
            async with uow:
                return await work(uow)

        return await self.read_from(self.replicas.choose(), run)

    def driver_statement(self, statement: sa.Executable) -> DriverStatement:
        """`statement` compiled for the driver, once per statement object."""
        compiled = self._driver_statements.get(statement)
        if compiled is None:
            compiled = DriverStatement(statement, self.write_engine.dialect)
            self._driver_statements[statement] = compiled
        return compiled

    @contextlib.asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """PostgreSQL only: a pooled connection of the driver itself (asyncpg), in autocommit,
        for the few statements run below SQLAlchemy (`DriverStatement`). Every statement on
        it commits on its own."""
        if self.is_sqlite:
            raise RuntimeError("driver connections are for PostgreSQL")
        async with self.read_engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None  # a connection just checked out is open
            try:
                yield driver
            except (TimeoutError, asyncio.CancelledError):
                # Below SQLAlchemy its error hook does not see the statement: drop it here.
                driver.terminate()
                await conn.invalidate()
                raise

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.replicas.close()
        await self.write_engine.dispose()
        if self.is_sqlite:  # on PostgreSQL the read engine shares the writer's pool
            await self.read_engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


AfterCommit = Callable[[], Awaitable[None]]
CommitHook = Callable[["UnitOfWork"], Awaitable[None]]  # runs after every unit's commit


class UnitOfWork:
    """One transaction. Opened and committed at the edge; services only flush.

    The session is made on first use: a request served from caches never builds one, and its
    commit and close cost nothing. `after_commit` callbacks run once the transaction is
    durable (cache invalidation, waking the job relay); they never run for a rolled-back unit.
    `info` is scratch space for the unit's own bookkeeping.
    """

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        *,
        dialect: str,
        commit_hooks: Sequence[CommitHook] = (),
        transactional: Callable[[], AsyncSession] | None = None,
        autocommit: bool = False,
    ) -> None:
        self._sessions = sessions
        self._transactional = transactional
        self._autocommit = autocommit  # `sessions` run each statement in autocommit
        self._commit_hooks = commit_hooks
        self._session: AsyncSession | None = None
        self.dialect = dialect
        self.info: dict[str, Any] = {}
        self._after_commit: list[AfterCommit] = []
        self.closed = False
        self.touched = False  # a session was made: the unit reached the database

    @property
    def session(self) -> AsyncSession:
        session = self._session
        if session is None:
            if self.closed:
                raise RuntimeError("the unit of work is closed")
            session = self._session = self._sessions()
            session.info["unit"] = self
            self.touched = True
        return session

    def require_transaction(self) -> None:
        """Make this unit one transaction even where its route declared single-statement
        writes (an Idempotency-Key's record must commit with the change it records). Call it
        before the first statement."""
        if self._transactional is None:
            return
        if self._session is not None:
            raise RuntimeError("a transaction was required after the unit began")
        self._sessions, self._transactional = self._transactional, None
        self._autocommit = False

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def release(self) -> None:
        """Give back the connection of a unit that has only read so far (its transaction is
        rolled back), before work that takes a connection of its own; the next statement
        begins anew."""
        session, self._session = self._session, None
        if session is not None:
            session.info.pop("unit", None)  # no cycle left for the collector
            await session.close()

    async def commit(self) -> None:
        session = self._session
        # In autocommit every statement has committed already: only objects added or changed
        # and not yet flushed are left to write (the session's commit machinery costs as much
        # as a statement).
        if session is not None and (
            not self._autocommit or session.new or session.dirty or session.deleted
        ):
            await session.commit()
        callbacks, self._after_commit = self._after_commit, []
        callbacks += [functools.partial(hook, self) for hook in self._commit_hooks]
        for callback in callbacks:
            try:
                await callback()
            except Exception:
                # The change is committed: report the failed follow-up, don't fail the request.
                _log.exception(
                    "after_commit_failed", callback=getattr(callback, "__qualname__", "?")
                )

    async def rollback(self) -> None:
        self._after_commit.clear()
        if self._session is not None:
            await self._session.rollback()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._session is not None:
                self._session.info.pop("unit", None)  # no cycle left for the collector
                await self._session.close()

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self.rollback()
        finally:
            await self.close()


def column_values(row: Any, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """A mapped row's columns as a dict, for exports: internal ids (UUIDs) are left out, as
    they never leave the server, and so are the `exclude`d columns."""
    values = {}
    for attribute in sa.inspect(row).mapper.column_attrs:
        name = attribute.columns[0].name
        value = getattr(row, attribute.key)
        if name in exclude or isinstance(value, uuid.UUID):
            continue
        values[name] = value
    return values


def insert_ignoring_conflicts(uow: UnitOfWork, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the unit's dialect; a conflict leaves the
    transaction usable (no error is raised, no savepoint needed). For many rows at once
    (compiled once per call); one row: `insert_unless_taken` (compiled once)."""
    if uow.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def dialect_insert(uow: UnitOfWork) -> Any:
    """The unit's dialect's INSERT construct (the one with `on_conflict_do_*`)."""
    if uow.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


_built_once: dict[tuple[str, Any], Any] = {}


def built_once(uow: UnitOfWork, key: Any, build: Callable[[Any], Any]) -> Any:
    """The statement `build(insert)` returns (`insert`: `dialect_insert(uow)`), compiled on
    its first use per dialect and `key`, then kept as SQL text with typed parameters.

    For INSERT ... ON CONFLICT: SQLAlchemy does not cache statements holding it (its
    dialects' INSERT is not cacheable), so it compiled one on every execution, and on a grant,
    a claim or a profile write that cost more than running it. `build` binds every value by
    name (`bound`), so the text holds only names from our own metadata; a RETURNING keeps
    its columns' types; the values, and the table's Python-side defaults for the columns it
    sets (`with_defaults`), are passed when the statement is executed."""
    statement = _built_once.get((uow.dialect, key))
    if statement is None:
        built = build(dialect_insert(uow))
        compiled = built.compile(dialect=_named_dialect(uow.dialect))
        fixed = [name for name, bind in compiled.binds.items() if not bind.required]
        if fixed:  # a value in the text would be the first call's for every later call
            raise ValueError(f"built_once {key!r}: bind every value by name, not {fixed}")
        # `:name::TYPE` (a parameter's cast) reads as no parameter to `sa.text`: space it.
        sql = re.sub(r"(:\w+)::", r"\1 ::", compiled.string)
        statement = sa.text(sql).bindparams(*compiled.binds.values())
        if len(built.exported_columns):
            statement = statement.columns(*built.exported_columns)
        _built_once[(uow.dialect, key)] = statement
    return statement


@functools.cache
def _named_dialect(name: str) -> Dialect:
    """A dialect of `name` that writes parameters as `:name`, as `sa.text` reads them."""
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.dialect(paramstyle="named")
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect(paramstyle="named")


def bound(table: sa.Table, columns: Sequence[str]) -> dict[str, Any]:
    """`.values()` for `built_once`: each of `columns` bound by its own name and type."""
    return {c: sa.bindparam(c, type_=table.c[c].type) for c in columns}


def with_defaults(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    """`row` with the table's Python-side defaults for the columns it leaves out, as an
    INSERT through SQLAlchemy would set them (a text statement sets none)."""
    full = dict(row)
    for column in table.columns:
        default = column.default
        if column.key in full or default is None:
            continue
        if default.is_scalar:
            full[column.key] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            full[column.key] = default.arg(None)  # type: ignore[attr-defined]
    return full


async def insert_unless_taken(
    uow: UnitOfWork, table: Any, row: Mapping[str, Any], *, returning: Any = None
) -> Any:
    """INSERT `row` ... ON CONFLICT DO NOTHING [RETURNING `returning`], built once per table
    and set of columns (`built_once`), with the table's Python-side defaults; the result."""
    full = with_defaults(table, row)
    key = ("insert_unless_taken", table.name, tuple(full), getattr(returning, "name", None))

    def build(insert: Any) -> Any:
        statement = insert(table).values(bound(table, tuple(full))).on_conflict_do_nothing()
        return statement if returning is None else statement.returning(returning)

    return await uow.session.execute(built_once(uow, key, build), full)


async def upsert_row(
    uow: UnitOfWork,
    table: Any,
    row: Mapping[str, Any],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
    also: Mapping[str, Any] | None = None,
    returning: Any = None,
) -> Any:
    """INSERT `row` ... ON CONFLICT (`conflict`) DO UPDATE SET each of `update` to the row's
    value, and each of `also` to its expression (no value in it: `built_once`) [RETURNING
    `returning`], built once per table and set of columns; the result."""
    key = (
        "upsert_row",
        table.name,
        tuple(row),
        tuple(conflict),
        tuple(update),
        tuple(also or ()),
        getattr(returning, "name", None),
    )

    def build(insert: Any) -> Any:
        statement = insert(table).values(bound(table, tuple(row)))
        sets = {c: statement.excluded[c] for c in update}
        statement = statement.on_conflict_do_update(
            index_elements=list(conflict), set_={**sets, **(also or {})}
        )
        return statement if returning is None else statement.returning(returning)

    return await uow.session.execute(built_once(uow, key, build), row)


Row = tuple[Any, dict[str, Any]]  # (table, column values)
_together_statements: dict[tuple[Any, ...], Any] = {}


def _together_statement(rows: list[Row], claim: Row | None, after_claim: list[Row]) -> Any:
    """Build (once per shape of rows) the PostgreSQL statement for `insert_together`:
    data-modifying CTEs, where the rows after the claim select from the claim's RETURNING.

    Written as SQL text: SQLAlchemy does not cache statements holding ON CONFLICT, and
    compiling this one on every sign-in would cost more than the round trips it saves. Only
    table and column names from our own metadata go into the text; every value is bound.
    """
    shape = (
        tuple((t.name, tuple(r)) for t, r in rows),
        (claim[0].name, tuple(claim[1])) if claim else None,
        tuple((t.name, tuple(r)) for t, r in after_claim),
    )
    statement = _together_statements.get(shape)
    if statement is not None:
        return statement
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    binds: list[Any] = []

    def values(prefix: str, table: sa.Table, columns: tuple[str, ...]) -> str:
        parts = []
        for c in columns:
            column = table.c[c]
            binds.append(sa.bindparam(f"{prefix}_{c}", type_=column.type))
            sql_type = column.type.dialect_impl(dialect).compile(dialect=dialect)
            parts.append(f"CAST(:{prefix}_{c} AS {sql_type})")
        return ", ".join(parts)

    def target(table: sa.Table, columns: tuple[str, ...]) -> str:
        return f"{table.name} ({', '.join(columns)})"

    ctes = [
        f"w{n} AS (INSERT INTO {target(t, tuple(r))} VALUES ({values(f'w{n}', t, tuple(r))}))"  # noqa: S608
        for n, (t, r) in enumerate(rows)
    ]
    if claim is None:
        ctes += [
            f"a{n} AS (INSERT INTO {target(t, tuple(r))} VALUES ({values(f'a{n}', t, tuple(r))}))"  # noqa: S608
            for n, (t, r) in enumerate(after_claim)
        ]
        final = "SELECT 1"
    else:
        table, row = claim
        keys = ", ".join(c.name for c in table.primary_key.columns)
        ctes.append(
            f"claim AS (INSERT INTO {target(table, tuple(row))} VALUES"  # noqa: S608
            f" ({values('c', table, tuple(row))}) ON CONFLICT DO NOTHING RETURNING {keys})"
        )
        ctes += [
            f"a{n} AS (INSERT INTO {target(t, tuple(r))}"  # noqa: S608
            f" SELECT {values(f'a{n}', t, tuple(r))} FROM claim)"
            for n, (t, r) in enumerate(after_claim)
        ]
        final = "SELECT count(*) FROM claim"
    statement = sa.text(f"WITH {', '.join(ctes)} {final}").bindparams(*binds)
    _together_statements[shape] = statement
    return statement


async def insert_together(
    uow: UnitOfWork,
    rows: list[Row],
    *,
    claim: Row | None = None,
    after_claim: list[Row] | None = None,
) -> bool:
    """Insert `rows`; then `claim` unless its unique key is taken; then `after_claim` only
    when the claim went in. One statement (data-modifying CTEs, built once per shape) on
    PostgreSQL, one statement per row on SQLite. Returns whether the claim went in (True
    without a claim). Used on the sign-in hot path, where round trips are most of the cost.
    """
    after_claim = after_claim or []
    if uow.dialect == "postgresql":
        params: dict[str, Any] = {}
        for prefix, group in (("w", rows), ("a", after_claim)):
            for n, (_table, row) in enumerate(group):
                params.update({f"{prefix}{n}_{c}": v for c, v in row.items()})
        if claim is not None:
            params.update({f"c_{c}": v for c, v in claim[1].items()})
        result = await uow.session.execute(_together_statement(rows, claim, after_claim), params)
        return claim is None or bool(result.scalar_one())
    for table, row in rows:
        await uow.session.execute(sa.insert(table), row)
    if claim is not None:
        table, row = claim
        key = next(iter(table.primary_key.columns))
        if (await insert_unless_taken(uow, table, row, returning=key)).first() is None:
            return False
    for table, row in after_claim:
        await uow.session.execute(sa.insert(table), row)
    return True


class DriverStatement:
    """A statement compiled once for the PostgreSQL driver: its SQL with positional
    parameters, and for each parameter the bind processing SQLAlchemy would apply (JSON
    serialisation, UTC normalisation), so a value written this way is stored exactly as
    through the ORM."""

    __slots__ = ("_params", "sql")

    def __init__(self, statement: sa.Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        self._params = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup or ()
        ]

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        return [
            values[name] if process is None else process(values[name])
            for name, process in self._params
        ]
