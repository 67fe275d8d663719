"""Minting platform credentials through the emulators' emulator-only endpoints, as a game
client would obtain them from Steam, Epic or Twitch."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


def new_steamid() -> str:
    return str(76561198000000000 + secrets.randbelow(10**9))


async def steam_ticket(
    emulators: dict[str, str], steamid: str | None = None, **fields: Any
) -> tuple[str, str]:
    """(ticket hex, steamid)."""
    steamid = steamid or new_steamid()
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        response = await http.post("/emulator/tickets", json={"steamid": steamid, **fields})
        response.raise_for_status()
        return str(response.json()["ticket"]), steamid


async def epic_id_token(
    emulators: dict[str, str], sub: str | None = None, kind: str = "connect", **fields: Any
) -> tuple[str, str]:
    """(id token, sub)."""
    sub = sub or secrets.token_hex(16)
    async with httpx.AsyncClient(base_url=emulators["epic"]) as http:
        response = await http.post("/emulator/id-tokens", json={"sub": sub, "kind": kind, **fields})
        response.raise_for_status()
        return str(response.json()["id_token"]), sub


async def twitch_code(
    emulators: dict[str, str], user_id: str | None = None, login: str = "streamer"
) -> tuple[str, str]:
    """(authorization code, twitch user id)."""
    user_id = user_id or str(secrets.randbelow(10**9))
    async with httpx.AsyncClient(base_url=emulators["twitch"]) as http:
        response = await http.post("/emulator/codes", json={"user_id": user_id, "login": login})
        response.raise_for_status()
        return str(response.json()["code"]), user_id
