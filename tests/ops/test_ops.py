"""Ops routes: liveness, readiness, metrics, the JWKS, CORS at the edge."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from playerplatform.contributions import Domain, ReadyCheck
from playerplatform.kit.settings import Settings
from playerplatform.ops import router as ops
from playerplatform.runtime import Runtime
from playerplatform.wiring import platform_wiring
from tests.conftest import asgi_client, running_app
from tests.support.ops import METRICS_AUTH

GAME_ORIGIN = "https://game.example"


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["content-type"] == "application/json"


async def test_readyz_reports_each_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["hot_store"] == "ok"
    assert set(body["checks"].values()) == {"ok"}


@asynccontextmanager
async def app_checking(settings: Settings, *checks: ReadyCheck) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose wiring adds `checks` to the platform's readiness checks."""
    wiring = platform_wiring([Domain("test_dependencies", ready_checks=checks)])
    async with running_app(settings, wiring) as (app, _runtime), asgi_client(app) as client:
        yield client


async def test_readyz_includes_checks_the_wiring_declares(settings: Settings) -> None:
    seen: list[Runtime] = []

    async def broker_answers(runtime: Runtime) -> None:
        seen.append(runtime)

    async with app_checking(settings, ReadyCheck("test_dependency", broker_answers)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert list(checks) == ["database", "hot_store", "objects", "broker", "test_dependency"]
    assert checks["test_dependency"] == "ok"
    assert len(seen) == 1 and isinstance(seen[0], Runtime)


async def test_readyz_is_503_not_ready_when_a_check_fails(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    async def broker_down(runtime: Runtime) -> None:
        raise ConnectionRefusedError("amqp://guest:guest@broker:5672 refused")

    async with app_checking(settings, ReadyCheck("test_broken_dependency", broker_down)) as bad:
        response = await bad.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["test_broken_dependency"] == "error: ConnectionRefusedError"
    assert "guest" not in response.text  # exception messages can hold credentials

    assert (await client.get("/readyz")).status_code == 200  # the platform's own app is ready


async def test_readyz_times_out_a_hanging_check(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def object_store_hangs(runtime: Runtime) -> None:
        await asyncio.sleep(30)

    monkeypatch.setattr(ops, "READY_CHECK_TIMEOUT", 0.05)
    hanging = ReadyCheck("test_hanging_dependency", object_store_hangs)
    async with app_checking(settings, hanging) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["test_hanging_dependency"] == "timeout"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/api/v1/users/no-such-player-anywhere")
    await client.get("/not/a/route")
    response = await client.get("/metrics", headers=METRICS_AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/api/v1/users/{canonical_id}"' in text
    assert 'http_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in text
    assert "no-such-player-anywhere" not in text
    assert "/not/a/route" not in text


async def test_unknown_methods_do_not_create_new_series(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/healthz")
    text = (await client.get("/metrics", headers=METRICS_AUTH)).text
    assert 'method="BREW"' not in text
    assert 'method="OTHER"' in text


def test_metrics_from_several_workers_are_aggregated(tmp_path: Path) -> None:
    """Two processes write their series into the shared directory; /metrics' renderer,
    in a third, sums them."""
    directory = tmp_path / "prom"
    prepare = "from playerplatform.kit.metrics import prepare_multiprocess_dir as p; p({!r})"
    worker = textwrap.dedent(
        """
        from playerplatform.kit.metrics import HTTP_REQUESTS
        HTTP_REQUESTS.labels("GET", "/healthz", "200").inc(3)
        """
    )
    scrape = (
        "from playerplatform.kit.metrics import render_metrics; print(render_metrics()[0].decode())"
    )
    env = {**os.environ}
    subprocess.run([sys.executable, "-c", prepare.format(str(directory))], check=True, env=env)
    (directory / "stale.db").write_bytes(b"")
    subprocess.run([sys.executable, "-c", prepare.format(str(directory))], check=True, env=env)
    assert list(directory.iterdir()) == []  # a restart starts from an empty directory

    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], check=True, env=env)
    out = subprocess.run(
        [sys.executable, "-c", scrape], check=True, env=env, capture_output=True, text=True
    ).stdout
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 6.0' in out


async def test_jwks_publishes_public_keys_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"]
        assert "d" not in key
        assert not {"p", "q", "dp", "dq", "qi"} & set(key)


async def test_ops_routes_need_no_token_and_are_not_rate_limited(
    make_client: Callable[..., Any],
) -> None:
    async with make_client(rate_limit_read="1/minute", rate_limit_auth="1/minute") as limited:
        for path in ("/healthz", "/readyz", "/metrics", "/.well-known/jwks.json") * 3:
            # The metrics token is the scraper's, not a player's: no rate limit either.
            headers = METRICS_AUTH if path == "/metrics" else {}
            response = await limited.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)


async def test_openapi_describes_the_ops_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/healthz", "/readyz", "/metrics", "/.well-known/jwks.json"):
        assert "get" in paths[path], path
    assert (await client.get("/docs")).status_code == 200


async def test_cors_preflight_is_answered_for_configured_origins(
    make_client: Callable[..., Any],
) -> None:
    preflight = {
        "Origin": GAME_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    async with make_client(cors_origins=[GAME_ORIGIN]) as cors:
        response = await cors.options("/api/v1/auth/device/login", headers=preflight)
        simple = await cors.get("/healthz", headers={"Origin": GAME_ORIGIN})
        stranger = await cors.options(
            "/api/v1/auth/device/login", headers={**preflight, "Origin": "https://evil.example"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == GAME_ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "idempotency-key", "if-match"):
        assert header in allowed
    assert response.headers["x-request-id"]
    exposed = simple.headers["access-control-expose-headers"].lower()
    for header in ("ratelimit-remaining", "retry-after", "x-request-id"):
        assert header in exposed
    assert "access-control-allow-origin" not in stranger.headers


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/auth/device/login",
        headers={"Origin": GAME_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    simple = await client.get("/healthz", headers={"Origin": GAME_ORIGIN})
    assert "access-control-allow-origin" not in simple.headers


async def test_metrics_are_private_by_default(make_settings: Callable[..., Settings]) -> None:
    async with running_app(make_settings(metrics_token=None)) as (app, _rt), asgi_client(app) as c:
        response = await c.get("/metrics")
        assert response.status_code == 404
        assert "http_requests_total" not in response.text


async def test_metrics_on_the_api_port_need_the_token(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic x"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert "http_requests_total" not in response.text
    assert (await client.get("/metrics", headers=METRICS_AUTH)).status_code == 200


def test_serve_exposes_metrics_on_their_own_port(tmp_path: Path) -> None:
    """`serve` answers `/metrics` on the metrics listener, not on the API port."""
    from tests.support.servers import free_port

    api_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "PP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}",
        "PP_REDIS_URL": "",
        "PP_STORAGE_URL": f"file://{tmp_path / 'objects'}",
        "PP_METRICS_PORT": str(metrics_port),
    }
    env.pop("PP_METRICS_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "playerplatform.cli", "serve", "--port", str(api_port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=2.0) as http:
            for _ in range(300):
                try:
                    if http.get(f"http://127.0.0.1:{api_port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise AssertionError("serve did not start")
            scraped = http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert scraped.status_code == 200
            assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in scraped.text
            assert http.get(f"http://127.0.0.1:{api_port}/metrics").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=30)
