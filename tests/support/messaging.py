"""Messaging test helpers: staff sending through the admin API, reading the inbox as a game
client does."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.players import auth

INBOX = "/api/v1/inbox"


async def send(
    client: httpx.AsyncClient, admin: dict[str, Any], player: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A message from staff to `player` (kind `system`, English text unless given)."""
    body: dict[str, Any] = {
        "canonical_id": player["user"]["canonical_id"],
        "kind": "system",
        "title": "Hello",
        "body": "A message from the studio.",
    }
    body.update(fields)
    response = await client.post("/api/v1/admin/messages", json=body, headers=auth(admin))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def inbox(client: httpx.AsyncClient, player: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await client.get(INBOX, params=params, headers=auth(player))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def set_locale(client: httpx.AsyncClient, player: dict[str, Any], **profile: Any) -> None:
    response = await client.patch("/api/v1/users/me", json=profile, headers=auth(player))
    assert response.status_code == 200, response.text
