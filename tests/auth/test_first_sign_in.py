"""A device's first sign-in: on PostgreSQL it runs on the hot path below the ORM, with the
first sign-ins under way at the same time written in one statement (`ClaimBatcher`); on
SQLite the endpoint serves it. Either way it must write and answer exactly what the general
sign-in path does, and concurrent first sign-ins of one device must make one account."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.auth.first_sign_in import Claim, ClaimBatcher
from playerplatform.auth.models import AccountLink, Identity, RefreshToken, Session
from playerplatform.auth.providers import device_key
from playerplatform.kit import migrate
from playerplatform.kit.db import Base, Database
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from playerplatform.users import service as users
from playerplatform.users.models import Profile, User
from tests.conftest import fresh_database
from tests.support.players import auth


async def _login(client: httpx.AsyncClient, device_id: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/device/login",
        json={"device_id": device_id},
        headers={"User-Agent": "first-sign-in-test", **headers},
    )


async def _count(runtime: Runtime, query: Any) -> int:
    async with runtime.db.unit_of_work(write=False) as uow:
        return int((await uow.session.execute(query)).scalar_one())


async def test_concurrent_first_sign_ins_make_one_account_per_device(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shared = f"device-{secrets.token_hex(8)}"
    others = [f"device-{secrets.token_hex(8)}" for _ in range(20)]
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    responses = await asyncio.gather(
        *(_login(client, shared) for _ in range(20)), *(_login(client, d) for d in others)
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses[:3]]
    bodies = [r.json() for r in responses]

    same = bodies[:20]
    assert len({b["user"]["canonical_id"] for b in same}) == 1
    assert sum(b["created"] for b in same) == 1
    assert all(b["created"] for b in bodies[20:])
    assert len({b["user"]["canonical_id"] for b in bodies}) == 21

    count = sa.select(sa.func.count())
    assert (
        await _count(
            runtime,
            count.select_from(Identity).where(
                Identity.provider == "device",
                Identity.provider_id.in_([device_key(d) for d in [shared, *others]]),
            ),
        )
        == 21
    )
    # No account was left behind by a claim that lost the race.
    orphans = count.select_from(User).where(
        User.created_at >= started,
        ~sa.exists().where(Identity.user_id == User.id),
        User.status == "active",
    )
    assert await _count(runtime, orphans) == 0
    # Every answer opened its own session, and every token works.
    sids = {b["access_token"] for b in bodies}
    assert len(sids) == 40
    me = await asyncio.gather(
        *(client.get("/api/v1/users/me", headers=auth(b)) for b in bodies[::7])
    )
    assert all(r.status_code == 200 for r in me)


async def test_a_first_sign_in_writes_the_account_its_link_session_and_audit_row(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    device_id = f"device-{secrets.token_hex(8)}"
    response = await _login(client, device_id, **{"User-Agent": "x" * 300})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] is True
    assert body["token_type"] == "Bearer"
    assert body["user"]["identities"] == [
        {
            "provider": "device",
            "provider_id": device_key(device_id),  # stored, and shown, as its hash
            "linked_at": body["user"]["created_at"],
        }
    ]
    assert int(response.headers["RateLimit-Limit"]) > 0
    request_id = response.headers["X-Request-Id"]

    async with runtime.db.unit_of_work(write=False) as uow:
        user = (
            await uow.session.execute(
                sa.select(User).where(User.canonical_id == body["user"]["canonical_id"])
            )
        ).scalar_one()
        links = (
            (
                await uow.session.execute(
                    sa.select(AccountLink).where(AccountLink.user_id == user.id)
                )
            )
            .scalars()
            .all()
        )
        sessions = (
            (await uow.session.execute(sa.select(Session).where(Session.user_id == user.id)))
            .scalars()
            .all()
        )
        refresh = (
            (
                await uow.session.execute(
                    sa.select(RefreshToken).where(RefreshToken.session_id == sessions[0].id)
                )
            )
            .scalars()
            .all()
        )
        audits = (
            (
                await uow.session.execute(
                    sa.select(AuditLog).where(AuditLog.actor_id == user.canonical_id)
                )
            )
            .scalars()
            .all()
        )
    assert user.roles == ["player"] and user.status == "active"
    assert [(link.provider, link.provider_id, link.action) for link in links] == [
        ("device", device_key(device_id), "link")
    ]
    assert len(sessions) == 1 and sessions[0].status == "active"
    assert sessions[0].user_agent == "x" * 256
    assert len(refresh) == 1 and refresh[0].used_at is None
    assert [(a.action, a.outcome, a.request_id) for a in audits] == [
        ("auth.register", "success", request_id)
    ]
    assert audits[0].new_values == {"provider": "device"}

    again = await _login(client, device_id)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["user"] == body["user"]


async def test_the_hot_path_answers_as_the_endpoint(client: httpx.AsyncClient) -> None:
    # A content type with parameters goes to the endpoint itself, plain JSON to the hot path.
    hot = await _login(client, f"device-{secrets.token_hex(8)}")
    endpoint = await client.post(
        "/api/v1/auth/device/login",
        content=f'{{"device_id": "device-{secrets.token_hex(8)}"}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert hot.status_code == endpoint.status_code == 200
    assert hot.headers["content-type"] == endpoint.headers["content-type"]
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-Request-Id"):
        assert name in hot.headers and name in endpoint.headers

    def skeleton(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: skeleton(v) for k, v in value.items()}
        if isinstance(value, list):
            return [skeleton(v) for v in value]
        return type(value).__name__

    assert skeleton(hot.json()) == skeleton(endpoint.json())
    assert list(hot.json()) == list(endpoint.json())


@pytest.mark.parametrize("body", ['{"device_id": "short"}', '{"device_id": 42}', "{", "[]"])
async def test_bad_bodies_get_the_endpoints_problem(client: httpx.AsyncClient, body: str) -> None:
    response = await client.post(
        "/api/v1/auth/device/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("validation_error", "malformed_json", "bad_request")


def table_row(obj: Base) -> dict[str, Any]:
    """The column values of a mapped object built in Python (not loaded)."""
    return {
        c.key: getattr(obj, c.key)
        for c in obj.__table__.columns
        if getattr(obj, c.key) is not None or c.nullable
    }


def _claim(device_id: str, data: dict[str, Any] | None = None) -> Claim:
    user_row, profile_row = users.new_account_rows()
    user = User(**user_row)
    identity = Identity(
        id=uuid.uuid4(),
        user_id=user.id,
        provider="device",
        provider_id=device_id,
        secret_hash=None,
        data=data or {},
        linked_at=user.created_at,
        last_login_at=user.created_at,
    )
    link = AccountLink(
        id=uuid.uuid4(),
        user_id=user.id,
        provider="device",
        provider_id=device_id,
        action="link",
        other_user_id=None,
        created_at=user.created_at,
    )
    return Claim(
        rows=[(User.__table__, user_row), (Profile.__table__, profile_row)],
        claim=(Identity.__table__, table_row(identity)),
        after_claim=[(AccountLink.__table__, table_row(link))],
        unless=(Identity.__table__, {"provider": "device", "provider_id": device_id}),
    )


async def test_claims_batched_together_each_get_their_own_outcome(tmp_path: Path) -> None:
    """Straight on PostgreSQL (the batcher is PostgreSQL's), in both test shapes."""
    async with fresh_database(tmp_path, shape="production") as url:
        await migrate.upgrade_async(url)
        db = Database(Settings(database_url=url))
        batcher = ClaimBatcher(db)
        try:
            known = _claim("device-known-0001")
            assert await batcher.claim(known) == (True, False)

            twin = f"device-{secrets.token_hex(8)}"
            claims = [
                _claim(f"device-{secrets.token_hex(8)}"),
                _claim("device-known-0001"),  # an account has it already
                _claim(twin),
                _claim(twin),  # the same device twice in one batch
                _claim(f"device-{secrets.token_hex(8)}", {"no json": {1}}),  # fails
                _claim(f"device-{secrets.token_hex(8)}"),
            ]
            outcomes = await asyncio.gather(
                *(batcher.claim(c) for c in claims), return_exceptions=True
            )
            assert outcomes[0] == (True, False)
            assert outcomes[1] == (False, True)
            # One twin went in; the other did not, whether it lost in the same statement or,
            # after the failed batch was written claim by claim, found the first one's.
            twins = [outcome[0] for outcome in outcomes[2:4]]  # type: ignore[index]
            assert sorted(twins) == [False, True]
            assert isinstance(outcomes[4], Exception)
            assert outcomes[5] == (True, False)

            # Without a failure the twins meet in one statement: one claims, one loses.
            twin = f"device-{secrets.token_hex(8)}"
            together = await asyncio.gather(*(batcher.claim(_claim(twin)) for _ in range(2)))
            assert sorted(together) == [(False, False), (True, False)]
            async with db.driver_connection() as conn:  # what the caller does with the loser
                await conn.execute(
                    "DELETE FROM users WHERE NOT EXISTS"
                    " (SELECT 1 FROM identities WHERE identities.user_id = users.id)"
                )

            async with db.unit_of_work(write=False) as uow:
                identities = (
                    await uow.session.execute(sa.select(Identity.provider_id, Identity.user_id))
                ).all()
                linked = (await uow.session.execute(sa.select(AccountLink.user_id))).scalars()
                linked_users = set(linked)
            by_device: dict[str, list[uuid.UUID]] = {}
            for device_id, user_id in identities:
                by_device.setdefault(device_id, []).append(user_id)
            assert all(len(owners) == 1 for owners in by_device.values())
            assert len(by_device) == 5  # the known one, two fresh ones, one of each twin pair
            # Links went in only with the claims that went in.
            assert linked_users == {owners[0] for owners in by_device.values()}
        finally:
            await db.dispose()


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _plan_nodes(child))]


