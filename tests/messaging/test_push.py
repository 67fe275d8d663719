"""Push through the FCM and APNs emulators, reached over HTTP (HTTP/2 for APNs) by the
production clients: delivery, dead-token pruning, retries honouring Retry-After, and the
player's preferences."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import in_unit_of_work
from playerplatform.kit.settings import Settings
from playerplatform.messaging import channels, repository
from playerplatform.messaging.models import PushToken
from playerplatform.messaging.notify import message_row
from playerplatform.messaging.push import PushNote
from playerplatform.platforms.emulators.apns import ApnsEmulator
from playerplatform.platforms.emulators.fcm import create_fcm_emulator
from playerplatform.runtime import Runtime
from playerplatform.users import service as users
from tests.conftest import asgi_client, running_app
from tests.support.db import rows
from tests.support.players import auth, device_login
from tests.support.servers import ServerThread, free_port

NOTE = PushNote(title="Hi", body="There", data={"message_id": "m1"})


class World:
    def __init__(self, runtime: Runtime, client: httpx.AsyncClient, fcm: Any, apns: ApnsEmulator):
        self.runtime, self.client, self.fcm, self.apns = runtime, client, fcm, apns


@pytest.fixture
async def world(tmp_path: Path, make_settings: Callable[..., Settings]) -> AsyncIterator[World]:
    port = free_port()
    fcm_app = create_fcm_emulator(project_id="game-123", base_url=f"http://127.0.0.1:{port}")
    fcm_server = ServerThread(fcm_app, port).start()
    apns = ApnsEmulator(team_id="TEAM123456", key_id="KEY1234567", topic="com.studio.game")
    apns_server = await apns.serve()
    apns_port = apns_server.sockets[0].getsockname()[1]
    account = tmp_path / "service-account.json"
    account.write_bytes(orjson.dumps(fcm_app.state.fcm.service_account()))
    p8 = tmp_path / "AuthKey.p8"
    p8.write_text(apns.key_pem)
    settings = make_settings(
        push_fcm_url=fcm_server.url,
        push_fcm_service_account_file=str(account),
        push_apns_url=f"http://127.0.0.1:{apns_port}",
        push_apns_key_file=str(p8),
        push_apns_key_id="KEY1234567",
        push_apns_team_id="TEAM123456",
        push_apns_topic="com.studio.game",
        push_retry_base_seconds=0.01,
    )
    try:
        async with running_app(settings) as (app, runtime), asgi_client(app) as client:
            yield World(runtime, client, fcm_app.state.fcm, apns)
    finally:
        apns_server.close()
        fcm_server.stop()


async def test_both_services_deliver(world: World) -> None:
    assert await world.runtime.push.send("fcm", "fcm-token-good-1", NOTE) == "sent"
    assert await world.runtime.push.send("apns", "apnstokengood1", NOTE) == "sent"
    [fcm_message] = world.fcm.delivered
    assert fcm_message["token"] == "fcm-token-good-1"
    assert fcm_message["notification"] == {"title": "Hi", "body": "There"}
    assert fcm_message["data"] == {"message_id": "m1"}
    [apns_message] = world.apns.delivered
    assert apns_message["payload"]["aps"]["alert"] == {"title": "Hi", "body": "There"}


async def test_dead_tokens_are_reported(world: World) -> None:
    world.fcm.dead.add("fcm-token-dead")
    world.apns.dead.add("apnstokendead")
    assert await world.runtime.push.send("fcm", "fcm-token-dead", NOTE) == "dead"
    assert await world.runtime.push.send("apns", "apnstokendead", NOTE) == "dead"


async def test_429_and_5xx_are_retried_honouring_retry_after(world: World) -> None:
    world.fcm.fail("fcm-token-flaky", (503, 0.3), (429, None))
    world.apns.fail("apnstokenflaky", (429, 0.3))
    started = time.monotonic()
    assert await world.runtime.push.send("fcm", "fcm-token-flaky", NOTE) == "sent"
    assert time.monotonic() - started >= 0.3
    assert world.fcm.attempts["fcm-token-flaky"] == 3
    assert await world.runtime.push.send("apns", "apnstokenflaky", NOTE) == "sent"
    assert world.apns.attempts["apnstokenflaky"] == 2
    world.apns.fail("apnstokendown", *[(503, None)] * 10)
    assert await world.runtime.push.send("apns", "apnstokendown", NOTE) == "failed"
    assert world.apns.attempts["apnstokendown"] == world.runtime.settings.push_max_attempts


async def _message_for(world: World, player: dict[str, Any]) -> tuple[str, Any]:
    async with world.runtime.db.unit_of_work(write=False) as uow:
        user = await users.get_by_canonical(uow, player["user"]["canonical_id"])
    row = message_row(
        user.id,
        "social",
        title={"en": "Friend request"},
        body={"en": "Bob wants to be your friend."},
        data=None,
        attachments=[],
        key=None,
        expires_at=None,
    )

    async def write(uow: UnitOfWork) -> None:
        await repository.insert_message(uow, row)

    await in_unit_of_work(world.runtime.db, write)
    return str(row["message_id"]), user.id


async def _deliver(world: World, message_id: str) -> dict[str, int]:
    async def work(uow: UnitOfWork) -> dict[str, int]:
        return await channels.deliver(uow, world.runtime, message_id)

    return await in_unit_of_work(world.runtime.db, work)


async def test_delivery_reaches_each_device_and_forgets_dead_ones(world: World) -> None:
    player = await device_login(world.client)
    devices = [
        ("fcm", "fcm-token-alive-2"),
        ("fcm", "fcm-token-gone-2"),
        ("apns", "apnstokenalive2"),
        ("apns", "apnstokengone2"),
    ]
    for platform, token in devices:
        added = await world.client.post(
            "/api/v1/users/me/push-tokens",
            json={"platform": platform, "token": token, "app_id": "com.studio.game"},
            headers=auth(player),
        )
        assert added.status_code == 201, added.text
    world.fcm.dead.add("fcm-token-gone-2")
    world.apns.dead.add("apnstokengone2")
    message_id, user_id = await _message_for(world, player)
    assert await _deliver(world, message_id) == {"email": 0, "push": 2, "dead": 2}
    assert [m["token"] for m in world.fcm.delivered] == ["fcm-token-alive-2"]
    assert [m["token"] for m in world.apns.delivered] == ["apnstokenalive2"]
    left = await rows(world.runtime, sa.select(PushToken.token).where(PushToken.user_id == user_id))
    assert sorted(r[0] for r in left) == ["apnstokenalive2", "fcm-token-alive-2"]


async def test_push_respects_the_players_preferences(world: World) -> None:
    player = await device_login(world.client)
    added = await world.client.post(
        "/api/v1/users/me/push-tokens",
        json={"platform": "fcm", "token": "fcm-token-muted-3"},
        headers=auth(player),
    )
    assert added.status_code == 201
    before = await world.client.get(
        "/api/v1/users/me/notification-preferences", headers=auth(player)
    )
    assert before.status_code == 200 and before.json()["social"]["push"] is True
    prefs = await world.client.put(
        "/api/v1/users/me/notification-preferences",
        json={"social": {"inbox": True, "email": False, "push": False}},
        headers=auth(player),
    )
    assert prefs.status_code == 200, prefs.text
    assert prefs.json()["social"] == {"inbox": True, "email": False, "push": False}
    assert prefs.json()["gift"]["push"] is True
    read = await world.client.get("/api/v1/users/me/notification-preferences", headers=auth(player))
    assert read.json() == prefs.json()  # the read before is not served again
    message_id, _ = await _message_for(world, player)
    assert await _deliver(world, message_id) == {"email": 0, "push": 0, "dead": 0}
    assert world.fcm.delivered == []

    unmuted = await world.client.put(
        "/api/v1/users/me/notification-preferences",
        json={"social": {"inbox": True, "email": False, "push": True}},
        headers=auth(player),
    )
    assert unmuted.status_code == 200
    assert (await _deliver(world, message_id))["push"] == 1
    token_id = added.json()["token_id"]
    gone = await world.client.delete(
        f"/api/v1/users/me/push-tokens/{token_id}", headers=auth(player)
    )
    assert gone.status_code == 204
    again = await world.client.delete(
        f"/api/v1/users/me/push-tokens/{token_id}", headers=auth(player)
    )
    assert again.status_code == 404


async def test_bad_preferences_and_tokens_are_refused(world: World) -> None:
    player = await device_login(world.client)
    for body in (
        {"social": {"inbox": False, "email": False, "push": False}},
        {"spam": {"inbox": True, "email": True, "push": True}},
        {"social": {"email": "yes", "push": True}},
    ):
        answer = await world.client.put(
            "/api/v1/users/me/notification-preferences", json=body, headers=auth(player)
        )
        assert answer.status_code == 422, (body, answer.text)
    for device in (
        {"platform": "sms", "token": "abcdefghij"},
        {"platform": "fcm", "token": "short"},
        {"platform": "apns", "token": "has spaces in it"},
    ):
        answer = await world.client.post(
            "/api/v1/users/me/push-tokens", json=device, headers=auth(player)
        )
        assert answer.status_code == 422, (device, answer.text)
