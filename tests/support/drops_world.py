"""Drops and webhook fixtures: a database of their own (no other test's worker takes their
jobs), jobs run on demand (`run_webhook_jobs`) so every step is observable. The drops and
webhooks conftests take these."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, fresh_database, running_app
from tests.support.drops import DropsWorld
from tests.support.staff import staff_login


@pytest.fixture(scope="session")
async def drops_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("drops-db")) as url:
        await migrate.upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
def drops_settings(
    make_settings: Callable[..., Settings], drops_database: str
) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": drops_database,
            "embedded_worker": False,
            "scheduler_enabled": False,
            "drops_fulfil_retry_seconds": 0.0,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture(scope="session")
async def world(
    drops_settings: Callable[..., Settings], emulators: dict[str, str]
) -> AsyncIterator[DropsWorld]:
    async with running_app(drops_settings()) as (app, runtime), asgi_client(app) as client:
        admin = await staff_login(client, runtime)
        yield DropsWorld(client=client, runtime=runtime, admin=admin, emulators=emulators)
