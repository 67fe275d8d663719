"""The bootstrap admin: created at start-up when no admin exists, never twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, fresh_database, running_app

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