async def test_a_claim_probes_the_identity_index_however_many_accounts_exist(
    tmp_path: Path,
) -> None:
    """The guard looks each claim's identity up in an index, on an empty table as on a full
    one. A connection keeps its prepared statement's plan, made when the statement was first
    used; a plan that reads the whole table, chosen while it was small, would go on doing so
    as accounts are added, costing more with each."""
    async with fresh_database(tmp_path, shape="production") as url:
        await migrate.upgrade_async(url)
        db = Database(Settings(database_url=url))
        batcher = ClaimBatcher(db)
        try:
            claims = [_claim(f"device-{secrets.token_hex(8)}") for _ in range(3)]
            statement = batcher.statement(claims[0])

            async def identity_reads() -> list[str]:
                async with db.driver_connection() as conn:
                    await conn.execute("SET plan_cache_mode = force_generic_plan")
                    try:
                        explained = await conn.fetchval(
                            f"EXPLAIN (FORMAT JSON) {statement.sql}", *statement.args(claims)
                        )
                    finally:
                        await conn.execute("RESET plan_cache_mode")
                plan = json.loads(explained) if isinstance(explained, str) else explained
                return [
                    node["Node Type"]
                    for node in _plan_nodes(plan[0]["Plan"])
                    if node.get("Relation Name") == "identities" and "Scan" in node["Node Type"]
                ]

            assert await identity_reads() == ["Index Scan"]  # no account yet
            assert await batcher.claim(_claim("device-first-0001")) == (True, False)
            async with db.driver_connection() as conn:
                await conn.execute(
                    "INSERT INTO identities (id, user_id, provider, provider_id, data, linked_at)"
                    " SELECT gen_random_uuid(), user_id, 'device', 'device-many-' || n, '{}', now()"
                    " FROM identities, generate_series(1, 20000) AS n"
                )
                await conn.execute("ANALYZE identities")
            assert await identity_reads() == ["Index Scan"]
        finally:
            await db.dispose()
