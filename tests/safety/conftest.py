"""Safety fixtures: a database of the safety tests' own (no other test's job worker can take
their jobs), one app over it with jobs run on demand (`tests.support.ugc.run_ugc_jobs`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, fresh_database, running_app
from tests.support.ugc import World


@pytest.fixture(scope="session")
async def safety_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("safety-db")) as url:
        await migrate.upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
def safety_settings(
    make_settings: Callable[..., Settings],
    safety_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Settings]:
    objects: Path = tmp_path_factory.mktemp("safety-objects")

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": safety_database,
            "storage_url": f"file://{objects}",
            "embedded_worker": False,
            "scheduler_enabled": False,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture(scope="session")
async def world(safety_settings: Callable[..., Settings]) -> AsyncIterator[World]:
    async with running_app(safety_settings()) as (app, runtime), asgi_client(app) as client:
        yield World(store="local", client=client, runtime=runtime)
