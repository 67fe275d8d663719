"""APNs emulator: `POST /3/device/{token}` over HTTP/2 (cleartext, prior knowledge; the
real service negotiates HTTP/2 over TLS), with token-based provider authentication: an
ES256 JWT (`kid` the key id, `iss` the team id) checked against the `.p8` key this emulator
made (`ApnsEmulator.key_pem`), `apns-topic` and `apns-push-type` required.

Answers as Apple documents them: 200 with an `apns-id`; 410 `{"reason": "Unregistered",
"timestamp"}` for a device token that is gone; 400 `BadDeviceToken`, `MissingTopic`,
`DeviceTokenNotForTopic`; 403 `InvalidProviderToken`; and failures scripted per device token
(429 `TooManyRequests`, 503 `ServiceUnavailable`, with `Retry-After`). It is not FastAPI: h2
runs the connection, since the platform's HTTP server speaks HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class ApnsEmulator:
    team_id: str
    key_id: str
    topic: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    delivered: list[dict[str, Any]] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)
    failures: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def key_pem(self) -> str:
        """The provider key as a `.p8` file holds it (PKCS#8 PEM)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def fail(self, token: str, *answers: tuple[int, float | None]) -> None:
        self.failures.setdefault(token, []).extend(answers)

    def answer(self, headers: dict[str, str], body: bytes) -> Answer:
        """The response to one request."""
        path = headers.get(":path", "")
        if headers.get(":method") != "POST" or not path.startswith("/3/device/"):
            return _reason(404, "BadPath")
        token = path.removeprefix("/3/device/")
        try:
            header = jwt.get_unverified_header(
                headers.get("authorization", "").removeprefix("bearer ")
            )
            claims = jwt.decode(
                headers.get("authorization", "").removeprefix("bearer "),
                self.key.public_key(),
                algorithms=["ES256"],
                options={"require": ["iss", "iat"]},
            )
        except jwt.PyJWTError:
            return _reason(403, "InvalidProviderToken")
        if header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
            return _reason(403, "InvalidProviderToken")
        if not headers.get("apns-topic"):
            return _reason(400, "MissingTopic")
        if headers["apns-topic"] != self.topic:
            return _reason(400, "DeviceTokenNotForTopic")
        if headers.get("apns-push-type") not in ("alert", "background"):
            return _reason(400, "InvalidPushType")
        if not token or len(token) > 200:
            return _reason(400, "BadDeviceToken")
        self.attempts[token] = self.attempts.get(token, 0) + 1
        scripted = self.failures.get(token)
        if scripted:
            status, retry_after = scripted.pop(0)
            status_reason = "TooManyRequests" if status == 429 else "ServiceUnavailable"
            extra = {"retry-after": str(retry_after)} if retry_after is not None else {}
            return _reason(status, status_reason, extra)
        if token in self.dead:
            return _reason(410, "Unregistered", timestamp=int(time.time() * 1000))
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _reason(400, "PayloadEmpty")
        self.delivered.append({"token": token, "payload": payload})
        return 200, {"apns-id": str(uuid.uuid4()).upper()}, b""

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen for HTTP/2 connections (prior knowledge)."""
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        try:
            while data := await reader.read(65535):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {str(k): str(v) for k, v in event.headers}
                        streams[event.stream_id] = (headers, bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        self._respond(conn, event.stream_id, self.answer(headers, bytes(body)))
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    def _respond(conn: h2.connection.H2Connection, stream_id: int, answer: Answer) -> None:
        status, headers, body = answer
        response = [(":status", str(status)), *headers.items()]
        if body:
            response.append(("content-type", "application/json"))
            response.append(("content-length", str(len(body))))
        conn.send_headers(stream_id, response, end_stream=not body)
        if body:
            conn.send_data(stream_id, body, end_stream=True)


def _reason(
    status: int, reason: str, headers: dict[str, str] | None = None, **extra: Any
) -> Answer:
    return status, dict(headers or {}), orjson.dumps({"reason": reason, **extra})
