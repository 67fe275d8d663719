"""Test fixtures. One run covers one runtime shape, chosen by PP_TEST_SHAPE:

- `embedded` (default): SQLite file + in-process hot store.
- `production`: a fresh PostgreSQL database (created, migrated and dropped by this run) and
  Redis under a key prefix of this run's own, so parallel runs never see each other.
  With PP_TEST_REDIS_CLUSTER_URL set (e.g. redis://127.0.0.1:7000/0, the cluster
  scripts/services.sh starts), the production shape's apps use that Redis Cluster instead
  (`redis_cluster=True`), and the hot-store contract holds it to the same rules.

`make test` runs the suite once per shape. Steam and Epic are reached through the project's
emulators, served over HTTP on loopback ports for the whole run.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.cluster import RedisCluster

from playerplatform.app import create_app
from playerplatform.contributions import Wiring
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.support.ops import METRICS_TOKEN
from tests.support.servers import ServerThread

SHAPE = os.environ.get("PP_TEST_SHAPE", "embedded")
PG_SERVER = os.environ.get("PP_TEST_PG_SERVER", "postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("PP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_CLUSTER_URL = os.environ.get("PP_TEST_REDIS_CLUSTER_URL") or None
RUN_ID = secrets.token_hex(4)
# The suites of make test's third run (tests/scale): only that run, on the cluster, collects them.
collect_ignore = [] if REDIS_CLUSTER_URL else ["scale"]
# Servers the suite starts as subprocesses (`serve`, `make run`) get no metrics listener of
# their own unless a test asks for one: two runs of the suite share the machine and its ports.
os.environ.setdefault("PP_METRICS_PORT", "0")

STEAM_APP_ID = 480
STEAM_PUBLISHER_KEY = "test-publisher-key-0123456789"
EPIC_CLIENT_ID = "xyza7891test"
EPIC_CLIENT_SECRET = "epic-test-secret"
EPIC_DEPLOYMENT_ID = "deployment-test-0001"
EPIC_SANDBOX_ID = "sandbox-test-0001"
TWITCH_CLIENT_ID = "twitch-test-client"
TWITCH_CLIENT_SECRET = "twitch-test-secret"
TWITCH_ORGANIZATION_ID = "org-1"
TWITCH_EVENTSUB_SECRET = "eventsub-test-secret-0123"
STUDIO_WEBHOOK_SECRET = "studio-test-secret-0123"
UNLIMITED = "1000000/minute"


def pytest_report_header() -> str:
    on = f", Redis Cluster {REDIS_CLUSTER_URL}" if REDIS_CLUSTER_URL else ""
    return f"player platform shape: {SHAPE}{on} (run {RUN_ID})"


async def create_postgres_database(name: str) -> str:
    conn = await asyncpg.connect(f"postgresql://{PG_SERVER}/test")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG_SERVER}/{name}"


async def drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(f"postgresql://{PG_SERVER}/test")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database(tmp_path: Path, shape: str = SHAPE) -> AsyncIterator[str]:
    """A new, empty database for the given shape (not migrated)."""
    if shape == "production":
        name = f"pp_test_{RUN_ID}_{secrets.token_hex(3)}"
        url = await create_postgres_database(name)
        try:
            yield url
        finally:
            await drop_postgres_database(name)
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / f'pp-{secrets.token_hex(3)}.db'}"


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, str]]:
    from playerplatform.platforms.emulators.epic import create_epic_emulator
    from playerplatform.platforms.emulators.steam import create_steam_emulator
    from playerplatform.platforms.emulators.twitch import create_twitch_emulator

    steam = ServerThread(
        create_steam_emulator(app_id=STEAM_APP_ID, publisher_key=STEAM_PUBLISHER_KEY)
    ).start()
    epic = ServerThread(
        create_epic_emulator(
            client_id=EPIC_CLIENT_ID,
            client_secret=EPIC_CLIENT_SECRET,
            deployment_id=EPIC_DEPLOYMENT_ID,
            sandbox_id=EPIC_SANDBOX_ID,
        )
    ).start()
    twitch = ServerThread(
        create_twitch_emulator(client_id=TWITCH_CLIENT_ID, client_secret=TWITCH_CLIENT_SECRET)
    ).start()
    yield {"steam": steam.url, "epic": epic.url, "twitch": twitch.url}
    for server in (steam, epic, twitch):
        server.stop()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("db")) as url:
        await migrate.upgrade_async(url)
        yield url


@pytest.fixture(scope="session")
def make_settings(
    database_url: str, emulators: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Settings]:
    objects = tmp_path_factory.mktemp("objects")

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": (REDIS_CLUSTER_URL or REDIS_URL) if SHAPE == "production" else None,
            "redis_cluster": SHAPE == "production" and REDIS_CLUSTER_URL is not None,
            "redis_prefix": f"pptest:{RUN_ID}:",
            "gc_tuning": False,
            "storage_url": f"file://{objects}",
            "steam_app_id": STEAM_APP_ID,
            "steam_publisher_key": STEAM_PUBLISHER_KEY,
            "steam_api_url": emulators["steam"],
            "epic_client_id": EPIC_CLIENT_ID,
            "epic_client_secret": EPIC_CLIENT_SECRET,
            "epic_deployment_id": EPIC_DEPLOYMENT_ID,
            "epic_sandbox_id": EPIC_SANDBOX_ID,
            "epic_api_url": emulators["epic"],
            "epic_jwks_url": f"{emulators['epic']}/auth/v1/oauth/jwks",
            "twitch_client_id": TWITCH_CLIENT_ID,
            "twitch_client_secret": TWITCH_CLIENT_SECRET,
            "twitch_id_url": emulators["twitch"],
            "twitch_api_url": emulators["twitch"],
            "twitch_organization_id": TWITCH_ORGANIZATION_ID,
            "twitch_eventsub_secret": TWITCH_EVENTSUB_SECRET,
            "studio_webhook_secret": STUDIO_WEBHOOK_SECRET,
            "clamd_address": os.environ.get("PP_TEST_CLAMD_ADDRESS", "tcp://127.0.0.1:3310"),
            "rate_limit_failed_login": UNLIMITED,
            "rate_limit_auth": UNLIMITED,
            "rate_limit_write": UNLIMITED,
            "rate_limit_read": UNLIMITED,
            "rate_limit_webhook": UNLIMITED,
            "ugc_report_rate_account": UNLIMITED,
            "ugc_report_rate_ip": UNLIMITED,
            "max_requests_per_ip": 0,  # races fire many requests at once from one address
            "log_json": True,
            "access_log": False,
            "metrics_token": METRICS_TOKEN,
        }
        if overrides.get("database_url", database_url) != database_url:
            # Another database gets its own hot-store keys: the flusher's and the scheduler's
            # locks, caches and counters belong to one database, and a runtime on another
            # one sharing them would take this one's turn (its seasons never closing).
            tag = hashlib.sha256(overrides["database_url"].encode()).hexdigest()[:8]
            values["redis_prefix"] = f"pptest:{RUN_ID}:{tag}:"
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture(scope="session")
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@asynccontextmanager
async def running_app(
    settings: Settings, wiring: Wiring | None = None
) -> AsyncIterator[tuple[FastAPI, Runtime]]:
    """An app with its own runtime, started as uvicorn would start it (lifespan); `wiring`
    (e.g. `platform_wiring([Domain(...)])`) adds contributions of the test's own."""
    app = create_app(settings, wiring=wiring)
    async with app.router.lifespan_context(app):
        yield app, app.state.runtime


