"""Signing keys when several API processes start at once on a fresh database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from playerplatform.auth.keys import KeyRing
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
