"""Helpers that sign players in through the public API, as a game client would."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


def auth(tokens: dict[str, Any] | str) -> dict[str, str]:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def device_login(client: httpx.AsyncClient, device_id: str | None = None) -> dict[str, Any]:
    device_id = device_id or f"device-{secrets.token_hex(8)}"
    response = await client.post("/api/v1/auth/device/login", json={"device_id": device_id})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["device_id"] = device_id
    return body


def new_email() -> str:
    return f"player-{secrets.token_hex(6)}@example.com"


STRONG_PASSWORD = "correct-horse-battery-staple-42"


async def email_register(
    client: httpx.AsyncClient, email: str | None = None, password: str = STRONG_PASSWORD
) -> dict[str, Any]:
    email = email or new_email()
    response = await client.post(
        "/api/v1/auth/email/register", json={"email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["email"] = email
    body["password"] = password
    return body


# No vowels and no letter or digit the text filter reads as one ("5" as "s", "4" as "a"): a
# random name made of these never spells a word the filter refuses, so no run flakes on it.
_PLAIN = "bdghjmnpqrtvwxz"


def plain_tag(length: int = 6) -> str:
    """Random letters for names and titles that pass the text filter (see `_PLAIN`)."""
    return "".join(secrets.choice(_PLAIN) for _ in range(length))
