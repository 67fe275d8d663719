"""The realtime WebSocket against real servers: authentication (header or first frame),
events as they happen, replay with `?after=`, closing on logout and ban, bad frames, and
fan-out across two API processes (through Redis in the production shape)."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
import redis.exceptions
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from playerplatform.app import create_app
from playerplatform.kit.settings import Settings
from playerplatform.messaging.hub import RedisHub
from playerplatform.runtime import Runtime
from tests.conftest import REDIS_URL, SHAPE
from tests.support.messaging import send
from tests.support.players import auth, device_login
from tests.support.proxy import TcpProxy
from tests.support.servers import ServerThread
from tests.support.staff import staff_login


class Api:
    """One API process on a loopback port."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=10)
        self.ws_url = server.url.replace("http://", "ws://") + "/api/v1/realtime"

    def socket(self, token: str | None = None, query: str = "") -> Any:
        url = self.ws_url + (f"?{query}" if query else "")
        if token is None:
            return connect(url, open_timeout=5)
        return connect(url, subprotocols=["bearer", token], open_timeout=5)  # type: ignore[list-item]


@pytest.fixture(scope="module")
async def apis(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[Api, Api]]:
    fast = {"realtime_check_seconds": 0.2, "realtime_auth_seconds": 1.0}
    first = ServerThread(create_app(make_settings(**fast))).start()
    second = ServerThread(create_app(make_settings(**fast))).start()
    pair = (Api(first), Api(second))
    yield pair
    for api in pair:
        await api.http.aclose()
        api.server.stop()


async def _frame(ws: ClientConnection, wanted: str = "message") -> dict[str, Any]:
    while True:
        async with asyncio.timeout(5):
            frame: dict[str, Any] = orjson.loads(await ws.recv())
        if frame["type"] == wanted:
            return frame


async def _closed(ws: ClientConnection) -> tuple[int | None, list[Any]]:
    """The close code, and whatever was received before it."""
    received = []
    try:
        async with asyncio.timeout(5):
            while True:
                received.append(await ws.recv())
    except ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), received


async def test_events_arrive_as_they_happen(apis: tuple[Api, Api], runtime: Runtime) -> None:
    api = apis[0]
    admin = await staff_login(api.http, runtime)
    player = await device_login(api.http)
    async with api.socket(player["access_token"]) as ws:
        assert ws.subprotocol == "bearer"
        sent = await send(api.http, admin, player, title="Live")
        frame = await _frame(ws)
        assert frame["data"]["message_id"] == sent["message_id"]
        assert frame["data"]["title"] == "Live" and frame["id"]
        await ws.send(orjson.dumps({"type": "ping"}).decode())
        assert (await _frame(ws, "pong"))["type"] == "pong"


async def test_the_token_may_come_as_the_first_frame(
    apis: tuple[Api, Api], runtime: Runtime
) -> None:
    api = apis[0]
    admin = await staff_login(api.http, runtime)
    player = await device_login(api.http)
    async with api.socket() as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": player["access_token"]}).decode())
        await asyncio.sleep(0.2)
        sent = await send(api.http, admin, player)
        assert (await _frame(ws))["data"]["message_id"] == sent["message_id"]


@pytest.mark.parametrize(
    "how", ["bad-header-token", "bad-frame-token", "no-frame", "not-json", "refresh-token"]
)
async def test_a_socket_without_a_valid_token_is_closed_4401_before_anything(
    apis: tuple[Api, Api], how: str
) -> None:
    api = apis[0]
    player = await device_login(api.http)
    if how == "bad-header-token":
        ws = await api.socket("not-a-token").__aenter__()
    else:
        ws = await api.socket().__aenter__()
        if how == "bad-frame-token":
            await ws.send(orjson.dumps({"type": "auth", "token": "x.y.z"}).decode())
        elif how == "not-json":
            await ws.send("{{{{")
        elif how == "refresh-token":
            await ws.send(orjson.dumps({"type": "auth", "token": player["refresh_token"]}).decode())
    code, received = await _closed(ws)
    assert (code, received) == (4401, [])


