"""A device id is a guest's only credential: it is stored as its SHA-256 (the login looks the
hash up), staff see a fingerprint of it, and neither it nor its hash reaches the audit log.
The migration converts the rows written before."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.auth.models import AccountLink, Identity
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.conftest import asgi_client, fresh_database, running_app
from tests.support.db import count, rows, scalar
from tests.support.players import auth, device_login
from tests.support.staff import staff_login


def _sha256(device_id: str) -> str:
    return hashlib.sha256(device_id.encode()).hexdigest()


def _new_device() -> str:
    return f"device-{secrets.token_hex(12)}"


async def _audit_text(runtime: Runtime) -> str:
    found = await rows(
        runtime, sa.select(AuditLog.resource_id, AuditLog.old_values, AuditLog.new_values)
    )
    return repr(found)


async def test_a_device_id_is_stored_as_its_hash_and_signs_in_by_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    device = _new_device()
    first = await device_login(client, device)
    assert first["created"] is True
    stored = await scalar(
        runtime,
        sa.select(Identity.provider_id).where(
            Identity.provider == "device", Identity.provider_id == _sha256(device)
        ),
    )
    assert stored == _sha256(device)
    assert await count(runtime, Identity, Identity.provider_id == device) == 0
    assert await count(runtime, AccountLink, AccountLink.provider_id == device) == 0
    # The owner sees the hash (not a credential: signing in with it opens nothing of theirs).
    assert first["user"]["identities"][0]["provider_id"] == _sha256(device)
    again = await device_login(client, device)
    assert again["created"] is False
    assert again["user"]["canonical_id"] == first["user"]["canonical_id"]
    with_hash = await device_login(client, _sha256(device))
    assert with_hash["user"]["canonical_id"] != first["user"]["canonical_id"]


async def test_staff_see_a_fingerprint_and_find_players_by_device_id(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    device = _new_device()
    player = await device_login(client, device)
    admin = auth(await staff_login(client, runtime, "admin"))
    fingerprint = _sha256(device)[:8] + "…"

    detail = await client.get(
        f"/api/v1/admin/users/{player['user']['canonical_id']}", headers=admin
    )
    assert detail.status_code == 200
    assert [i["provider_id"] for i in detail.json()["identities"]] == [fingerprint]
    assert device not in detail.text and _sha256(device) not in detail.text

    found = await client.get("/api/v1/admin/users", params={"q": device}, headers=admin)
    assert [u["canonical_id"] for u in found.json()["items"]] == [player["user"]["canonical_id"]]
    assert [i["provider_id"] for i in found.json()["items"][0]["identities"]] == [fingerprint]
    assert device not in found.text and _sha256(device) not in found.text


async def test_linking_and_unlinking_a_device_leave_no_device_id_in_the_audit_log(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await device_login(client)
    second = _new_device()
    linked = await client.post(
        "/api/v1/auth/links/device", json={"device_id": second}, headers=auth(player)
    )
    assert linked.status_code == 200
    # Unlinking names the identity as the account shows it; the raw id is never in a path.
    raw = await client.delete(f"/api/v1/auth/links/device/{second}", headers=auth(player))
    assert raw.status_code == 404
    unlinked = await client.delete(
        f"/api/v1/auth/links/device/{_sha256(second)}", headers=auth(player)
    )
    assert unlinked.status_code == 200, unlinked.text
    audit = await _audit_text(runtime)
    assert f"device:{_sha256(second)[:8]}…" in audit
    for secret in (second, player["device_id"], _sha256(second), _sha256(player["device_id"])):
        assert secret not in audit


async def test_the_migration_hashes_device_ids_already_stored(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    device, linked = _new_device(), _new_device()
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        settings = make_settings(database_url=url)
        async with running_app(settings) as (app, runtime), asgi_client(app) as client:
            player = await device_login(client, device)
            response = await client.post(
                "/api/v1/auth/links/device", json={"device_id": linked}, headers=auth(player)
            )
            assert response.status_code == 200
            # The rows as the previous revision wrote them: the ids themselves.
            async with runtime.db.unit_of_work() as uow:
                for raw in (device, linked):
                    for table in (Identity, AccountLink):
                        await uow.session.execute(
                            sa.update(table)
                            .where(table.provider_id == _sha256(raw))
                            .values(provider_id=raw)
                        )
                await uow.session.execute(
                    sa.update(AuditLog)
                    .where(AuditLog.action == "auth.link")
                    .values(
                        resource_id=f"device:{linked}",
                        new_values={"provider": "device", "provider_id": linked},
                    )
                )
        await asyncio.to_thread(migrate.downgrade, url, "0007")
        await migrate.upgrade_async(url)
        async with running_app(settings) as (app, runtime), asgi_client(app) as client:
            for raw in (device, linked):
                assert await count(runtime, Identity, Identity.provider_id == raw) == 0
                assert await count(runtime, AccountLink, AccountLink.provider_id == raw) == 0
                again = await device_login(client, raw)
                assert again["created"] is False
                assert again["user"]["canonical_id"] == player["user"]["canonical_id"]
            audit = await _audit_text(runtime)
            assert linked not in audit and device not in audit
            assert f"device:{_sha256(linked)[:8]}…" in audit
