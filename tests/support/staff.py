"""Staff accounts for tests, created the way `playerplatform admin create` creates them."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from playerplatform.auth.bootstrap import create_staff_account
from playerplatform.runtime import Runtime

STAFF_PASSWORD = "staff-password-for-tests-7f3"


async def staff_login(
    client: httpx.AsyncClient, runtime: Runtime, role: str = "admin"
) -> dict[str, Any]:
    """Create a staff member with `role` and sign in by email; returns the token response."""
    email = f"{role}-{secrets.token_hex(6)}@studio.test"
    await create_staff_account(runtime, email=email, password=STAFF_PASSWORD, role=role)
    response = await client.post(
        "/api/v1/auth/email/login", json={"email": email, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    body["email"] = email
    return body