@pytest.fixture(scope="session")
async def app_and_runtime(settings: Settings) -> AsyncIterator[tuple[FastAPI, Runtime]]:
    async with running_app(settings) as pair:
        yield pair
    # Also in the embedded shape: the tests that run apps on Redis there use the prefix too.
    await _drop_redis_prefix(settings.redis_prefix)


async def _drop_redis_prefix(prefix: str) -> None:
    await _drop_prefix_on(aioredis.from_url(REDIS_URL), prefix)
    if REDIS_CLUSTER_URL:
        await _drop_prefix_on(RedisCluster.from_url(REDIS_CLUSTER_URL), prefix)


async def _drop_prefix_on(client: Any, prefix: str) -> None:
    try:
        # Every node's keys (a cluster client scans them all), then deleted by slot.
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def app(app_and_runtime: tuple[FastAPI, Runtime]) -> FastAPI:
    return app_and_runtime[0]


@pytest.fixture(scope="session")
def runtime(app_and_runtime: tuple[FastAPI, Runtime]) -> Runtime:
    return app_and_runtime[1]


def asgi_client(app: FastAPI, client_ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture
def make_client(
    make_settings: Callable[..., Settings],
) -> Iterator[Callable[..., Any]]:
    """`async with make_client(rate_limit_auth="3/minute") as client:` — an app of its own
    (its own settings and runtime) over the same database."""

    @asynccontextmanager
    async def factory(
        client_ip: str = "127.0.0.1", **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(**overrides)
        async with running_app(settings) as (app, _runtime), asgi_client(app, client_ip) as c:
            yield c

    yield factory
