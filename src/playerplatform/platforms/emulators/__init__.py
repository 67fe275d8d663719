"""Local stand-ins for Steam, Epic and Twitch that speak their documented wire protocols.

Each `create_*_emulator` factory returns a FastAPI app holding its state in memory. The real
platform clients run against them unchanged (tests, local development through
`playerplatform emulate ...`). Routes under `/emulator/` do not exist on the real services:
they let a test mint tickets, ID tokens and authorization codes.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the last value wins on repeats)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def public_base_url(request: Request) -> str:
    """The emulator's own base URL as the caller reached it (issuer of its tokens)."""
    return str(request.base_url).rstrip("/")
