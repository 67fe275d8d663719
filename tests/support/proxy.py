"""A small asyncio TCP fault proxy in front of a real server (PostgreSQL, Redis or RabbitMQ).

A test points the platform at `proxy.address(url)` instead of `url`, then:

- `silence()` (a black hole): connections stay open and new ones are accepted, but nothing
  gets through either way: a server that stopped answering;
- `cut()`: every connection closed, new ones refused (closed at once): a server that is down;
- `delay(seconds)`: everything still gets through, each chunk `seconds` late either way: a slow
  network or an overloaded server;
- `restore()`: forward again at full speed (connections from before a silence or a cut are
  closed: their state is unknown, as after a real outage).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"redis": 6379, "postgresql": 5432, "amqp": 5672}


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "open"  # "open", "silent" or "cut"
        self.latency = 0.0  # seconds each chunk waits before it is forwarded
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def in_front_of(cls, url: str) -> TcpProxy:
        """A started proxy to the server `url` names (any scheme: `postgresql+asyncpg`,
        `redis`, `amqp`)."""
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        port = parts.port or DEFAULT_PORTS[scheme]
        return await cls(parts.hostname or "127.0.0.1", port).start()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        """A Redis URL through the proxy (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def address(self, url: str) -> str:
        """`url` (credentials, path and query kept) with the proxy as its server."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def silence(self) -> None:
        """Keep every connection open and accept new ones, but forward nothing."""
        self.mode = "silent"

    black_hole = silence

    def cut(self) -> None:
        """Close every connection; refuse (close at once) new ones."""
        self.mode = "cut"
        self._drop_all()

    def delay(self, seconds: float) -> None:
        """Forward everything, each chunk `seconds` late (0 for full speed again)."""
        self.latency = seconds

    def restore(self) -> None:
        """Forward again at full speed; connections from before a silence or a cut are
        closed (their state is unknown)."""
        self.latency = 0.0
        if self.mode != "open":
            self._drop_all()
        self.mode = "open"

    async def close(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.transport.abort()
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for source, target in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                if self.mode == "open":
                    target.write(data)
                    await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(target)
            target.transport.abort()
