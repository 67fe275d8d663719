"""Which tables hold a user id, and whether an exporter answers for each: the check that a
new domain cannot leave a player's data out of exports and erasures (run by the privacy
tests over the platform's models and wiring)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from playerplatform.contributions import Exporter

USERS_TABLE = "users"


def holds_user_id(table: sa.Table) -> bool:
    """The users table itself, a foreign key to it, or a column named like a user id."""
    if table.name == USERS_TABLE:
        return True
    for column in table.columns:
        if any(fk.column.table.name == USERS_TABLE for fk in column.foreign_keys):
            return True
        if column.name == "user_id" or column.name.endswith("_user_id"):
            return True
    return False


def tables_without_exporter(metadata: sa.MetaData, exporters: Iterable[Exporter]) -> list[str]:
    """Tables holding a user id that no exporter names, sorted."""
    covered = {table for exporter in exporters for table in exporter.tables}
    return sorted(
        t.name for t in metadata.tables.values() if holds_user_id(t) and t.name not in covered
    )


def exporters_naming_no_table(metadata: sa.MetaData, exporters: Iterable[Exporter]) -> list[str]:
    """`exporter.table` for every table an exporter names that does not exist."""
    return sorted(f"{e.name}.{t}" for e in exporters for t in e.tables if t not in metadata.tables)
