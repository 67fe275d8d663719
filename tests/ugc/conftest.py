"""UGC fixtures: a database of the UGC tests' own (no other test's job worker can take their
jobs) and one app per object store, local folder and S3 (moto), with jobs run on demand
(`tests.support.ugc.run_ugc_jobs`) so every step of the lifecycle is observable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, fresh_database, running_app
from tests.support.s3 import create_bucket, moto_endpoint, s3_settings
from tests.support.ugc import World

__all__ = ["moto_endpoint"]
STORES = ("local", "s3")


@pytest.fixture(scope="session")
async def ugc_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("ugc-db")) as url:
        await migrate.upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
def ugc_settings(
    make_settings: Callable[..., Settings],
    ugc_database: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Settings]:
    objects: Path = tmp_path_factory.mktemp("ugc-objects")

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": ugc_database,
            "storage_url": f"file://{objects}",
            "embedded_worker": False,
            "scheduler_enabled": False,
            "ugc_report_threshold": 2,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture(scope="session")
async def worlds(
    ugc_settings: Callable[..., Settings], moto_endpoint: str
) -> AsyncIterator[dict[str, World]]:
    bucket = await create_bucket(moto_endpoint)
    async with AsyncExitStack() as stack:
        found: dict[str, World] = {}
        for store in STORES:
            overrides = s3_settings(moto_endpoint, bucket) if store == "s3" else {}
            app, runtime = await stack.enter_async_context(running_app(ugc_settings(**overrides)))
            client = await stack.enter_async_context(asgi_client(app))
            found[store] = World(store=store, client=client, runtime=runtime)
        yield found


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, worlds: dict[str, World]) -> World:
    return worlds[request.param]


@pytest.fixture
def local(worlds: dict[str, World]) -> World:
    return worlds["local"]
