"""`GET /api/v1/realtime` (WebSocket): a running game's live channel.

- The access token comes in the `Sec-WebSocket-Protocol` header (`bearer, <token>`; the
  server answers with the `bearer` subprotocol) or as the first frame,
  `{"type": "auth", "token": "..."}`, within `PP_REALTIME_AUTH_SECONDS`. Never in the URL
  (URLs end up in logs). Without a valid token the socket is closed with 4401 before
  anything is sent; a banned account gets 4403.
- Server frames are `{"type", "id", "data"}`. `?after=<id>` first replays the caller's events
  after that id from the durable log, then goes live; the socket is held by the hub before
  the replay is read, and live frames the replay already sent are skipped by id, so nothing
  is missed or sent twice.
- Keepalive: the server sends `{"type": "ping"}` every `PP_REALTIME_PING_SECONDS` and closes
  (1011) a socket that has not answered the previous one with `{"type": "pong"}`; a client
  may send `{"type": "ping"}` and gets a pong.
- Every `PP_REALTIME_CHECK_SECONDS` the session is checked as a request would check it:
  logout or a revoked session closes with 4401, a ban with 4403, and the token's expiry
  closes with 4401 at that moment.
- At most `PP_REALTIME_MAX_SOCKETS_PER_PLAYER` sockets per player per process (4429 after);
  a client frame over `PP_REALTIME_MAX_FRAME_BYTES`, or one that is not a JSON object of a
  known type, closes with 1009 or 4400.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from playerplatform.auth.deps import Principal, authenticate
from playerplatform.kit.errors import AccountBanned, AppError
from playerplatform.messaging import repository
from playerplatform.messaging.hub import Socket

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

router = APIRouter()

UNAUTHORIZED, FORBIDDEN, BAD_FRAME, TOO_MANY = 4401, 4403, 4400, 4429
TOO_BIG, NO_PONG, SLOW = 1009, 1011, 1013


class Closed(Exception):
    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _header_token(websocket: WebSocket) -> str | None:
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if len(offered) == 2 and offered[0].lower() == "bearer" and offered[1]:
        return offered[1]
    return None


def _after(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("after")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise Closed(BAD_FRAME, "after must be an event id")
    return int(raw)


async def _check(rt: Runtime, token: str) -> Principal:
    try:
        principal = (await authenticate(rt, token)).principal
    except AccountBanned:
        raise Closed(FORBIDDEN, "banned") from None
    except AppError:
        raise Closed(UNAUTHORIZED, "unauthorized") from None
    if principal.user_id is None:
        raise Closed(UNAUTHORIZED, "players only")
    return principal


class Connection:
    """One accepted socket: its player, token and keepalive state."""

    def __init__(self, websocket: WebSocket, rt: Runtime, token: str, principal: Principal):
        assert principal.user_id is not None
        self.ws, self.rt, self.token = websocket, rt, token
        self.user_id: uuid.UUID = principal.user_id
        self.expires = float(principal.claims.get("exp", time.time() + 3600))
        self.socket = Socket(self.user_id)
        self.sent_up_to = 0
        self.awaiting_pong = False

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())

    async def replay(self, after: int) -> None:
        async with self.rt.db.unit_of_work(write=False) as uow:
            events = await repository.events_after(
                uow, self.user_id, after, self.rt.settings.realtime_replay_limit
            )
        self.sent_up_to = after
        for event in events:
            await self.send({"type": event.type, "id": str(event.id), "data": event.data})
            self.sent_up_to = event.id

    async def forward(self) -> None:
        while True:
            frame = await self.socket.frames.get()
            if self.socket.overflowed:
                raise Closed(SLOW, "too slow: reconnect with ?after=")
            event_id = frame.get("id")
            if event_id is not None and int(event_id) <= self.sent_up_to:
                continue  # the replay sent it already
            await self.send(frame)

    async def listen(self) -> None:
        limit = self.rt.settings.realtime_max_frame_bytes
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text") or message.get("bytes") or b""
            if len(raw) > limit:
                raise Closed(TOO_BIG, "frame too large")
            kind = _frame_type(raw)
            if kind == "ping":
                await self.send({"type": "pong", "id": None, "data": {}})
            elif kind == "pong":
                self.awaiting_pong = False
            else:
                raise Closed(BAD_FRAME, "unknown frame")

    async def watch(self) -> None:
        settings = self.rt.settings
        next_ping = time.monotonic() + settings.realtime_ping_seconds
        while True:
            wake = min(settings.realtime_check_seconds, max(0.0, self.expires - time.time()))
            await asyncio.sleep(max(0.05, min(wake, next_ping - time.monotonic())))
            if time.time() >= self.expires:
                raise Closed(UNAUTHORIZED, "token expired")
            await _check(self.rt, self.token)
            if time.monotonic() >= next_ping:
                if self.awaiting_pong:
                    raise Closed(NO_PONG, "no pong")
                self.awaiting_pong = True
                await self.send({"type": "ping", "id": None, "data": {}})
                next_ping = time.monotonic() + settings.realtime_ping_seconds


def _frame_type(raw: str | bytes) -> str | None:
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    kind = frame.get("type") if isinstance(frame, dict) else None
    return kind if isinstance(kind, str) else None


async def _first_frame_token(websocket: WebSocket, rt: Runtime) -> str:
    try:
        async with asyncio.timeout(rt.settings.realtime_auth_seconds):
            message = await websocket.receive()
    except TimeoutError:
        raise Closed(UNAUTHORIZED, "no auth frame") from None
    raw = message.get("text") or message.get("bytes") or b""
    if message["type"] != "websocket.receive" or len(raw) > rt.settings.realtime_max_frame_bytes:
        raise Closed(UNAUTHORIZED, "no auth frame")
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Closed(UNAUTHORIZED, "no auth frame") from None
    token = frame.get("token") if isinstance(frame, dict) and frame.get("type") == "auth" else None
    if not isinstance(token, str) or not token or len(token) > 8192:
        raise Closed(UNAUTHORIZED, "no auth frame")
    return token


async def _run(websocket: WebSocket, rt: Runtime) -> None:
    header_token = _header_token(websocket)
    await websocket.accept(subprotocol="bearer" if header_token else None)
    after = _after(websocket)
    token = header_token or await _first_frame_token(websocket, rt)
    connection = Connection(websocket, rt, token, await _check(rt, token))
    if not await rt.realtime.attach(connection.socket):
        raise Closed(TOO_MANY, "too many sockets")
    try:
        if after is not None:
            await connection.replay(after)
        tasks = [
            asyncio.create_task(connection.forward()),
            asyncio.create_task(connection.listen()),
            asyncio.create_task(connection.watch()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
        for task in done:
            task.result()  # raises the reason it ended
    finally:
        rt.realtime.detach(connection.socket)


@router.websocket("/realtime")
async def realtime(websocket: WebSocket) -> None:
    """The caller's live events (see the module docstring)."""
    rt: Runtime = websocket.app.state.runtime
    try:
        await _run(websocket, rt)
    except Closed as closed:
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(closed.code, closed.reason)
    except WebSocketDisconnect:
        return
