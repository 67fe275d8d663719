"""The `playerplatform` command line, run as an operator runs it (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHAPE, fresh_database

CLI = [sys.executable, "-m", "playerplatform.cli"]


def _run(args: list[str], database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PP_DATABASE_URL": database_url, "PP_LOG_JSON": "true", **env}
    return subprocess.run(
        [*CLI, *args], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
async def cli_database(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with fresh_database(tmp_path, SHAPE) as url:
        yield url


async def test_migrate_admin_create_and_key_rotation(cli_database: str) -> None:
    url = cli_database
    migrated = _run(["migrate"], url)
    assert migrated.returncode == 0, migrated.stderr
    assert _run(["migrate", "current"], url).stdout.strip() != "none"

    created = _run(
        [
            "admin",
            "create",
            "--email",
            "Ops@Studio.test",
            "--password",
            "an-operator-passphrase-1",
            "--role",
            "moderator",
        ],
        url,
    )
    assert created.returncode == 0, created.stderr
    assert "Created moderator ops@studio.test" in created.stdout
    promoted = _run(["admin", "create", "--email", "ops@studio.test", "--role", "admin"], url)
    assert promoted.returncode == 0, promoted.stderr
    assert "Updated admin" in promoted.stdout

    totp = _run(["admin", "totp", "--email", "ops@studio.test"], url)
    assert totp.returncode == 0, totp.stderr
    assert totp.stdout.startswith("otpauth://totp/") and "secret=" in totp.stdout
    nobody = _run(["admin", "totp", "--email", "nobody@studio.test"], url)
    assert nobody.returncode != 0
    assert "no staff account" in nobody.stderr

    weak = _run(
        ["admin", "create", "--email", "weak@studio.test", "--password", "password123"], url
    )
    assert weak.returncode != 0
    assert "too common" in weak.stderr

    first = _run(["keys", "rotate"], url)
    second = _run(["keys", "rotate"], url)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    first_kid = first.stdout.split()[3].rstrip(";")
    assert f"retired {first_kid}" in second.stdout
    # Neither command printed a secret.
    assert "PRIVATE KEY" not in first.stdout + first.stderr + second.stdout + second.stderr
    assert "an-operator-passphrase-1" not in created.stdout + created.stderr


def test_serve_refuses_several_workers_on_the_embedded_shape(tmp_path: Path) -> None:
    result = _run(
        ["serve", "--workers", "2"], f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", PP_REDIS_URL=""
    )
    assert result.returncode != 0
    assert "--workers 1" in result.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True)
    for command in ("serve", "migrate", "admin", "keys", "emulate"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
        ("::", 9000, "http://[::1]:9000"),
        ("::1", 80, "http://[::1]:80"),
        ("game.internal", 8080, "http://game.internal:8080"),
    ],
)
def test_serving_url_is_where_this_machine_reaches_the_server(
    host: str, port: int, url: str
) -> None:
    from playerplatform.cli import serving_url

    assert serving_url(host, port) == url
