"""Every table holding a user id has an exporter: a new domain's table without one fails
here, before a player's export or erasure could miss it."""

from __future__ import annotations

import sqlalchemy as sa

import playerplatform.models
from playerplatform.contributions import Exporter
from playerplatform.privacy.coverage import exporters_naming_no_table, tables_without_exporter
from playerplatform.wiring import platform_wiring


def test_every_table_holding_a_user_id_has_an_exporter() -> None:
    wiring = platform_wiring()
    metadata = playerplatform.models.Base.metadata
    assert tables_without_exporter(metadata, wiring.exporters) == []
    assert exporters_naming_no_table(metadata, wiring.exporters) == []


def test_a_new_table_with_a_user_id_and_no_exporter_is_caught() -> None:
    metadata = sa.MetaData()
    for table in playerplatform.models.Base.metadata.tables.values():
        table.to_metadata(metadata)
    sa.Table(
        "loot_drops",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("winner", sa.Uuid, sa.ForeignKey("users.id")),
    )
    sa.Table(
        "chat_lines",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_user_id", sa.Uuid),
    )
    exporters = platform_wiring().exporters
    assert tables_without_exporter(metadata, exporters) == ["chat_lines", "loot_drops"]

    async def nothing(*_args: object) -> None:
        return None

    covered = (*exporters, Exporter("loot", ("loot_drops", "chat_lines"), nothing, nothing))
    assert tables_without_exporter(metadata, covered) == []
    stale = (*covered, Exporter("gone", ("no_such_table",), nothing, nothing))
    assert exporters_naming_no_table(metadata, stale) == ["gone.no_such_table"]
