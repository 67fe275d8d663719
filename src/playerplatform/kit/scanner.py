"""Scanner port: is this file safe to hand to other players?

Two adapters held to one contract test suite:
- `ClamdScanner` (`PP_CLAMD_ADDRESS=tcp://host:port` or `unix:///path`): our own small async
  clamd client speaking INSTREAM (length-prefixed chunks, then a zero length).
- `NoScanner` (no address): every file comes back `unscanned`, so uploads are held for human
  review and marked so for moderators.

A scanner that cannot answer raises `ScannerUnavailable`; callers retry later and never take
"no answer" for "clean".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from playerplatform.kit.settings import Settings

Verdict = Literal["clean", "infected", "unscanned"]
CHUNK = 256 * 1024  # clamd's default StreamMaxLength is 25 MB; chunks far below any limit


@dataclass(frozen=True, slots=True)
class ScanResult:
    verdict: Verdict
    scanner: str  # the scanner's name in report keys: `clamav`, `none`
    signature: str | None = None  # what was found, when infected
    engine: str | None = None  # scanner version, when known

    def as_dict(self) -> dict[str, str | None]:
        return {
            "verdict": self.verdict,
            "scanner": self.scanner,
            "signature": self.signature,
            "engine": self.engine,
        }


class ScannerUnavailable(Exception):
    """The scanner did not answer, or answered with an error: try again later."""


@runtime_checkable
class Scanner(Protocol):
    name: str

    async def scan(self, data: AsyncIterable[bytes]) -> ScanResult:
        """Scan a stream of chunks; `ScannerUnavailable` when no verdict could be had."""
        ...

    async def ping(self) -> None:
        """Raise `ScannerUnavailable` when the scanner does not answer (readiness)."""
        ...

    async def close(self) -> None: ...


class NoScanner:
    """No scanner configured: nothing is cleared automatically."""

    name = "none"

    async def scan(self, data: AsyncIterable[bytes]) -> ScanResult:
        async for _chunk in data:  # drain, so callers behave the same with either adapter
            pass
        return ScanResult("unscanned", self.name)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ClamdAddress:
    host: str | None = None
    port: int | None = None
    path: str | None = None

    @classmethod
    def parse(cls, address: str) -> ClamdAddress:
        """`tcp://host:port` or `unix:///path/to/clamd.ctl`."""
        parts = urlsplit(address)
        if parts.scheme == "tcp" and parts.hostname:
            return cls(host=parts.hostname, port=parts.port or 3310)
        if parts.scheme == "unix" and parts.path:
            return cls(path=parts.path)
        raise ValueError("PP_CLAMD_ADDRESS must look like tcp://host:3310 or unix:///path")

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"tcp://{self.host}:{self.port}"


class ClamdScanner:
    """INSTREAM client: one connection per command (clamd's `z` commands, NUL-terminated)."""

    name = "clamav"

    def __init__(self, address: ClamdAddress, *, timeout: float = 60.0) -> None:
        self.address = address
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> ClamdScanner:
        assert settings.clamd_address is not None
        return cls(ClamdAddress.parse(settings.clamd_address), timeout=settings.ugc_scan_timeout)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            if self.address.path:
                opening = asyncio.open_unix_connection(self.address.path)
            else:
                opening = asyncio.open_connection(self.address.host, self.address.port)
            return await asyncio.wait_for(opening, timeout=min(self.timeout, 10.0))
        except (OSError, TimeoutError) as exc:
            raise ScannerUnavailable(f"clamd at {self.address} does not answer: {exc}") from None

    async def _command(self, command: bytes, body: AsyncIterable[bytes] | None = None) -> str:
        reader, writer = await self._connect()
        try:

            async def exchange() -> bytes:
                writer.write(b"z" + command + b"\0")
                if body is not None:
                    async for chunk in body:
                        for start in range(0, len(chunk), CHUNK):
                            piece = chunk[start : start + CHUNK]
                            writer.write(struct.pack(">I", len(piece)) + piece)
                            await writer.drain()
                    writer.write(struct.pack(">I", 0))
                await writer.drain()
                return await reader.readuntil(b"\0")

            reply = await asyncio.wait_for(exchange(), timeout=self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            # clamd closes the connection when a stream passes its StreamMaxLength.
            raise ScannerUnavailable(f"clamd at {self.address} failed: {exc!r}") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return reply.rstrip(b"\0").decode("utf-8", "replace").strip()

    async def scan(self, data: AsyncIterable[bytes]) -> ScanResult:
        reply = await self._command(b"INSTREAM", data)
        # "stream: OK", "stream: <signature> FOUND", "<message> ERROR"
        _, _, outcome = reply.partition(": ")
        if reply.endswith("ERROR") or not outcome:
            raise ScannerUnavailable(f"clamd could not scan the stream: {reply[:200]}")
        if outcome == "OK":
            return ScanResult("clean", self.name)
        if outcome.endswith(" FOUND"):
            return ScanResult("infected", self.name, signature=outcome.removesuffix(" FOUND"))
        raise ScannerUnavailable(f"unexpected clamd reply: {reply[:200]}")

    async def version(self) -> str:
        return await self._command(b"VERSION")

    async def ping(self) -> None:
        reply = await self._command(b"PING")
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd answered {reply[:50]!r} to PING")

    async def close(self) -> None:
        return None


# The antivirus test file (eicar.org), built from parts so no file here carries it whole.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS" + b"-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "EICAR-Test-File (local deny list)"


class DenyList:
    """Local signatures, checked on every upload whether or not a scanner is configured: the
    sha256 of files a studio has banned (`PP_UGC_DENY_SHA256`) and the antivirus test file
    (EICAR) anywhere in the bytes, as the scanner's own test signature matches it. A match is
    treated as an infection: the file is never published, whatever a moderator decides."""

    def __init__(self, sha256s: list[str] | tuple[str, ...] = ()) -> None:
        self.hashes = {
            h.strip().lower(): f"deny-list sha256 {h.strip().lower()[:16]}" for h in sha256s
        }
        self.hashes.setdefault(hashlib.sha256(EICAR).hexdigest(), EICAR_SIGNATURE)

    @classmethod
    def from_settings(cls, settings: Settings) -> DenyList:
        return cls(settings.ugc_deny_sha256)

    def by_hash(self, sha256: str) -> str | None:
        """The signature a file with this sha256 matches, or None."""
        return self.hashes.get(sha256.lower())

    def matcher(self) -> DenyMatcher:
        """A matcher to feed a file's bytes to, chunk by chunk."""
        return DenyMatcher(self)


class DenyMatcher:
    """Looks for the test signature across chunk boundaries and hashes what it is fed."""

    def __init__(self, deny: DenyList) -> None:
        self.deny = deny
        self.digest = hashlib.sha256()
        self._tail = b""
        self._found: str | None = None

    def feed(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        if self._found is None:
            window = self._tail + chunk
            if EICAR in window:
                self._found = EICAR_SIGNATURE
            self._tail = window[-(len(EICAR) - 1) :]

    def result(self) -> str | None:
        """The signature the bytes fed so far match, or None."""
        return self._found or self.deny.by_hash(self.digest.hexdigest())


def create_scanner(settings: Settings) -> Scanner:
    """The adapter `PP_CLAMD_ADDRESS` names (unset: `NoScanner`)."""
    if settings.clamd_address:
        return ClamdScanner.from_settings(settings)
    return NoScanner()
