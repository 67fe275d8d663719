"""Safety helpers for tests: sanctions and reports through the public API."""

from __future__ import annotations

from typing import Any

import httpx


async def sanction(
    client: httpx.AsyncClient, staff: dict[str, str], canonical_id: str, **fields: Any
) -> dict[str, Any]:
    """Place a sanction through the moderator API (a restriction for cheating unless told
    otherwise); returns it."""
    body = {"canonical_id": canonical_id, "type": "restriction", "reason": "cheating", **fields}
    response = await client.post("/api/v1/moderation/sanctions", json=body, headers=staff)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def report(
    client: httpx.AsyncClient,
    reporter: dict[str, str],
    target_type: str,
    target_id: str,
    reason: str = "cheating",
    **fields: Any,
) -> httpx.Response:
    body = {"target": {"type": target_type, "id": target_id}, "reason": reason, **fields}
    return await client.post("/api/v1/reports", json=body, headers=reporter)
