"""`playerplatform serve` on each HTTP server it offers (`PP_SERVER`), run as an operator runs
it: a real subprocess on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from playerplatform.serving import SERVERS
from tests.support.servers import free_port

STARTUP_SECONDS = 60  # the suite shares the machine with other runs


def _serve(tmp_path: Path, server: str, **env: str) -> Iterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "PP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "PP_REDIS_URL": "",
        "PP_SERVER": server,
        "PP_METRICS_PORT": "0",  # no listener of its own: other tests may hold the port
        "PP_METRICS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "playerplatform.cli", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{server} did not start"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=SERVERS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path, request.param, PP_HEADER_READ_TIMEOUT_SECONDS="2")


def test_each_server_serves_the_api(served: str) -> None:
    health = httpx.get(f"{served}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    # No banner telling a stranger which version to attack (Granian names itself, bare).
    assert health.headers.get("server", "granian") == "granian"
    missing = httpx.get(f"{served}/api/v1/users/me")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    refused = httpx.post(
        f"{served}/api/v1/auth/device/login",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    docs = httpx.get(f"{served}/openapi.json")
    assert docs.status_code == 200 and docs.json()["paths"]


@pytest.fixture
def granian(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path, "granian", PP_HEADER_READ_TIMEOUT_SECONDS="1")


def test_a_request_head_that_never_ends_is_cut_off(granian: str) -> None:
    """A client that opens a connection and sends its head slowly (or never finishes it) holds
    the connection for the header read timeout, not for as long as it likes."""
    port = int(granian.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line, ever
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        held = time.monotonic() - started
    assert held < 5, f"held {held:.1f}s"
    assert not answer or answer.startswith(b"HTTP/1.1 408")
    # The server itself is fine afterwards.
    assert httpx.get(f"{granian}/healthz").status_code == 200
