"""A worker killed with SIGKILL in the middle of the drop pipeline (the grant committed, the
fulfilment PATCH in flight) loses nothing and doubles nothing: the next worker takes the job
over once its lease lapses, and the player holds the drop once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from playerplatform.commerce.models import LedgerEntry
from playerplatform.kit.settings import Settings
from tests.conftest import TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET
from tests.jobs.support import die_with_parent
from tests.support.commerce import balance
from tests.support.db import count
from tests.support.drops import (
    DropsWorld,
    drop_rows,
    drops_notification,
    event_row,
    send_twitch,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
WORKER = "from playerplatform.jobs.cli import worker; worker()"


def spawn_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PP_DATABASE_URL": settings.database_url,
        "PP_STORAGE_URL": settings.storage_url,
        "PP_TWITCH_CLIENT_ID": TWITCH_CLIENT_ID,
        "PP_TWITCH_CLIENT_SECRET": TWITCH_CLIENT_SECRET,
        "PP_TWITCH_ID_URL": settings.twitch_id_url,
        "PP_TWITCH_API_URL": settings.twitch_api_url,
        "PP_JOB_LEASE_SECONDS": "2",
        "PP_JOB_POLL_SECONDS": "0.2",
        "PP_SCHEDULER_ENABLED": "false",
        "PP_LOG_LEVEL": "warning",
    }
    env.pop("PP_BROKER_URL", None)
    env.pop("PP_REDIS_URL", None)
    if settings.redis_url:  # the production shape: the same hot store as the API
        env["PP_REDIS_URL"] = settings.redis_url
        env["PP_REDIS_PREFIX"] = settings.redis_prefix
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, "--queues", "webhook_processing", "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )


async def test_a_worker_killed_mid_pipeline_loses_and_doubles_nothing(
    world: DropsWorld, drops_settings: Callable[..., Settings]
) -> None:
    settings = drops_settings()
    campaign = await world.campaign(quantity=5)
    player, twitch_id = await world.linked_player()
    claim = await world.claim(campaign, twitch_id)
    emulator = httpx.AsyncClient(base_url=world.emulators["twitch"])
    await emulator.post("/emulator/drops/slowness", json={"patch_seconds": 60})
    message_id = f"crash-{claim.entitlement_id}"
    message = await send_twitch(world.client, drops_notification(claim), message_id=message_id)
    assert message.status_code == 202

    first = spawn_worker(settings)
    second = None
    try:

        async def patch_in_flight() -> bool:
            return (await world.twitch_state(claim.entitlement_id))["patches"] >= 1

        await wait_until(patch_in_flight, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        [drop] = await drop_rows(world.runtime, claim.entitlement_id)
        assert drop.status == "granted"  # committed before the kill; not yet fulfilled

        await emulator.post("/emulator/drops/slowness", json={"patch_seconds": 0})
        second = spawn_worker(settings)

        async def fulfilled() -> bool:
            [drop] = await drop_rows(world.runtime, claim.entitlement_id)
            return bool(drop.status == "fulfilled")

        await wait_until(fulfilled, timeout=60)
    finally:
        await emulator.post("/emulator/drops/slowness", json={"patch_seconds": 0})
        await emulator.aclose()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                await asyncio.to_thread(process.wait, 15)
    assert await balance(world.client, player, campaign["sku_id"]) == 5
    grants = LedgerEntry.grant_key.like(f"twitch:{claim.entitlement_id}:%")
    assert await count(world.runtime, LedgerEntry, grants) == 1
    assert (
        await event_row(world.runtime, message.headers.get("x-none", "") or "", "twitch")
    ) is None
    assert (await world.twitch_state(claim.entitlement_id))["fulfillment_status"] == "FULFILLED"
