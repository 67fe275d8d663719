"""Password hashes made under an older, cheaper policy are upgraded at the next sign-in."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher

from playerplatform.auth.models import Identity
from playerplatform.runtime import Runtime
from tests.support.db import scalar
from tests.support.players import STRONG_PASSWORD, email_register


async def test_an_old_hash_is_upgraded_when_its_owner_signs_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await email_register(client)
    where = (Identity.provider == "email", Identity.provider_id == player["email"])
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(STRONG_PASSWORD)
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(sa.update(Identity).where(*where).values(secret_hash=old))

    login = await client.post(
        "/api/v1/auth/email/login", json={"email": player["email"], "password": STRONG_PASSWORD}
    )
    assert login.status_code == 200
    upgraded = await scalar(runtime, sa.select(Identity.secret_hash).where(*where))
    assert upgraded != old
    assert "m=19456,t=2,p=1" in upgraded
    again = await client.post(
        "/api/v1/auth/email/login", json={"email": player["email"], "password": STRONG_PASSWORD}
    )
    assert again.status_code == 200
    assert await scalar(runtime, sa.select(Identity.secret_hash).where(*where)) == upgraded


async def test_a_wrong_password_never_rewrites_the_hash(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await email_register(client)
    where = (Identity.provider == "email", Identity.provider_id == player["email"])
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(STRONG_PASSWORD)
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(sa.update(Identity).where(*where).values(secret_hash=old))
    wrong = await client.post(
        "/api/v1/auth/email/login", json={"email": player["email"], "password": "wrong-one-123x"}
    )
    assert wrong.status_code == 401
    assert await scalar(runtime, sa.select(Identity.secret_hash).where(*where)) == old
