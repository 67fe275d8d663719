"""Slow clients over raw sockets against a real server: a body that does not arrive in time
is answered 408 `request_timeout` and the connection closed; a client IP holding too many
API requests open is answered 429 at once, other addresses and the ops routes are not, and
the cap frees up as its requests end."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from playerplatform.app import create_app
from playerplatform.kit.settings import Settings
from tests.support.servers import ServerThread

LOGIN = "/api/v1/auth/device/login"


@pytest.fixture
def serve(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., ServerThread]]:
    servers: list[ServerThread] = []

    def start(**overrides: object) -> ServerThread:
        server = ServerThread(create_app(make_settings(**overrides))).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def connect(server: ServerThread, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(source, 0)
    )
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, headers, body) and whether the server then closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def partial_post(sock: socket.socket, *, chunked: bool = False) -> None:
    framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 100"
    sock.sendall(
        f"POST {LOGIN} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n".encode()
    )
    sock.sendall(b'5\r\n{"dev\r\n' if chunked else b'{"device_id": ')


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_that_does_not_arrive_is_answered_408(
    serve: Callable[..., ServerThread], chunked: bool
) -> None:
    server = serve(body_read_timeout_seconds=0.5)
    with connect(server) as sock:
        started = time.monotonic()
        partial_post(sock, chunked=chunked)
        status, headers, body = read_response(sock)
        waited = time.monotonic() - started
        assert status == 408, body
        assert json.loads(body)["code"] == "request_timeout"
        assert headers["content-type"] == "application/problem+json"
        assert 0.4 <= waited < 5
        assert closed_by_server(sock)


def test_a_body_that_arrives_in_time_is_served(serve: Callable[..., ServerThread]) -> None:
    server = serve(body_read_timeout_seconds=2)
    body = b'{"device_id": "slow-but-steady-device-1"}'
    with connect(server) as sock:
        sock.sendall(
            f"POST {LOGIN} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        for start in range(0, len(body), 10):  # in pieces, well within the timeout
            sock.sendall(body[start : start + 10])
            time.sleep(0.1)
        status, _headers, answer = read_response(sock)
        assert status == 200, answer


def request(server: ServerThread, path: str, source: str = "127.0.0.1") -> int:
    with connect(server, source) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        return read_response(sock)[0]


def test_an_address_holding_too_many_requests_is_refused(
    serve: Callable[..., ServerThread],
) -> None:
    server = serve(body_read_timeout_seconds=30, max_requests_per_ip=3)
    held = [connect(server) for _ in range(3)]
    try:
        for sock in held:
            partial_post(sock)
        time.sleep(0.3)  # the three are in flight, waiting for their bodies
        started = time.monotonic()
        with connect(server) as sock:
            sock.sendall(b"GET /api/v1/users/nobody HTTP/1.1\r\nHost: test\r\n\r\n")
            status, headers, body = read_response(sock)
        assert status == 429, body
        assert json.loads(body)["code"] == "rate_limited"
        assert headers["retry-after"] == "1"
        assert time.monotonic() - started < 2
        # Another address, and the ops routes, are not held back.
        assert request(server, "/api/v1/users/nobody", source="127.0.0.2") == 404
        assert request(server, "/healthz") == 200
    finally:
        for sock in held:
            sock.close()
    # The held requests end with their connections: the address has room again.
    deadline = time.monotonic() + 5
    while request(server, "/api/v1/users/nobody") == 429:
        assert time.monotonic() < deadline
        time.sleep(0.05)
