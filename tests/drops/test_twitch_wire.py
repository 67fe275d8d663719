"""Against Twitch as the emulator plays it, over real HTTP both ways: `playerplatform twitch
subscribe` creates the subscription (app token by client credentials) and Twitch verifies
our callback; the sender delivers batched notifications at least once, with duplicates;
a revocation is recorded; the scheduled reconciliation picks up what no notification
brought."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from playerplatform.app import create_app
from playerplatform.drops.grants import QUEUE, RECONCILE_KIND
from playerplatform.jobs.service import enqueue
from playerplatform.kit.settings import Settings
from tests.conftest import TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET, TWITCH_EVENTSUB_SECRET
from tests.support.commerce import balance
from tests.support.drops import DropsWorld, drop_rows, run_webhook_jobs, wait_until
from tests.support.servers import ServerThread, free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = "from playerplatform.cli import main; main()"


@pytest.fixture
async def served(drops_settings: Callable[..., Settings]) -> AsyncIterator[Settings]:
    """The API on a real port, where the emulator's callbacks reach it."""
    port = free_port()
    settings = drops_settings(public_url=f"http://127.0.0.1:{port}")
    server = ServerThread(create_app(settings), port=port).start()
    try:
        yield settings
    finally:
        await asyncio.to_thread(server.stop)


async def _cli(settings: Settings, *args: str) -> str:
    env = {
        **os.environ,
        "PP_DATABASE_URL": settings.database_url,
        "PP_STORAGE_URL": settings.storage_url,
        "PP_PUBLIC_URL": settings.public_url,
        "PP_TWITCH_CLIENT_ID": TWITCH_CLIENT_ID,
        "PP_TWITCH_CLIENT_SECRET": TWITCH_CLIENT_SECRET,
        "PP_TWITCH_ID_URL": settings.twitch_id_url,
        "PP_TWITCH_API_URL": settings.twitch_api_url,
        "PP_TWITCH_ORGANIZATION_ID": settings.twitch_organization_id or "",
        "PP_TWITCH_EVENTSUB_SECRET": TWITCH_EVENTSUB_SECRET,
        "PP_LOG_LEVEL": "warning",
    }
    for name in ("PP_REDIS_URL", "PP_BROKER_URL"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _emulator(world: DropsWorld, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=world.emulators["twitch"], timeout=60) as http:
        response = await http.post(path, json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def _subscription_of(listing: str, game_id: str) -> tuple[str, str]:
    for line in listing.splitlines():
        if f"category_id={game_id}" in line:
            subscription_id, _type, _version, status = line.split()[:4]
            return subscription_id, status
    raise AssertionError(f"no subscription for {game_id} in {listing!r}")


async def test_subscribe_verify_deliver_with_duplicates_and_revoke(
    world: DropsWorld, served: Settings
) -> None:
    campaign = await world.campaign()
    game_id = campaign["twitch_game_id"]

    listing = await _cli(served, "twitch", "subscribe")
    subscription_id, _ = _subscription_of(listing, game_id)

    async def enabled() -> bool:
        listing = await _cli(served, "twitch", "subscriptions")
        return _subscription_of(listing, game_id)[1] == "enabled"

    await wait_until(enabled, timeout=30)  # Twitch verified our callback: challenge echoed
    # A second `subscribe` makes nothing new for a game already covered.
    again = await _cli(served, "twitch", "subscribe")
    assert sum(f"category_id={game_id}" in line for line in again.splitlines()) == 1

    player, twitch_id = await world.linked_player()
    claims = [await world.claim(campaign, twitch_id) for _ in range(3)]
    sent = await _emulator(
        world,
        "/emulator/eventsub/notify",
        {
            "subscription_id": subscription_id,
            "entitlement_ids": [c.entitlement_id for c in claims],
            "duplicates": 5,
        },
    )
    assert sent["statuses"] == [202] * 6  # six copies of one message, all accepted
    await run_webhook_jobs(world.runtime)
    assert await balance(world.client, player, campaign["sku_id"]) == 3
    for claim in claims:
        state = await world.twitch_state(claim.entitlement_id)
        assert state["fulfillment_status"] == "FULFILLED" and state["patches"] == 1

    revoked = await _emulator(
        world,
        "/emulator/eventsub/revoke",
        {"subscription_id": subscription_id, "status": "authorization_revoked"},
    )
    assert revoked["statuses"] == [202]
    await run_webhook_jobs(world.runtime)
    listing = await _cli(served, "twitch", "subscriptions")
    assert _subscription_of(listing, game_id)[1] == "authorization_revoked"
    assert "revoked_at=" in next(line for line in listing.splitlines() if subscription_id in line)


async def test_the_sender_redelivers_after_a_failed_answer(
    world: DropsWorld, served: Settings
) -> None:
    campaign = await world.campaign()
    listing = await _cli(served, "twitch", "subscribe")
    subscription_id, _ = _subscription_of(listing, campaign["twitch_game_id"])
    _, twitch_id = await world.linked_player()
    claim = await world.claim(campaign, twitch_id)

    # While our secret differs from the subscription's, every answer is 403: Twitch retries.
    served.twitch_eventsub_secret = SecretStr("rotated-away-secret-01")  # the served app's own
    try:
        sent = await _emulator(
            world,
            "/emulator/eventsub/notify",
            {
                "subscription_id": subscription_id,
                "entitlement_ids": [claim.entitlement_id],
                "attempts": 3,
            },
        )
    finally:
        served.twitch_eventsub_secret = SecretStr(TWITCH_EVENTSUB_SECRET)
    assert sent["statuses"] == [403, 403, 403]
    assert await drop_rows(world.runtime, claim.entitlement_id) == []

    # The message again, now answered: stored and granted once.
    sent = await _emulator(
        world,
        "/emulator/eventsub/notify",
        {
            "subscription_id": subscription_id,
            "entitlement_ids": [claim.entitlement_id],
            "message_id": sent["message_id"],
        },
    )
    assert sent["statuses"] == [202]
    await run_webhook_jobs(world.runtime)
    [drop] = await drop_rows(world.runtime, claim.entitlement_id)
    assert drop.status == "fulfilled"


async def test_the_scheduled_reconciliation_grants_what_no_notification_brought(
    world: DropsWorld,
) -> None:
    campaign = await world.campaign(quantity=2)
    player, twitch_id = await world.linked_player()
    missed = await world.claim(campaign, twitch_id)

    async with world.runtime.db.unit_of_work() as uow:
        await enqueue(
            uow, QUEUE, {"kind": RECONCILE_KIND}, key=f"test-reconcile-{missed.entitlement_id}"
        )
    await run_webhook_jobs(world.runtime)

    assert await balance(world.client, player, campaign["sku_id"]) == 2
    [drop] = await drop_rows(world.runtime, missed.entitlement_id)
    assert drop.source == "reconcile" and drop.status == "fulfilled"
