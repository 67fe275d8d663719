"""Signing keys: tokens any JOSE library verifies, with either algorithm, and one key when
several API processes start at once on a fresh database."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwk
from jwcrypto import jwt as jc_jwt

from playerplatform.auth.keys import KeyRing, Signer, _generate
from playerplatform.kit import migrate
from playerplatform.kit.db import Database
from playerplatform.kit.settings import Settings
from tests.conftest import fresh_database


async def test_processes_starting_together_share_one_signing_key(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        settings = make_settings(database_url=url)
        databases = [Database(settings) for _ in range(4)]
        rings = [KeyRing(settings, db) for db in databases]
        try:
            await asyncio.gather(*(ring.load(create_if_missing=True) for ring in rings))
            claims = {"sub": "p1", "iss": settings.jwt_issuer, "aud": "game-client", "exp": 2**40}
            tokens = [await ring.sign({**claims, "iat": 0}) for ring in rings]
            # Every process verifies every other process's tokens at once: one key was made.
            for ring in rings:
                for token in tokens:
                    claims = await ring.decode(token, audience="game-client")
                    assert claims["sub"] == "p1"
            assert len({tuple(k["kid"] for k in ring.jwks()["keys"]) for ring in rings}) == 1
            assert len(rings[0].jwks()["keys"]) == 1
        finally:
            for db in databases:
                await db.dispose()


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256"])
def test_signed_tokens_verify_with_independent_jose_libraries(algorithm: str) -> None:
    pem, public_jwk = _generate(algorithm)
    public_jwk.update({"kid": "k-1", "alg": algorithm, "use": "sig"})
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    claims = {"sub": "p1", "aud": "game-client", "exp": 2**40, "roles": ["player"], "n": "é"}
    token = Signer("k-1", algorithm, private).sign(claims)

    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": algorithm, "kid": "k-1", "typ": "JWT"}
    signature = base64.urlsafe_b64decode(token.split(".")[2] + "==")
    assert len(signature) == 64  # Ed25519, and ES256's r || s (not DER)
    verified = jc_jwt.JWT(jwt=token, key=jwk.JWK(**public_jwk), algs=[algorithm])
    assert json.loads(verified.claims) == claims
    decoded = pyjwt.decode(
        token, private.public_key(), algorithms=[algorithm], audience="game-client"
    )
    assert decoded == claims

    body = token.split(".")[1]
    forged = token.replace(body, body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1])
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(forged, private.public_key(), algorithms=[algorithm], audience="game-client")
