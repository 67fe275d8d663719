"""Service accounts: created by an admin, tokens by client credentials, scopes enforced."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import jwt as pyjwt

from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


async def _create(client: httpx.AsyncClient, runtime: Runtime, scopes: list[str]) -> dict:
    admin = await staff_login(client, runtime, "admin")
    response = await client.post(
        "/api/v1/admin/service-accounts",
        json={"name": "game server", "scopes": scopes},
        headers=auth(admin),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_client_credentials_issue_a_scoped_service_token(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await _create(client, runtime, ["leaderboards:write", "commerce:grant"])
    form = {
        "grant_type": "client_credentials",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "scope": "leaderboards:write",
    }
    response = await client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == account["client_id"] and claims["scope"] == "leaderboards:write"
    json_body = await client.post("/api/v1/auth/token", json={**form, "scope": None})
    assert json_body.status_code == 200
    assert json_body.json()["scope"] == "commerce:grant leaderboards:write"
    # A service token is not a player: player routes refuse it.
    assert (
        await client.get("/api/v1/auth/sessions", headers=auth(body["access_token"]))
    ).status_code == 403


async def test_wrong_secret_unknown_client_and_ungranted_scope_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await _create(client, runtime, ["leaderboards:write"])
    base = {"grant_type": "client_credentials", "client_id": account["client_id"]}
    wrong = await client.post("/api/v1/auth/token", data={**base, "client_secret": "pps_wrong"})
    unknown = await client.post(
        "/api/v1/auth/token", data={**base, "client_id": "svc_nobody", "client_secret": "pps_wrong"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    scope = await client.post(
        "/api/v1/auth/token",
        data={**base, "client_secret": account["client_secret"], "scope": "admin"},
    )
    assert scope.status_code == 401
    assert scope.json()["code"] == "invalid_scope"
    bad_grant = await client.post(
        "/api/v1/auth/token", data={**base, "grant_type": "password", "client_secret": "x"}
    )
    assert bad_grant.status_code == 422
    garbage = await client.post(
        "/api/v1/auth/token", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 400


async def test_only_admins_create_service_accounts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await device_login(client)
    response = await client.post(
        "/api/v1/admin/service-accounts", json={"name": "x", "scopes": []}, headers=auth(player)
    )
    assert response.status_code == 403
    moderator = await staff_login(client, runtime, "moderator")
    response = await client.post(
        "/api/v1/admin/service-accounts", json={"name": "x", "scopes": []}, headers=auth(moderator)
    )
    assert response.status_code == 403


async def test_a_stranger_cannot_lock_a_game_server_out(
    make_client: Any, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Wrong secrets from one address exhaust that address's allowance; the game server,
    from its own, still gets its token (slowed down while the client id fails from
    everywhere, never refused)."""
    stranger = {"X-Forwarded-For": f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}"}
    server = {"X-Forwarded-For": f"10.8.{secrets.randbelow(250)}.{secrets.randbelow(250)}"}
    proxy = f"10.7.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    settings = {
        "client_ip": proxy,
        "rate_limit_failed_login": "3/minute",
        "rate_limit_failed_login_slowdown": 0.5,
        "trusted_proxies": [f"{proxy}/32"],
    }
    account = await _create(client, runtime, ["leaderboards:write"])  # same database
    async with make_client(**settings) as limited:
        base = {"grant_type": "client_credentials", "client_id": account["client_id"]}
        wrong = {**base, "client_secret": "pps_wrong"}
        codes = [
            (await limited.post("/api/v1/auth/token", data=wrong, headers=stranger)).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        right = {**base, "client_secret": account["client_secret"]}
        token = await limited.post("/api/v1/auth/token", data=right, headers=server)
        assert token.status_code == 200, token.text
