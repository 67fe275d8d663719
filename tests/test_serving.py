"""`playerplatform serve` on each HTTP server it offers (`PP_SERVER`), run as an operator runs
it: a real subprocess on a real port."""

from __future__ import annotations

import contextlib
import os
import signal
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


def test_a_worker_that_does_not_stop_is_killed_and_the_server_ends(tmp_path: Path) -> None:
    """A stop always ends: a worker that never answers its stop signal (here: a stopped
    process) is killed after `PP_SERVER_STOP_TIMEOUT_SECONDS` instead of holding the server."""
    served = _serve(tmp_path, "granian", PP_SERVER_STOP_TIMEOUT_SECONDS="2")
    port = next(served).rsplit(":", 1)[1]
    (server,) = (
        pid
        for pid in _children(os.getpid())
        if f"\0--port\0{port}\0" in Path(f"/proc/{pid}/cmdline").read_text()
    )
    workers = _children(server)
    assert workers, "Granian serves from worker processes"
    for worker in workers:
        os.kill(worker, signal.SIGSTOP)
    started = time.monotonic()
    try:
        os.kill(server, signal.SIGINT)
        while _alive(server) and time.monotonic() - started < 20:
            time.sleep(0.1)
        stopped = time.monotonic() - started
    finally:
        for worker in workers:  # a stopped orphan would hold its port for ever
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        served.close()
    assert stopped < 10, f"the server was still stopping after {stopped:.1f}s"


def _children(pid: int) -> list[int]:
    """The running processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` (a child of this process) still runs; reaps it once it ended."""
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False
