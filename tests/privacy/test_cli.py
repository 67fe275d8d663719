"""`playerplatform export-user` and `erase-user`, run as an operator runs them, over the
session's database: the requests they make are the routes' requests."""

from __future__ import annotations

import asyncio
import subprocess

import httpx

from playerplatform.kit.objects.keys import validate_key
from playerplatform.kit.settings import Settings
from playerplatform.privacy import service
from playerplatform.runtime import Runtime
from tests.privacy.players import wait_for
from tests.support.players import auth, email_register
from tests.support.staff import staff_login
from tests.test_cli import _run


async def cli(
    args: list[str], settings: Settings, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """In a thread: this process's app keeps serving (and its job worker keeps committing)."""
    return await asyncio.to_thread(_run, args, settings.database_url, **env)


async def test_export_and_erase_from_the_command_line(
    client: httpx.AsyncClient, runtime: Runtime, settings: Settings
) -> None:
    admin = await staff_login(client, runtime)
    player = await email_register(client)
    canonical_id = player["user"]["canonical_id"]
    env = {"PP_STORAGE_URL": settings.storage_url}
    if settings.redis_url:
        env |= {"PP_REDIS_URL": settings.redis_url, "PP_REDIS_PREFIX": settings.redis_prefix}

    exported = await cli(["export-user", canonical_id], settings, env)
    assert exported.returncode == 0, exported.stderr
    kind, request_id, status = exported.stdout.split()
    assert (kind, status) == ("export", "pending")
    ready = await wait_for(client, admin, request_id, {"ready"})
    assert ready["requested_by"] == "cli"

    erased = await cli(["erase-user", canonical_id], settings, env)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith("erasure ") and " scheduled, runs at " in erased.stdout
    scheduled = await wait_for(client, admin, erased.stdout.split()[1], {"scheduled"})
    assert scheduled["requested_by"] == "cli" and scheduled["erase_at"]
    if settings.redis_url:  # the server hears of the sign-out (embedded: one process only)
        assert (await client.get("/api/v1/users/me", headers=auth(player))).status_code == 401

    unknown = await cli(["erase-user", "nobody-at-all"], settings, env)
    assert unknown.returncode != 0
    assert "No such user" in unknown.stderr


def test_every_request_id_names_a_valid_export_object() -> None:
    """A request id names its export's object key; one starting with "-" (1 in 64 of the
    URL-safe ids used before) made the export job fail on every attempt."""
    for _ in range(2000):
        public_id = service._public_id()
        assert validate_key(f"{service.EXPORT_PREFIX}{public_id}.zip")
