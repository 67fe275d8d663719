"""Relational store: engines for SQLite (embedded) and PostgreSQL (production), the declarative
base every domain's tables derive from, and the unit of work that the edge opens per request
or job. Services flush; only the edge commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
from sqlalchemy.orm import DeclarativeBase

from playerplatform.kit.batching import Batcher
from playerplatform.kit.settings import Settings

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


class Database:
    """Owns the engines. On SQLite, writes and reads use separate pools so only writers
    serialise; on PostgreSQL one pool serves both."""

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
                **_JSON_CODEC,
            )
            # Reads run in autocommit: no BEGIN/COMMIT round trips around a GET's SELECTs.
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writers = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._driver_statements: dict[sa.Executable, DriverStatement] = {}
        self._claims_statements: dict[tuple[Any, ...], _ClaimsStatement] = {}
        self.claims = ClaimBatcher(self)  # PostgreSQL: claims written together
        self._readers = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def unit_of_work(self, *, write: bool = True, single_statement: bool = False) -> UnitOfWork:
        """A new unit of work. `single_statement`: every write in it is one atomic statement,
        so on PostgreSQL it runs in autocommit, without BEGIN/COMMIT round trips."""
        if not write or (single_statement and not self.is_sqlite):
            return UnitOfWork(self._readers(), dialect=self.dialect)
        return UnitOfWork(self._writers(), dialect=self.dialect)

    def claims_statement(self, shape_of: Claim) -> _ClaimsStatement:
        """The statement writing claims of `shape_of`'s shape (see `claim_many_on_driver`)."""
        shape = shape_of.shape()
        statement = self._claims_statements.get(shape)
        if statement is None:
            statement = _ClaimsStatement(shape_of, self.write_engine.dialect)
            self._claims_statements[shape] = statement
        return statement

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
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

    async def ping(self) -> None:
        async with self.read_engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.is_sqlite:  # on PostgreSQL the read engine shares the writer's pool
            await self.read_engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """One transaction. Opened and committed at the edge; services only flush.

    `after_commit` callbacks run once the transaction is durable (cache invalidation, waking
    the job relay); they never run for a rolled-back unit.
    """

    def __init__(self, session: AsyncSession, *, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        self._after_commit: list[AfterCommit] = []
        self.closed = False

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
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
        await self.session.rollback()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.session.close()

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


def insert_ignoring_conflicts(uow: UnitOfWork, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the unit's dialect; a conflict leaves the
    transaction usable (no error is raised, no savepoint needed)."""
    if uow.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


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
        stmt = insert_ignoring_conflicts(uow, table).returning(*table.primary_key.columns)
        if (await uow.session.execute(stmt, row)).first() is None:
            return False
    for table, row in after_claim:
        await uow.session.execute(sa.insert(table), row)
    return True


@dataclass(frozen=True, slots=True)
class Claim:
    """Rows to write together, for `ClaimBatcher`: `rows`, then `claim` unless its unique key
    is taken, then `after_claim` only when the claim went in (as `insert_together`), and
    none of them when a row of `unless` (a table and column values) exists already."""

    rows: list[Row]
    claim: Row
    after_claim: list[Row]
    unless: Row

    def shape(self) -> tuple[Any, ...]:
        return tuple(
            (table.name, tuple(values))
            for table, values in (*self.rows, self.claim, *self.after_claim, self.unless)
        )


class _ClaimsStatement:
    """One statement for any number of claims of one shape (built once per shape): each
    table's rows arrive as one array per column and are unnested with their claim's number,
    so each claim's rows follow its own guard and its own claim. Returns the numbers (from 1)
    of the claims that went in and of those whose `unless` row exists. The text does not
    depend on how many claims there are, so it is prepared once per connection."""

    def __init__(self, shape_of: Claim, dialect: Dialect) -> None:
        self._columns: list[tuple[int, str, Any]] = []  # (group, column, bind processing)
        self._dialect = dialect
        groups = [
            *shape_of.rows,
            shape_of.claim,
            *shape_of.after_claim,
            shape_of.unless,
        ]
        arrays: list[str] = []

        def unnested(group: int, table: sa.Table, columns: tuple[str, ...]) -> str:
            parts = []
            for c in columns:
                column_type = table.c[c].type
                self._columns.append(
                    (group, c, column_type.dialect_impl(dialect).bind_processor(dialect))
                )
                arrays.append(c)
                sql_type = column_type.compile(dialect=dialect)
                parts.append(f"${len(arrays)}::{sql_type}[]")
            names = ", ".join([*columns, "claim_no"])
            return f"unnest({', '.join(parts)}) WITH ORDINALITY AS v({names})"

        def picked(columns: tuple[str, ...]) -> str:
            return ", ".join(f"v.{c}" for c in columns)

        unless_group = len(groups) - 1
        table, match = shape_of.unless
        conditions = " AND ".join(f"t.{c} = v.{c}" for c in match)
        # One index probe per claim (a lateral lookup with a limit): with EXISTS, the planner
        # may hash the whole table instead, a scan that grows with every account.
        ctes = [
            f"known AS (SELECT v.claim_no FROM {unnested(unless_group, table, tuple(match))}"  # noqa: S608
            f" CROSS JOIN LATERAL (SELECT 1 FROM {table.name} AS t WHERE {conditions} LIMIT 1)"
            " AS hit)"
        ]
        fresh = "v.claim_no NOT IN (SELECT claim_no FROM known)"
        for i, (t, r) in enumerate(shape_of.rows):
            columns = tuple(r)
            ctes.append(
                f"w{i} AS (INSERT INTO {t.name} ({', '.join(columns)})"  # noqa: S608
                f" SELECT {picked(columns)} FROM {unnested(i, t, columns)} WHERE {fresh})"
            )
        claim_group = len(shape_of.rows)
        claim_table, claim_row = shape_of.claim
        keys = tuple(c.name for c in claim_table.primary_key.columns)
        columns = tuple(claim_row)
        ctes.append(
            f"claim AS (INSERT INTO {claim_table.name} ({', '.join(columns)})"  # noqa: S608
            f" SELECT {picked(columns)} FROM {unnested(claim_group, claim_table, columns)}"
            f" WHERE {fresh} ON CONFLICT DO NOTHING RETURNING {', '.join(keys)})"
        )
        # Which claims went in: their keys came back.
        joined = " AND ".join(f"claim.{k} = v.{k}" for k in keys)
        ctes.append(
            f"claimed AS (SELECT v.claim_no FROM {unnested(claim_group, claim_table, keys)}"  # noqa: S608
            f" JOIN claim ON {joined})"
        )
        for i, (t, r) in enumerate(shape_of.after_claim):
            columns = tuple(r)
            ctes.append(
                f"a{i} AS (INSERT INTO {t.name} ({', '.join(columns)})"  # noqa: S608
                f" SELECT {picked(columns)} FROM {unnested(claim_group + 1 + i, t, columns)}"
                " WHERE v.claim_no IN (SELECT claim_no FROM claimed))"
            )
        self.sql = (
            f"WITH {', '.join(ctes)}"  # noqa: S608
            " SELECT true AS claimed, claim_no FROM claimed"
            " UNION ALL SELECT false AS claimed, claim_no FROM known"
        )

    def args(self, claims: Sequence[Claim]) -> list[list[Any]]:
        """One array per parameter: a column's values across the claims, bind-processed."""
        groups = [[*c.rows, c.claim, *c.after_claim, c.unless] for c in claims]
        return [
            [
                group[index][1][column] if process is None else process(group[index][1][column])
                for group in groups
            ]
            for index, column, process in self._columns
        ]


async def claim_many_on_driver(
    db: Database, conn: Any, claims: Sequence[Claim]
) -> list[tuple[bool, bool]]:
    """Write `claims` (all of one shape) in one statement on a driver connection
    (`Database.driver_connection`, PostgreSQL), committed on its own. For each claim, in
    order: (its claim went in, an `unless` row existed). When neither, the claim was taken
    by a claim written at the same time: its `rows` stay written, for the caller to remove."""
    statement = db.claims_statement(claims[0])
    records = await conn.fetch(statement.sql, *statement.args(claims))
    claimed = {r["claim_no"] for r in records if r["claimed"]}
    known = {r["claim_no"] for r in records if not r["claimed"]}
    return [(n in claimed, n in known) for n in range(1, len(claims) + 1)]


class ClaimBatcher:
    """Claims made at the same time in one process go to PostgreSQL in one statement
    (`claim_many_on_driver`), through a `Batcher`: a lone claim goes at once, the ones that
    arrive while a batch is written go in the next, and a batch that fails is written again
    claim by claim, so one claim's error is its own."""

    MAX_BATCH = 64

    def __init__(self, db: Database) -> None:
        self.db = db
        self._batcher: Batcher[Claim, tuple[bool, bool]] = Batcher(
            self._write, max_batch=self.MAX_BATCH
        )

    async def claim(self, item: Claim) -> tuple[bool, bool]:
        """(the claim went in, an `unless` row existed), as `claim_many_on_driver` says."""
        return await self._batcher.submit(item)

    async def _write(self, claims: list[Claim]) -> list[tuple[bool, bool]]:
        by_shape: dict[tuple[Any, ...], list[int]] = {}
        for position, item in enumerate(claims):
            by_shape.setdefault(item.shape(), []).append(position)
        results: list[tuple[bool, bool]] = [(False, False)] * len(claims)
        async with self.db.driver_connection() as conn:
            for positions in by_shape.values():
                written = await claim_many_on_driver(self.db, conn, [claims[p] for p in positions])
                for position, result in zip(positions, written, strict=True):
                    results[position] = result
        return results


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


def table_row(obj: Base) -> dict[str, Any]:
    """The column values of a mapped object that was built in Python (not loaded)."""
    table = obj.__table__
    return {
        c.key: getattr(obj, c.key)
        for c in table.columns
        if getattr(obj, c.key) is not None or c.nullable
    }
