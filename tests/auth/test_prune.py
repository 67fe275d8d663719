"""Sign-ins leave rows behind (a session per sign-in, a refresh token per refresh): ended
sessions and expired tokens are deleted once past `PP_SESSION_RETENTION_DAYS`, and nothing a
player can still use goes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.auth import repository
from playerplatform.auth.jobs import PRUNE_KIND, prune_sign_ins
from playerplatform.auth.models import EmailToken, RefreshToken, Session
from playerplatform.auth.tokens import hash_token
from playerplatform.jobs.maintenance import QUEUE
from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import new_uuid, utcnow
from playerplatform.runtime import Runtime
from tests.support.players import auth, device_login


async def _session_id(client: httpx.AsyncClient, tokens: dict[str, Any]) -> str:
    listed = (await client.get("/api/v1/auth/sessions", headers=auth(tokens))).json()["items"]
    (current,) = (s["session_id"] for s in listed if s["current"])
    return str(current)


async def _age(runtime: Runtime, public_id: str, **days: float) -> None:
    """Move a session's `revoked_at` / `expires_at` that many days into the past."""
    values: dict[str, Any] = {
        column: utcnow() - dt.timedelta(days=ago) for column, ago in days.items()
    }
    if "revoked_at" in values:
        values["status"] = "revoked"
    async with runtime.db.unit_of_work() as uow:
        await uow.session.execute(
            sa.update(Session).where(Session.public_id == public_id).values(**values)
        )


async def _prune(runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as uow:
        run = JobRun(new_uuid(), "prune", QUEUE, None, {"kind": PRUNE_KIND}, 1, 5)
        await prune_sign_ins(uow, run, runtime)


async def _sessions_left(runtime: Runtime, public_ids: list[str]) -> list[bool]:
    async with runtime.db.unit_of_work(write=False) as uow:
        found = set(
            (
                await uow.session.execute(
                    sa.select(Session.public_id).where(Session.public_id.in_(public_ids))
                )
            ).scalars()
        )
    return [p in found for p in public_ids]


async def _tokens_of(runtime: Runtime, public_id: str) -> int:
    async with runtime.db.unit_of_work(write=False) as uow:
        query = (
            sa.select(sa.func.count())
            .select_from(RefreshToken)
            .join(Session, Session.id == RefreshToken.session_id)
            .where(Session.public_id == public_id)
        )
        return int((await uow.session.execute(query)).scalar_one())


async def test_ended_sessions_past_retention_go_with_their_tokens_and_nothing_else(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    retention = runtime.settings.session_retention_days
    players = [await device_login(client) for _ in range(4)]
    ids = [await _session_id(client, p) for p in players]
    await _age(runtime, ids[0], revoked_at=retention + 1)  # revoked long ago: goes
    await _age(runtime, ids[1], expires_at=retention + 1)  # expired long ago: goes
    await _age(runtime, ids[2], revoked_at=retention - 1)  # revoked lately: stays a while
    assert await _tokens_of(runtime, ids[0]) == 1
    await _prune(runtime)
    assert await _sessions_left(runtime, ids) == [False, False, True, True]
    assert await _tokens_of(runtime, ids[0]) == 0
    # The live session still refreshes, and its player is still signed in.
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": players[3]["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert (await client.get("/api/v1/users/me", headers=auth(refreshed.json()))).status_code == 200


async def test_refresh_tokens_and_mailed_tokens_long_expired_go(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    retention = runtime.settings.session_retention_days
    tokens = await device_login(client)
    session_id = await _session_id(client, tokens)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    long_ago = utcnow() - dt.timedelta(days=retention + 1)
    async with runtime.db.unit_of_work() as uow:
        # The first, used token expired long ago; the one in use has not.
        await uow.session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.token_hash == hash_token(tokens["refresh_token"]))
            .values(expires_at=long_ago)
        )
        session = (
            await uow.session.execute(sa.select(Session).where(Session.public_id == session_id))
        ).scalar_one()
        for name, expires in (("old", long_ago), ("new", utcnow() + dt.timedelta(days=1))):
            uow.session.add(
                EmailToken(
                    token_hash=hash_token(f"{session_id}-{name}"),
                    user_id=session.user_id,
                    purpose="verify",
                    email="someone@example.com",
                    expires_at=expires,
                )
            )
    assert await _tokens_of(runtime, session_id) == 2
    await _prune(runtime)
    assert await _tokens_of(runtime, session_id) == 1
    async with runtime.db.unit_of_work(write=False) as uow:
        mailed = set(
            (
                await uow.session.execute(
                    sa.select(EmailToken.token_hash).where(
                        EmailToken.token_hash.in_(
                            [hash_token(f"{session_id}-old"), hash_token(f"{session_id}-new")]
                        )
                    )
                )
            ).scalars()
        )
    assert mailed == {hash_token(f"{session_id}-new")}
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert again.status_code == 200, again.text


async def test_a_run_takes_a_bounded_batch(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = [await _session_id(client, await device_login(client)) for _ in range(3)]
    for public_id in ids:
        await _age(runtime, public_id, revoked_at=400)
    cutoff = utcnow() - dt.timedelta(days=300)
    async with runtime.db.unit_of_work() as uow:
        assert await repository.delete_ended_sessions(uow, before=cutoff, limit=2) == 2
    assert sorted(await _sessions_left(runtime, ids)) == [False, False, True]


async def test_pruning_is_scheduled(runtime: Runtime) -> None:
    entry = runtime.jobs.registry.schedules["auth_prune"]
    assert entry.queue == QUEUE and entry.cron == "*/5 * * * *"
    assert entry.payload(utcnow()) == {"kind": PRUNE_KIND}
