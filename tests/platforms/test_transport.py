"""The one place platform calls meet the network (`platforms.transport.send`), against a
real TCP server that closes a connection without answering, as a server whose idle
timeout closes a kept-alive connection does just as a request goes out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from playerplatform.kit.errors import ProviderError
from playerplatform.platforms.transport import send

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
async def closes_first() -> AsyncIterator[str]:
    """A server whose first connection is closed once the request is in, unanswered; the
    others are answered 200."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if connections > 1:
            writer.write(ANSWER)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/keys"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_read_the_server_closed_unanswered_is_sent_again(closes_first: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await send(http, "epic", "GET", closes_first, time_limit=5)
    assert response.status_code == 200


async def test_a_write_the_server_closed_unanswered_is_not_repeated(closes_first: str) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ProviderError, match="unreachable"):
            await send(http, "epic", "POST", closes_first, time_limit=5, content=b"{}")
