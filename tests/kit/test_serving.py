"""The server's connection protocol: a response's writes leave together, in order, and
nothing held is lost or late (`kit/serving.py`)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Literal

import pytest

from playerplatform.kit.serving import CoalescingTransport
from tests.support.servers import ServerThread


class RecordingTransport(asyncio.Transport):
    """The event loop's side of a connection, reduced to what it was asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", b""))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", b""))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8080) if name == "sockname" else default


async def test_a_write_leaves_with_the_next_one_or_at_the_end_of_the_turn() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert inner.calls == []  # held for what follows
    assert transport.get_write_buffer_size() == 7 + 19
    transport.write(b"{}")  # the body: both leave at once, in one call
    assert inner.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}")]
    transport.writelines([b"a", b"b", b"c"])
    assert inner.calls[1:] == [("write", b"ab")]
    await asyncio.sleep(0)  # the end of the turn: what is left leaves alone
    assert inner.calls[2:] == [("write", b"c")]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert inner.calls[3:] == [("write", b"next")]


async def test_close_and_end_of_file_send_what_is_held_first() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"head")
    transport.write_eof()
    transport.write(b"late")
    transport.close()
    await asyncio.sleep(0)
    assert inner.calls == [
        ("write", b"head"),
        ("write_eof", b""),
        ("write", b"late"),
        ("close", b""),
    ]


async def test_abort_drops_what_is_held_and_a_closed_connection_is_not_written() -> None:
    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"dropped")
    transport.abort()
    await asyncio.sleep(0)
    assert inner.calls == [("abort", b"")]

    inner = RecordingTransport()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())
    transport.write(b"too late")
    inner.closing = True  # the peer went away before the round ended
    await asyncio.sleep(0)
    assert inner.calls == []
    assert transport.get_extra_info("sockname") == (
        "127.0.0.1",
        8080,
    )  # the rest is the transport's


def _app(second_chunk: threading.Event) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/stream":  # a body that comes later than its head
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first;", "more_body": True})
            while not second_chunk.is_set():
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b"second", "more_body": False})
            return
        body = scope["path"].encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def _read_until(sock: socket.socket, ending: bytes) -> bytes:
    data = b""
    while not data.endswith(ending):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_real_server_answers_keep_alive_streams_and_close(
    loop: Literal["asyncio", "uvloop"],
) -> None:
    second_chunk = threading.Event()
    policy = asyncio.get_event_loop_policy()  # uvicorn installs uvloop's for the process
    server = ServerThread(_app(second_chunk), loop=loop).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            for path in (b"/one", b"/two"):  # one connection, one response after the other
                sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = _read_until(sock, path)
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
                assert answer.endswith(b"\r\n\r\n" + path)
            # Two requests sent together: two whole responses, in order.
            sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            both = _read_until(sock, b"/b")
            assert both.index(b"\r\n\r\n/a") < both.index(b"HTTP/1.1", 1)

            # A streamed body: its first chunk arrives while the second is still to come.
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            first = _read_until(sock, b"first;\r\n")
            assert first.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"transfer-encoding: chunked" in first
            second_chunk.set()
            assert _read_until(sock, b"0\r\n\r\n").endswith(b"second\r\n0\r\n\r\n")

        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = _read_until(sock, b"never")  # until the server closes
            assert answer.endswith(b"\r\n\r\n/last")
    finally:
        server.stop()
        asyncio.set_event_loop_policy(policy)
