"""The one-statement grant of SKU lines (PostgreSQL): the SQL behind
`grants.grant_lines_at_once` and `grants.grant_lines_from`, kept apart from `repository`
because it is one long statement read on its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork

# What `grants.grant_lines` does statement by statement, as one: the lines expanded to their
# parts in SQL exactly as `wallet.parts_of` does (a durable or consumable SKU is one part; a
# bundle is its contents, one level deep, contents that are missing or bundles skipped), each
# part keyed `<key>:<line>:<sku>:<part>` as `grant_parts` keys it; durables inserted as
# entitlements unless their key exists (ON CONFLICT DO NOTHING); consumables whose key was not
# used added to the balance row in one upsert per SKU (which takes the row lock; a concurrent
# grant waits, then adds to the newer balance) and appended to the ledger with the running
# balance. The key check reads the statement's snapshot: a concurrent grant with the *same*
# key that commits while this one waits on the row lock makes the ledger insert fail on the
# unique key, so the transaction rolls back and nothing is granted twice (callers serialise
# same-key grants first: a claim holds the message's row).
# The result rows: `g` an entitlement granted now, `e` one the key granted earlier, `m` the
# new balance of a consumable granted now, `b` the balance of one the key granted earlier.
# A line whose SKU does not exist fails the whole statement (a text cast to a number:
# `MissingSku`), so nothing of it sticks even where the statement commits on its own.
_GRANT_LINES_SQL = """
    WITH {source}arg AS (
        SELECT CAST(:user_id AS uuid) AS user_id, CAST(:key AS text) AS key,
               CAST(:source AS varchar) AS source, CAST(:reason AS varchar) AS reason,
               CAST(:now AS timestamptz) AS now
    ),
    line AS (
        SELECT l.ord - 1 AS n, l.value ->> 'sku_id' AS sku_id,
               COALESCE((l.value ->> 'quantity')::bigint, 1) AS quantity
        FROM {lines}
    ),
    part AS (
        SELECT line.n, 0::bigint AS m, s.sku_id, s.type AS kind,
               CASE WHEN s.type = 'durable' THEN 1 ELSE s.quantity * line.quantity END AS units
        FROM line JOIN skus s ON s.sku_id = line.sku_id
        WHERE s.type IN ('durable', 'consumable')
        UNION ALL
        SELECT line.n, c.ord AS m, i.sku_id, i.type AS kind,
               CASE WHEN i.type = 'durable' THEN 1
                    ELSE i.quantity * line.quantity * COALESCE((c.value ->> 'quantity')::bigint, 1)
               END AS units
        FROM line JOIN skus b ON b.sku_id = line.sku_id AND b.type = 'bundle'
        CROSS JOIN LATERAL jsonb_array_elements(b.contents) WITH ORDINALITY AS c(value, ord)
        JOIN skus i ON i.sku_id = c.value ->> 'sku_id' AND i.type IN ('durable', 'consumable')
    ),
    keyed AS (
        SELECT kind, sku_id, units,
               left((SELECT key FROM arg) || ':' || n, 200) || ':' || sku_id || ':'
                   || (row_number() OVER (PARTITION BY n ORDER BY m) - 1) AS grant_key,
               row_number() OVER (ORDER BY n, m) AS seq
        FROM part
    ),
    granted AS (
        INSERT INTO entitlements (id, entitlement_id, user_id, sku_id, status, source,
                                  grant_key, created_at)
        SELECT gen_random_uuid(), 'e' || left(replace(gen_random_uuid()::text, '-', ''), 24),
               arg.user_id, sku_id, 'active', arg.source, grant_key, arg.now
        FROM keyed, arg WHERE kind = 'durable'
        ON CONFLICT (grant_key) DO NOTHING
        RETURNING entitlement_id, sku_id, status, revocation_reason, source, created_at,
                  revoked_at
    ),
    fresh AS (
        SELECT k.* FROM keyed k
        WHERE k.kind = 'consumable'
          AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.grant_key = k.grant_key)
    ),
    total AS (SELECT sku_id, sum(units)::bigint AS units FROM fresh GROUP BY sku_id),
    moved AS (
        INSERT INTO balances AS b (user_id, sku_id, balance, updated_at)
        SELECT arg.user_id, sku_id, units, arg.now FROM total, arg
        ON CONFLICT (user_id, sku_id)
        DO UPDATE SET balance = b.balance + EXCLUDED.balance, updated_at = EXCLUDED.updated_at
        RETURNING b.sku_id, b.balance
    ),
    entry AS (
        INSERT INTO ledger_entries (entry_id, user_id, sku_id, change, balance_after,
                                    change_type, reason, grant_key, created_at)
        SELECT 'l' || left(replace(gen_random_uuid()::text, '-', ''), 24), arg.user_id,
               f.sku_id, f.units,
               m.balance - t.units
                   + sum(f.units) OVER (PARTITION BY f.sku_id ORDER BY f.seq),
               'grant', arg.reason, f.grant_key, arg.now
        FROM fresh f JOIN moved m ON m.sku_id = f.sku_id JOIN total t ON t.sku_id = f.sku_id,
             arg
        ORDER BY f.seq
    )
    SELECT 'g' AS what, entitlement_id, sku_id, status, revocation_reason, source,
           created_at, revoked_at, NULL::bigint AS balance, NULL::text AS payload
    FROM granted
    UNION ALL
    SELECT 'e', e.entitlement_id, e.sku_id, e.status, e.revocation_reason, e.source,
           e.created_at, e.revoked_at, NULL, NULL
    FROM entitlements e JOIN keyed k ON k.grant_key = e.grant_key AND k.kind = 'durable'
    WHERE e.user_id = (SELECT user_id FROM arg)
    UNION ALL
    SELECT 'm', NULL, sku_id, NULL, NULL, NULL, NULL, NULL, balance, NULL FROM moved
    UNION ALL
    SELECT 'b', NULL, b.sku_id, NULL, NULL, NULL, NULL, NULL, b.balance, NULL FROM balances b
    WHERE b.user_id = (SELECT user_id FROM arg)
      AND b.sku_id IN (SELECT sku_id FROM keyed WHERE kind = 'consumable')
      AND b.sku_id NOT IN (SELECT sku_id FROM moved)
    UNION ALL
    SELECT 'x', NULL, line.sku_id, NULL, NULL, NULL, NULL, NULL,
           CAST('{MISSING}' || line.sku_id AS bigint), NULL FROM line
    WHERE NOT EXISTS (SELECT 1 FROM skus s WHERE s.sku_id = line.sku_id){returned}
    """
MISSING_SKU = "missing SKU "


class MissingSku(Exception):
    """A line of a one-statement grant names a SKU that does not exist."""

    def __init__(self, sku_id: str) -> None:
        super().__init__(sku_id)
        self.sku_id = sku_id


def _missing_sku(failure: sa.exc.DBAPIError) -> MissingSku | None:
    """The `MissingSku` a failed grant statement stands for, if it does."""
    text = str(failure.orig)
    at = text.find(MISSING_SKU)
    if at < 0:
        return None
    return MissingSku(text[at + len(MISSING_SKU) :].split('"')[0])


_GRANT_PARAMS = (
    sa.bindparam("user_id", type_=sa.Uuid()),
    sa.bindparam("key", type_=sa.String()),
    sa.bindparam("source", type_=sa.String()),
    sa.bindparam("reason", type_=sa.String()),
    sa.bindparam("now", type_=sa.DateTime(timezone=True)),
)
_GRANT_LINES = sa.text(
    _GRANT_LINES_SQL.format(
        MISSING=MISSING_SKU,
        source="",
        lines="jsonb_array_elements(CAST(:lines AS jsonb)) WITH ORDINALITY AS l(value, ord)",
        returned="",
    )
).bindparams(sa.bindparam("lines", type_=sa.String()), *_GRANT_PARAMS)
_granting_from: dict[str, Any] = {}


def _grant_lines_from(source: str) -> Any:
    """The grant statement taking its lines from `source`: SQL text defining a relation
    `src` (say, an UPDATE ... RETURNING of the caller's own table) with a jsonb array
    column `attachments`, written first in the same WITH. Its row comes back as a `s` row
    whose `payload` is the row as JSON text. Built once per source."""
    statement = _granting_from.get(source)
    if statement is None:
        statement = sa.text(
            _GRANT_LINES_SQL.format(
                MISSING=MISSING_SKU,
                source=f"src AS ({source}),\n    ",
                lines="src CROSS JOIN LATERAL jsonb_array_elements(src.attachments)"
                " WITH ORDINALITY AS l(value, ord)",
                returned="\n    UNION ALL\n    SELECT 's', NULL, NULL, NULL, NULL, NULL, NULL,"
                " NULL, NULL, to_jsonb(src)::text FROM src",
            )
        ).bindparams(*_GRANT_PARAMS)
        _granting_from[source] = statement
    return statement


async def grant_lines_in_one_statement(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    lines: str | None,
    key: str,
    source: str,
    reason: str | None,
    now: dt.datetime,
    lines_from: tuple[str, dict[str, Any]] | None = None,
) -> list[Any]:
    """PostgreSQL: grant `lines` (JSON text of `[{sku_id, quantity}]`), or the lines of
    `lines_from` (its SQL and values, see `_grant_lines_from`), once per `key`; rows as
    described above `_GRANT_LINES_SQL`."""
    params: dict[str, Any] = {
        "user_id": user_id,
        "key": key,
        "source": source,
        "reason": reason,
        "now": now,
    }
    if lines_from is not None:
        statement = _grant_lines_from(lines_from[0])
        params.update(lines_from[1])
    else:
        statement, params["lines"] = _GRANT_LINES, lines
    try:
        return list((await uow.session.execute(statement, params)).all())
    except sa.exc.DBAPIError as failure:
        missing = _missing_sku(failure)
        if missing is None:
            raise
        raise missing from failure
