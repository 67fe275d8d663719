"""Device sign-in, the access token's claims, JWKS verification by an independent JOSE library,
and rejection of every kind of bad token."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt as pyjwt
from jwcrypto import jwk
from jwcrypto import jwt as jc_jwt

from tests.support.players import auth, device_login

EXPECTED_CLAIMS = {
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "jti",
    "sid",
    "providers",
    "roles",
    "linked_accounts",
}


async def test_first_device_login_creates_a_guest_and_the_next_finds_it(
    client: httpx.AsyncClient,
) -> None:
    first = await device_login(client)
    assert first["created"] is True
    assert first["token_type"] == "Bearer"
    assert first["expires_in"] == 1800
    assert first["user"]["identities"][0]["provider"] == "device"
    again = await device_login(client, first["device_id"])
    assert again["created"] is False
    assert again["user"]["canonical_id"] == first["user"]["canonical_id"]
    assert again["refresh_token"] != first["refresh_token"]


async def test_access_token_carries_exactly_the_contract_claims(client: httpx.AsyncClient) -> None:
    tokens = await device_login(client)
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert set(claims) == EXPECTED_CLAIMS
    assert claims["sub"] == tokens["user"]["canonical_id"]
    assert claims["iss"] == "player-platform"
    assert claims["aud"] == "game-client"
    assert claims["providers"] == ["device"]
    assert claims["roles"] == ["player"]
    assert claims["linked_accounts"] == []
    assert claims["exp"] - claims["iat"] == 1800
    header = pyjwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]


async def test_access_token_verifies_with_an_independent_jose_library(
    client: httpx.AsyncClient,
) -> None:
    tokens = await device_login(client)
    keyset = jwk.JWKSet.from_json((await client.get("/.well-known/jwks.json")).text)
    verified = jc_jwt.JWT(
        jwt=tokens["access_token"],
        key=keyset,
        check_claims={"aud": "game-client", "iss": "player-platform"},
    )
    claims = json.loads(verified.claims)
    assert claims["sub"] == tokens["user"]["canonical_id"]
    for key in keyset["keys"]:
        assert "d" not in key.export(as_dict=True)


def _tamper_payload(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


async def _status(client: httpx.AsyncClient, token: str) -> tuple[int, str]:
    response = await client.get("/api/v1/auth/sessions", headers=auth(token))
    assert (
        response.headers["content-type"].startswith("application/problem+json")
        or response.status_code == 200
    )
    return response.status_code, response.json().get("code", "")


async def test_tampered_expired_wrong_audience_and_alg_none_tokens_are_refused(
    client: httpx.AsyncClient,
) -> None:
    tokens = await device_login(client)
    token = tokens["access_token"]
    assert (await _status(client, token))[0] == 200

    assert await _status(client, _tamper_payload(token, sub="pAAAA")) == (401, "invalid_token")
    assert await _status(client, _tamper_payload(token, roles=["admin"])) == (401, "invalid_token")

    claims = pyjwt.decode(token, options={"verify_signature": False})
    unsigned = pyjwt.encode({**claims, "roles": ["admin"]}, None, algorithm="none")
    assert await _status(client, unsigned) == (401, "invalid_token")

    # Properly signed by the server's own key but expired / for another audience.
    from cryptography.hazmat.primitives.asymmetric import ed25519

    forged_key = ed25519.Ed25519PrivateKey.generate()
    kid = pyjwt.get_unverified_header(token)["kid"]
    forged = pyjwt.encode(claims, forged_key, algorithm="EdDSA", headers={"kid": kid})
    assert await _status(client, forged) == (401, "invalid_token")

    for garbage in ["garbage", "a.b.c", "Bearer", "x" * 5000, "eyJhbGciOiJub25lIn0.e30."]:
        code, problem = await _status(client, garbage)
        assert code == 401 and problem == "invalid_token", garbage


async def test_expired_and_wrong_audience_tokens_signed_by_our_key_are_refused(
    client: httpx.AsyncClient, runtime: object
) -> None:
    tokens = await device_login(client)
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    keys = runtime.keys  # type: ignore[attr-defined]
    now = int(time.time())
    expired = await keys.sign({**claims, "iat": now - 4000, "exp": now - 100})
    assert await _status(client, expired) == (401, "token_expired")
    other_audience = await keys.sign({**claims, "aud": "someone-else"})
    assert await _status(client, other_audience) == (401, "invalid_token")
    other_issuer = await keys.sign({**claims, "iss": "evil"})
    assert await _status(client, other_issuer) == (401, "invalid_token")


async def test_missing_or_malformed_authorization_header(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/sessions")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    response = await client.get("/api/v1/auth/sessions", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_device_id_is_validated(client: httpx.AsyncClient) -> None:
    for bad in ["short", "x" * 129, "has space inside", "tab\tinside-1234", 12345678901, None]:
        response = await client.post("/api/v1/auth/device/login", json={"device_id": bad})
        assert response.status_code == 422, bad
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["field"] == "device_id"
    response = await client.post(
        "/api/v1/auth/device/login", json={"device_id": "valid-device-0001", "extra": 1}
    )
    assert response.status_code == 422


async def test_malformed_json_is_a_problem_not_a_crash(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/device/login",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_json"
    response = await client.post(
        "/api/v1/auth/device/login", content=b"[1,2]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_key_rotation_keeps_old_tokens_valid_and_publishes_both_keys(
    client: httpx.AsyncClient, runtime: object
) -> None:
    before = await device_login(client)
    keys = runtime.keys  # type: ignore[attr-defined]
    async with runtime.db.unit_of_work() as uow:  # type: ignore[attr-defined]
        new_kid, retired = await keys.rotate(uow)
    assert retired
    after = await device_login(client)
    assert pyjwt.get_unverified_header(after["access_token"])["kid"] == new_kid
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert new_kid in kids and set(retired) <= kids
    assert (await client.get("/api/v1/auth/sessions", headers=auth(before))).status_code == 200
    assert (await client.get("/api/v1/auth/sessions", headers=auth(after))).status_code == 200


async def test_signing_keys_reload_during_a_sign_in_does_not_block_it(
    client: httpx.AsyncClient, runtime: object
) -> None:
    # The routine reload runs off the request path; on SQLite a reload inside a request that
    # holds the write lock must not wait for that lock.
    keys = runtime.keys  # type: ignore[attr-defined]
    keys._loaded_at = 0.0
    tokens = await device_login(client)
    assert (await client.get("/api/v1/auth/sessions", headers=auth(tokens))).status_code == 200
    if keys._reloading is not None:
        await keys._reloading
    assert keys._loaded_at > 0.0


async def test_concurrent_first_logins_of_one_device_make_one_account(
    client: httpx.AsyncClient, runtime: object
) -> None:
    import asyncio
    import secrets

    import sqlalchemy as sa

    from playerplatform.auth.models import Identity
    from playerplatform.auth.providers import device_key
    from playerplatform.users.models import Profile, User
    from tests.support.db import count

    device = f"race-device-{secrets.token_hex(6)}"
    users_before = await count(runtime, User)  # type: ignore[arg-type]
    results = await asyncio.gather(*(device_login(client, device) for _ in range(12)))
    assert len({r["user"]["canonical_id"] for r in results}) == 1
    assert sum(r["created"] for r in results) == 1
    stored = device_key(device)  # what is kept of a device id: its hash
    assert await count(runtime, Identity, Identity.provider_id == stored) == 1  # type: ignore[arg-type]
    # Losers of the race left no account behind.
    assert await count(runtime, User) == users_before + 1  # type: ignore[arg-type]
    orphans = sa.select(Profile.user_id).where(~Profile.user_id.in_(sa.select(User.id)))
    assert await count(runtime, Profile, Profile.user_id.in_(orphans)) == 0  # type: ignore[arg-type]


async def test_a_remembered_token_still_expires(client: httpx.AsyncClient, runtime: object) -> None:
    import asyncio

    tokens = await device_login(client)
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    now = int(time.time())
    # Expired 2 s ago: still inside the 5 s clock leeway, so it passes once and is remembered.
    nearly = await runtime.keys.sign({**claims, "iat": now - 100, "exp": now - 2})  # type: ignore[attr-defined]
    assert (await _status(client, nearly))[0] == 200
    await asyncio.sleep(3.5)
    assert await _status(client, nearly) == (401, "token_expired")
