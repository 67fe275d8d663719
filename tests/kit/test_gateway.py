"""The gateway middleware: request ids, client addresses, body limits, the access log."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import orjson
from fastapi import FastAPI, Request
from structlog.testing import capture_logs

from playerplatform.kit.errors import install_error_handlers
from playerplatform.kit.gateway import install_gateway
from playerplatform.kit.logging import configure_logging
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client
from tests.support.players import auth, device_login

GENERATED_ID = re.compile(r"[0-9a-f]{16}")


def gateway_app(settings: Settings, **gateway_options: Any) -> FastAPI:
    """A bare app behind the gateway, with routes that show what the gateway established."""
    app = FastAPI()
    install_error_handlers(app)
    install_gateway(app, settings, **gateway_options)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        return {
            "client_ip": request.scope["state"]["client_ip"],
            "request_id": request.scope["state"]["request_id"],
        }

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("boom")

    @app.post("/uploads/{name}")
    async def upload(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    return app


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b"x" * part


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "payload_too_large"


# Request ids.


async def test_request_id_is_generated_echoed_and_stored(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert GENERATED_ID.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async with asgi_client(gateway_app(Settings())) as bare:
        response = await bare.get("/whoami")
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_well_formed_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.9_Z"})
    assert response.headers["x-request-id"] == "lb-7f3a.9_Z"


async def test_malformed_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    for bad in ("has space", "x" * 65, "semi;colon", "<script>"):
        response = await client.get("/healthz", headers={"X-Request-ID": bad})
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"]), bad


async def test_error_responses_carry_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/me", headers={"X-Request-ID": "trace-401"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "trace-401"
    missing = await client.get("/no/such/route", headers={"X-Request-ID": "trace-404"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "trace-404"


async def test_unhandled_errors_answer_500_with_the_request_id_and_are_logged(
    settings: Settings,
) -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    configure_logging(settings, stream=stream)
    try:
        app = gateway_app(Settings(access_log=True))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as bare:
            response = await bare.get("/explode", headers={"X-Request-ID": "trace-500"})
    finally:
        configure_logging(settings)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "boom" not in response.text
    assert response.headers["x-request-id"] == "trace-500"
    logged = [orjson.loads(line) for line in stream.buffer.getvalue().splitlines()]  # type: ignore[attr-defined]
    (error,) = [entry for entry in logged if entry["event"] == "unhandled_error"]
    assert error["request_id"] == "trace-500"
    assert "RuntimeError: boom" in error["exception"]
    (line,) = [entry for entry in logged if entry["event"] == "request"]
    assert (line["status"], line["route"], line["request_id"]) == (500, "/explode", "trace-500")


# Client addresses.


async def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    app = gateway_app(Settings(trusted_proxies=["10.0.0.0/8"]))
    async with asgi_client(app, client_ip="198.51.100.20") as bare:
        response = await bare.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.json()["client_ip"] == "198.51.100.20"


async def test_forwarded_for_is_ignored_when_no_proxy_is_trusted() -> None:
    async with asgi_client(gateway_app(Settings()), client_ip="10.0.0.5") as bare:
        response = await bare.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.json()["client_ip"] == "10.0.0.5"


async def test_forwarded_for_walks_a_trusted_proxy_chain_right_to_left() -> None:
    app = gateway_app(Settings(trusted_proxies=["10.0.0.0/8", "192.168.0.0/16"]))
    async with asgi_client(app, client_ip="10.0.0.5") as bare:
        direct = await bare.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
        chained = await bare.get(
            "/whoami", headers={"X-Forwarded-For": "203.0.113.9, 192.168.1.4, 10.1.2.3"}
        )
        # A client-written entry left of the real one must not win.
        spoofed = await bare.get(
            "/whoami", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.9, 10.1.2.3"}
        )
        with_port = await bare.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9:5123"})
        garbage = await bare.get("/whoami", headers={"X-Forwarded-For": "not-an-ip, 10.1.2.3"})
        all_trusted = await bare.get("/whoami", headers={"X-Forwarded-For": "10.9.9.9"})
    assert direct.json()["client_ip"] == "203.0.113.9"
    assert chained.json()["client_ip"] == "203.0.113.9"
    assert spoofed.json()["client_ip"] == "203.0.113.9"
    assert with_port.json()["client_ip"] == "203.0.113.9"
    assert garbage.json()["client_ip"] == "10.1.2.3"
    assert all_trusted.json()["client_ip"] == "10.9.9.9"


async def test_trusted_proxy_client_address_reaches_the_access_log(
    make_client: Callable[..., Any],
) -> None:
    async with make_client(
        client_ip="10.0.0.5", trusted_proxies=["10.0.0.0/8"], access_log=True
    ) as proxied:
        with capture_logs() as logs:
            await proxied.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.7"})
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["client_ip"] == "203.0.113.9"


# Body limits.


async def test_oversize_content_length_is_refused_before_reading(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    too_big = b'{"device_id": "' + b"x" * settings.max_body_bytes + b'"}'
    response = await client.post(
        "/api/v1/auth/device/login",
        content=too_big,
        headers={"content-type": "application/json"},
    )
    assert_too_large(response)
    assert response.headers["x-request-id"]


async def test_oversize_chunked_body_is_refused_while_streaming(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/api/v1/auth/device/login",
        content=chunks(settings.max_body_bytes + 1),
        headers={"content-type": "application/json"},
    )
    assert_too_large(response)


async def test_bodies_within_the_limit_pass_chunked_or_not() -> None:
    app = gateway_app(Settings(max_body_bytes=1000))
    async with asgi_client(app) as bare:
        exact = await bare.post("/echo", content=b"x" * 1000)
        streamed = await bare.post("/echo", content=chunks(1000, size=300))
        over = await bare.post("/echo", content=b"x" * 1001)
        streamed_over = await bare.post("/echo", content=chunks(1001, size=300))
    assert exact.json() == {"received": 1000}
    assert streamed.json() == {"received": 1000}
    assert_too_large(over)
    assert_too_large(streamed_over)


async def test_exempt_prefixes_skip_the_body_limit() -> None:
    app = gateway_app(Settings(max_body_bytes=100), body_limit_exempt=["/uploads/"])
    async with asgi_client(app) as bare:
        declared = await bare.post("/uploads/a", content=b"x" * 5000)
        streamed = await bare.post("/uploads/b", content=chunks(5000, size=1000))
        elsewhere = await bare.post("/echo", content=b"x" * 5000)
    assert declared.json() == {"received": 5000}
    assert streamed.json() == {"received": 5000}
    assert_too_large(elsewhere)


# Access log.


async def test_access_log_line_names_the_request_and_never_its_secrets(
    make_client: Callable[..., Any],
) -> None:
    async with make_client(access_log=True) as logged:
        tokens = await device_login(logged)
        access_token = tokens["access_token"]
        subject = jwt.decode(access_token, options={"verify_signature": False})["sub"]
        with capture_logs() as logs:
            response = await logged.get(
                "/api/v1/users/me?token=query-secret-123",
                headers={**auth(tokens), "User-Agent": "game-client/1.2", "X-Request-ID": "r-1"},
            )
    assert response.status_code == 200, response.text
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/users/me"
    assert line["route"] == "/api/v1/users/me"
    assert line["status"] == 200
    assert line["request_id"] == "r-1"
    assert line["user_agent"] == "game-client/1.2"
    assert line["client_ip"] == "127.0.0.1"
    assert line["subject"] == subject
    assert line["subject_kind"] == "user"
    assert isinstance(line["duration_ms"], float)
    text = repr(line)
    assert access_token not in text
    assert "query-secret-123" not in text
    assert "?" not in line["path"]
    assert "authorization" not in {key.lower() for key in line}


async def test_unmatched_requests_log_without_a_route(make_client: Callable[..., Any]) -> None:
    async with make_client(access_log=True) as logged:
        with capture_logs() as logs:
            await logged.get("/definitely/not/here")
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["status"] == 404
    assert "route" not in line


async def test_access_log_can_be_turned_off(make_client: Callable[..., Any]) -> None:
    async with make_client(access_log=False) as quiet:
        with capture_logs() as logs:
            response = await quiet.get("/healthz")
    assert response.status_code == 200
    assert [entry for entry in logs if entry["event"] == "request"] == []
