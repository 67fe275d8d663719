"""`playerplatform demo` adds its data through the API, beside whatever the install has."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from playerplatform.kit.db import Database
from playerplatform.kit.settings import Settings
from playerplatform.leaderboards.models import LeaderboardEntry
from tests.conftest import SHAPE, fresh_database


async def test_demo_adds_its_data_beside_existing_data(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with fresh_database(tmp_path) as url:
        settings = make_settings(database_url=url)
        env = {key: value for key, value in os.environ.items() if not key.startswith("PP_")}
        env.update(
            PP_DATABASE_URL=url,
            PP_STORAGE_URL=f"file://{tmp_path / 'objects'}",
            PP_CLAMD_ADDRESS=settings.clamd_address or "",
            PP_LOG_LEVEL="warning",
        )
        if SHAPE == "production":
            env.update(
                PP_REDIS_URL=settings.redis_url or "",
                PP_REDIS_PREFIX=f"{settings.redis_prefix}demo:",
            )

        def demo() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "playerplatform.cli", "demo"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )

        first = await asyncio.to_thread(demo)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Demo ready: 20 players, SKUs demo-" in first.stdout
        assert "-gems, demo-" in first.stdout and "-starter-pack, season demo-" in first.stdout
        assert "3 UGC items published, 0 waiting for a scan" in first.stdout
        # The scores reached the database before the demo's process ended (in the embedded
        # shape its hot store ends with it).
        database = Database(settings)
        try:
            async with database.unit_of_work(write=False) as uow:
                stored = await uow.session.scalar(
                    sa.select(sa.func.count()).select_from(LeaderboardEntry)
                )
        finally:
            await database.dispose()
        assert stored == 20
        # A used install (the first run's data is there) takes a second set beside it.
        again = await asyncio.to_thread(demo)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Demo ready: 20 players" in again.stdout
        skus = {line.split("SKUs ")[1].split(" season")[0] for line in (first.stdout, again.stdout)}
        assert len(skus) == 2, skus
