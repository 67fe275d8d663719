"""Migrations build the schema from nothing, downgrade to nothing and upgrade again, on the
shape under test; the models and the migrations describe the same schema."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import playerplatform.models
from playerplatform.kit import migrate
from tests.conftest import fresh_database


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _diff(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c), playerplatform.models.Base.metadata
                )
            )
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        tables = await _tables(url)
        assert {"users", "identities", "account_links", "sessions", "audit_logs"} <= tables
        assert await migrate.current_revision(url) is not None
        assert await _diff(url) == []

        await migrate.upgrade_async(url)  # a second upgrade is a no-op
        import asyncio

        await asyncio.to_thread(migrate.downgrade, url, "base")
        assert await _tables(url) <= {"alembic_version"}
        await migrate.upgrade_async(url)
        assert {"users", "identities"} <= await _tables(url)
