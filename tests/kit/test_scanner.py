"""The scanner port: one contract for clamd over TCP and over its unix socket, and the
no-scanner adapter. clamd runs with the project's test signatures (scripts/services.sh)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from playerplatform.kit.scanner import (
    ClamdAddress,
    ClamdScanner,
    NoScanner,
    Scanner,
    ScannerUnavailable,
    create_scanner,
)
from playerplatform.kit.settings import Settings
from tests.support.servers import free_port
from tests.support.ugc import EICAR

TCP = os.environ.get("PP_TEST_CLAMD_ADDRESS", "tcp://127.0.0.1:3310")
UNIX = os.environ.get("PP_TEST_CLAMD_SOCKET", "unix:///tmp/playerplatform-clamd.sock")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture(params=["tcp", "unix"])
def clamd(request: pytest.FixtureRequest) -> ClamdScanner:
    address = ClamdAddress.parse(TCP if request.param == "tcp" else UNIX)
    if address.path:  # scripts/services.sh starts clamd with this socket
        assert Path(address.path).is_socket(), f"no clamd socket at {address.path}"
    return ClamdScanner(address, timeout=30)


async def test_clean_data_is_clean(clamd: ClamdScanner) -> None:
    result = await clamd.scan(chunks(b"just a map file", b" in two chunks"))
    assert result.verdict == "clean" and result.scanner == "clamav" and result.signature is None


async def test_eicar_is_infected(clamd: ClamdScanner) -> None:
    result = await clamd.scan(chunks(EICAR))
    assert result.verdict == "infected" and "EICAR" in (result.signature or "")


async def test_eicar_split_across_chunks_and_deep_in_a_large_stream(clamd: ClamdScanner) -> None:
    padding = os.urandom(3 * 1024 * 1024)
    result = await clamd.scan(chunks(padding, EICAR[:20], EICAR[20:], b"tail"))
    assert result.verdict == "infected"


async def test_ping_and_version(clamd: ClamdScanner) -> None:
    await clamd.ping()
    assert (await clamd.version()).startswith("ClamAV")


async def test_no_answer_is_unavailable_never_clean() -> None:
    closed = ClamdScanner(ClamdAddress(host="127.0.0.1", port=free_port()), timeout=2)
    with pytest.raises(ScannerUnavailable):
        await closed.scan(chunks(b"anything"))
    with pytest.raises(ScannerUnavailable):
        await closed.ping()
    missing = ClamdScanner(ClamdAddress(path="/nonexistent/clamd.sock"), timeout=2)
    with pytest.raises(ScannerUnavailable):
        await missing.scan(chunks(b"anything"))


@pytest.mark.parametrize(
    "reply", [b"INSTREAM size limit exceeded. ERROR\0", b"stream: ???\0", b"garbage\0", b""]
)
async def test_an_error_reply_is_unavailable(reply: bytes) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        scanner = ClamdScanner(ClamdAddress(host="127.0.0.1", port=port), timeout=5)
        with pytest.raises(ScannerUnavailable):
            await scanner.scan(chunks(b"data"))
    finally:
        server.close()
        await server.wait_closed()


async def test_no_scanner_marks_everything_unscanned() -> None:
    scanner: Scanner = NoScanner()
    result = await scanner.scan(chunks(EICAR))
    assert result.verdict == "unscanned" and result.scanner == "none"
    await scanner.ping()


def test_settings_pick_the_adapter() -> None:
    assert isinstance(create_scanner(Settings(clamd_address=None)), NoScanner)
    scanner = create_scanner(Settings(clamd_address="unix:///run/clamd.ctl"))
    assert isinstance(scanner, ClamdScanner) and scanner.address.path == "/run/clamd.ctl"
    assert ClamdAddress.parse("tcp://10.0.0.5").port == 3310
    for bad in ("http://x", "tcp://", "unix://", "clamd"):
        with pytest.raises(ValueError):
            ClamdAddress.parse(bad)
