"""The bootstrap admin: created at start-up when no admin exists, never twice."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from playerplatform.auth.bootstrap import create_staff_account
from playerplatform.auth.models import Identity
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from tests.conftest import asgi_client, fresh_database, running_app
from tests.support.db import scalar
from tests.support.players import auth, email_register

PASSWORD = "bootstrap-admin-passphrase-9"


async def test_bootstrap_admin_is_created_once_and_can_sign_in(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        settings = make_settings(
            database_url=url,
            bootstrap_admin_email="Boss@Studio.test",
            bootstrap_admin_password=PASSWORD,
        )
        for _ in range(2):  # a restart finds the admin and creates nothing
            async with running_app(settings) as (app, _), asgi_client(app) as client:
                response = await client.post(
                    "/api/v1/auth/email/login",
                    json={"email": "boss@studio.test", "password": PASSWORD},
                )
                assert response.status_code == 200, response.text
                assert "admin" in response.json()["user"]["roles"]
                users = await client.get(
                    "/api/v1/admin/users",
                    headers={"Authorization": f"Bearer {response.json()['access_token']}"},
                )
                assert len(users.json()["items"]) == 1


async def test_no_password_means_no_bootstrap_admin(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        settings = make_settings(database_url=url, bootstrap_admin_email="boss@studio.test")
        async with running_app(settings) as (app, _), asgi_client(app) as client:
            response = await client.post(
                "/api/v1/auth/email/login", json={"email": "boss@studio.test", "password": PASSWORD}
            )
            assert response.status_code == 401


async def test_staff_emails_obey_the_api_rule(runtime: Runtime) -> None:
    """The command line and the bootstrap setting take an address by the API's own rule."""
    for bad in ("not-an-email", "boss@", " boss@studio.test", "a" * 250 + "@studio.test"):
        with pytest.raises(ValueError):
            await create_staff_account(runtime, email=bad, password=PASSWORD)
    email = f"Staff.{secrets.token_hex(4)}@Studio.TEST"
    canonical_id, created = await create_staff_account(runtime, email=email, password=PASSWORD)
    assert created
    stored = await scalar(
        runtime,
        sa.select(Identity.provider_id).where(
            Identity.provider == "email", Identity.provider_id == email.lower()
        ),
    )
    assert stored == email.lower()


async def test_promoting_a_never_verified_address_needs_a_password_and_drops_the_rest(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Whoever registered the address may not own it: the operator's grant takes it back."""
    squatter = await email_register(client)
    guest_device = await client.post(
        "/api/v1/auth/device/login", json={"device_id": "squatter-" + secrets.token_hex(6)}
    )
    assert guest_device.status_code == 200
    with pytest.raises(ValueError):
        await create_staff_account(runtime, email=squatter["email"], password=None)
    await create_staff_account(runtime, email=squatter["email"], password=PASSWORD)
    assert (await client.get("/api/v1/users/me", headers=auth(squatter))).status_code == 401
    old = await client.post(
        "/api/v1/auth/email/login",
        json={"email": squatter["email"], "password": squatter["password"]},
    )
    assert old.status_code == 401
    staff = await client.post(
        "/api/v1/auth/email/login", json={"email": squatter["email"], "password": PASSWORD}
    )
    assert staff.status_code == 200
    assert staff.json()["user"]["email_verified"] is True
    assert "admin" in staff.json()["user"]["roles"]
