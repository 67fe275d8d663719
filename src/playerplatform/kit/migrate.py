"""Schema migrations (Alembic), callable from the CLI, the server start-up and tests."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from playerplatform.kit.db import _ensure_sqlite_dir

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_REVISION = re.compile(r'^(down_revision|revision)\b[^=]*=\s*["\']?([^"\'\s]+)', re.M)


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking; run it off the event loop (`asyncio.to_thread`) from async code. A database
    already at the head is left alone without loading Alembic (most of a restart's cost)."""
    if database_url.startswith("sqlite"):
        _ensure_sqlite_dir(database_url)
    if revision == "head" and _at_head(database_url):
        return
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def head_revisions() -> set[str]:
    """The migrations' heads, read from the version files' `revision` / `down_revision`
    lines (the same files Alembic reads, without importing them)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for kind, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if kind == "revision" else parents).add(value)
    return revisions - parents


def _at_head(database_url: str) -> bool:
    heads = head_revisions()
    if len(heads) != 1:
        return False  # let Alembic say what is wrong

    async def current() -> str | None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                ).all()
        except Exception:  # no database or no version table yet: Alembic creates them
            return None
        finally:
            await engine.dispose()
        return str(rows[0][0]) if len(rows) == 1 else None

    return asyncio.run(current()) in heads


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


async def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
            )
    finally:
        await engine.dispose()


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)
