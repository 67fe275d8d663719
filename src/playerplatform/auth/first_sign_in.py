"""First sign-ins on PostgreSQL, written together: the rows of a new account (the account,
its identity, the session, ...) go in one statement, made only if no account has the
identity yet, and the first sign-ins under way at the same time in one process share that
statement (`ClaimBatcher`). See `service.first_sign_in`, the game start's hot path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from playerplatform.kit.batching import Batcher
from playerplatform.kit.db import Database, Row


@dataclass(frozen=True, slots=True)
class Claim:
    """Rows to write together, for `ClaimBatcher`: `rows`, then `claim` unless its unique key
    is taken, then `after_claim` only when the claim went in (as `kit.db.insert_together`), and
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


class ClaimsStatement:
    """One statement for any number of claims of one shape (built once per shape): each
    table's rows arrive as one array per column and are unnested with their claim's number,
    so each claim's rows follow its own guard and its own claim. Returns the numbers (from 1)
    of the claims that went in and of those whose `unless` row exists. The text does not
    depend on how many claims there are, so it is prepared once per connection."""

    def __init__(self, shape_of: Claim, dialect: Dialect) -> None:
        self._columns: list[tuple[int, str, Any]] = []  # (group, column, bind processing)
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
    statement: ClaimsStatement, conn: Any, claims: Sequence[Claim]
) -> list[tuple[bool, bool]]:
    """Write `claims` (all of `statement`'s shape) in one statement on a driver connection
    (`Database.driver_connection`, PostgreSQL), committed on its own. For each claim, in
    order: (its claim went in, an `unless` row existed). When neither, the claim was taken
    by a claim written at the same time: its `rows` stay written, for the caller to remove."""
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
        self._statements: dict[tuple[Any, ...], ClaimsStatement] = {}

    def statement(self, shape_of: Claim) -> ClaimsStatement:
        """The statement writing claims of `shape_of`'s shape, built once per shape."""
        shape = shape_of.shape()
        statement = self._statements.get(shape)
        if statement is None:
            statement = ClaimsStatement(shape_of, self.db.write_engine.dialect)
            self._statements[shape] = statement
        return statement

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
                group = [claims[p] for p in positions]
                written = await claim_many_on_driver(self.statement(group[0]), conn, group)
                for position, result in zip(positions, written, strict=True):
                    results[position] = result
        return results
