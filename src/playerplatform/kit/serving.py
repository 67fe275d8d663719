"""The HTTP server's connection protocol: uvicorn's httptools protocol, with a response's
writes leaving together.

uvicorn writes a response's head (status line and headers) and its body in two calls, and
the event loop (uvloop) sends each at once: two system calls per response, and on a
keep-alive connection two wake-ups of the client. A `CoalescingTransport` holds a write until
the next one and sends both in one call; a write that nothing follows in the same turn of the
event loop leaves at the end of that turn. Nothing is reordered (every write goes through it),
a close or end-of-file sends what is held first, and a response whose body comes later (a
stream) sends its head at the end of the turn, as it would have without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that sends a write together with the next one made in the same turn of the
    event loop (a response's head with its body), or alone at the end of the turn."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def writelines(self, list_of_data: Iterable[bytes]) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is held now (the loop does this at the end of the turn)."""
        held, self._held = self._held, None
        if held is None or self._transport.is_closing():
            return
        self._transport.write(held)

    def get_write_buffer_size(self) -> int:
        held = len(self._held) if self._held is not None else 0
        return self._transport.get_write_buffer_size() + held

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(coalescing)  # type: ignore[arg-type]