async def test_a_reconnect_with_after_gets_exactly_what_it_missed(
    apis: tuple[Api, Api], runtime: Runtime
) -> None:
    api = apis[0]
    admin = await staff_login(api.http, runtime)
    player = await device_login(api.http)
    async with api.socket(player["access_token"]) as ws:
        await send(api.http, admin, player, title="seen")
        last = (await _frame(ws))["id"]
    missed = [
        (await send(api.http, admin, player, title=f"missed {i}"))["message_id"] for i in range(3)
    ]
    async with api.socket(player["access_token"], f"after={last}") as ws:
        replayed = [(await _frame(ws))["data"]["message_id"] for _ in range(3)]
        assert replayed == missed
        live = await send(api.http, admin, player, title="live again")
        assert (await _frame(ws))["data"]["message_id"] == live["message_id"]


async def test_logout_closes_the_socket(apis: tuple[Api, Api]) -> None:
    api = apis[0]
    player = await device_login(api.http)
    async with api.socket(player["access_token"]) as ws:
        out = await api.http.post("/api/v1/auth/logout", headers=auth(player), json={})
        assert out.status_code == 204
        code, _ = await _closed(ws)
        assert code == 4401


async def test_a_ban_closes_the_socket(apis: tuple[Api, Api], runtime: Runtime) -> None:
    api = apis[0]
    admin = await staff_login(api.http, runtime)
    player = await device_login(api.http)
    async with api.socket(player["access_token"]) as ws:
        banned = await api.http.post(
            f"/api/v1/admin/users/{player['user']['canonical_id']}/ban",
            json={"reason": "cheating"},
            headers=auth(admin),
        )
        assert banned.status_code == 200, banned.text
        code, received = await _closed(ws)
        assert code == 4403
        assert any(orjson.loads(r)["type"] == "sanction" for r in received)


@pytest.mark.parametrize("frame,code", [("x" * 10_000, 1009), ('{"type": "dance"}', 4400)])
async def test_bad_frames_close_the_socket(apis: tuple[Api, Api], frame: str, code: int) -> None:
    api = apis[0]
    player = await device_login(api.http)
    async with api.socket(player["access_token"]) as ws:
        await ws.send(frame)
        assert (await _closed(ws))[0] == code


async def test_an_event_raised_in_one_process_reaches_a_socket_on_another(
    apis: tuple[Api, Api], runtime: Runtime
) -> None:
    listening, raising = apis
    if SHAPE == "embedded":  # one process holds every socket: the hub is in-process
        raising = listening
    admin = await staff_login(raising.http, runtime)
    player = await device_login(listening.http)
    async with listening.socket(player["access_token"]) as ws:
        sent = await send(raising.http, admin, player, title="from afar")
        assert (await _frame(ws))["data"]["message_id"] == sent["message_id"]


async def test_the_socket_closes_when_its_token_expires(
    make_settings: Callable[..., Settings],
) -> None:
    server = ServerThread(create_app(make_settings(access_token_ttl=2))).start()
    api = Api(server)
    try:
        player = await device_login(api.http)
        async with api.socket(player["access_token"]) as ws:
            started = asyncio.get_running_loop().time()
            code, _ = await _closed(ws)
            assert code == 4401
            assert asyncio.get_running_loop().time() - started < 4
    finally:
        await api.http.aclose()
        server.stop()


async def test_a_publish_to_a_silent_redis_fails_within_the_hot_store_timeout() -> None:
    """Events are published after their commit, inside the request that raised them: a Redis
    gone silent fails the publish within `PP_REDIS_TIMEOUT_SECONDS` (the event stays kept
    for `?after=` replay) instead of holding the request for ever, and publishing works
    again once Redis answers."""
    target = urlsplit(REDIS_URL)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    hub = RedisHub(proxy.url, f"test-realtime-{secrets.token_hex(4)}", 5, timeout=0.5)
    try:
        await hub.publish(uuid.uuid4(), {"type": "ping"})
        proxy.silence()
        started = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            await hub.publish(uuid.uuid4(), {"type": "ping"})
        assert time.monotonic() - started < 3.0
        proxy.restore()
        await hub.publish(uuid.uuid4(), {"type": "ping"})
    finally:
        await hub.close()
        await proxy.close()
