"""PostgreSQL down, through a TCP proxy the test cuts: what needs the database answers 503
`unavailable` with `Retry-After` instead of 500, quickly; liveness and the signing keys keep
answering, readiness names the database; all recovers when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, fresh_database, running_app
from tests.support.proxy import TcpProxy


@pytest.fixture
async def proxied_postgres(tmp_path: Path) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A migrated PostgreSQL database of this test's own (whatever the shape), reached
    through a proxy."""
    async with fresh_database(tmp_path, "production") as url:
        await migrate.upgrade_async(url)
        target = make_url(url)
        proxy = await TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
        try:
            yield target.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
        finally:
            await proxy.close()


async def sign_in(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/api/v1/auth/device/login", json={"device_id": f"d-{time.time()}"})


async def test_database_down_answers_503_and_recovers(
    make_settings: Callable[..., Settings], proxied_postgres: tuple[str, TcpProxy]
) -> None:
    url, proxy = proxied_postgres
    settings = make_settings(database_url=url, database_timeout_seconds=1.0)
    async with running_app(settings) as (app, _runtime), asgi_client(app) as client:
        assert (await sign_in(client)).status_code == 200
        proxy.cut()

        started = time.monotonic()
        for _ in range(5):
            response = await sign_in(client)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "unavailable"
            assert int(response.headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 5
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/.well-known/jwks.json")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"

        proxy.restore()
        deadline = time.monotonic() + 10
        while (response := await sign_in(client)).status_code != 200:
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "no recovery"
            await asyncio.sleep(0.2)


async def test_a_database_gone_silent_under_open_connections_answers_503_and_recovers(
    make_settings: Callable[..., Settings], proxied_postgres: tuple[str, TcpProxy]
) -> None:
    """A black hole, not a refusal: connections already in the pool stay open and get no
    answer. Their statements give up after `database_statement_timeout_seconds`, the
    connection is dropped (its cancellation would wait on the silent server for ever) and the
    request answers 503; nothing hangs, readiness answers, and it all recovers by itself."""
    url, proxy = proxied_postgres
    settings = make_settings(
        database_url=url, database_timeout_seconds=1.0, database_statement_timeout_seconds=1.0
    )
    async with running_app(settings) as (app, _runtime), asgi_client(app) as client:
        # Several pooled connections open: a few sign-ins at once.
        signed = await asyncio.gather(*(sign_in(client) for _ in range(4)))
        assert all(response.status_code == 200 for response in signed)
        proxy.silence()

        for _ in range(3):
            started = time.monotonic()
            response = await asyncio.wait_for(sign_in(client), timeout=10)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "unavailable"
            assert int(response.headers["Retry-After"]) >= 1
            assert time.monotonic() - started < 4  # one statement's bound, and a connect's
        ready = await asyncio.wait_for(client.get("/readyz"), timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"
        assert (await client.get("/healthz")).status_code == 200

        proxy.restore()
        deadline = time.monotonic() + 10
        while (response := await asyncio.wait_for(sign_in(client), timeout=10)).status_code != 200:
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "no recovery"
            await asyncio.sleep(0.2)
