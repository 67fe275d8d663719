"""Push to phones and consoles: one port, two adapters speaking the services' protocols.

- FCM HTTP v1: `POST {url}/v1/projects/{project}/messages:send` with an OAuth2 bearer token
  obtained from the service account's `token_uri` with a signed JWT (RS256, the
  `firebase.messaging` scope; cached until shortly before it expires). A token FCM reports
  `UNREGISTERED` (or `INVALID_ARGUMENT` on the token) is dead.
- APNs: HTTP/2 `POST {url}/3/device/{token}` with a provider JWT (ES256, `kid` the key id,
  `iss` the team id; reused for 50 minutes as Apple asks), `apns-topic`, `apns-push-type:
  alert`. A 410 `Unregistered` (or 400 `BadDeviceToken`) is dead.

Both retry 429 and 5xx with exponential backoff, honouring `Retry-After`. The emulators
(`playerplatform emulate fcm|apns`) are reached by the same code, with `PP_PUSH_FCM_URL` /
`PP_PUSH_APNS_URL` (and the service account's `token_uri`) pointing at them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import jwt
import orjson
import structlog

from playerplatform.kit.settings import Settings

log = structlog.get_logger("playerplatform.push")
Outcome = Literal["sent", "dead", "failed", "off"]
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
APNS_TOKEN_SECONDS = 50 * 60
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True, slots=True)
class PushNote:
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


class Push(Protocol):
    async def send(self, platform: str, token: str, note: PushNote) -> Outcome:
        """Deliver `note` to one device: `sent`, `dead` (forget the token), `failed` (after
        the retries) or `off` (that platform is not configured)."""
        ...

    async def close(self) -> None: ...


def _retry_after(response: httpx.Response, fallback: float) -> float:
    value = response.headers.get("retry-after")
    try:
        return min(float(value), MAX_RETRY_AFTER) if value else fallback
    except ValueError:
        return fallback


async def with_retries(
    call: Callable[[], Awaitable[httpx.Response]],
    verdict: Callable[[httpx.Response], Outcome | None],
    *,
    attempts: int,
    base: float,
) -> Outcome:
    """Run `call` until `verdict` decides (None: retry), at most `attempts` times; 429 and
    5xx wait `Retry-After` when given, else base·2ⁿ."""
    for attempt in range(attempts):
        delay = base * 2**attempt
        try:
            response = await call()
        except httpx.HTTPError as exc:
            log.warning("push_transport_error", error=str(exc))
        else:
            outcome = verdict(response)
            if outcome is not None:
                return outcome
            delay = _retry_after(response, delay)
        if attempt + 1 < attempts:
            await asyncio.sleep(delay)
    return "failed"


class FcmClient:
    def __init__(self, settings: Settings, account: dict[str, Any]) -> None:
        self.url = settings.push_fcm_url.rstrip("/")
        self.project = settings.push_fcm_project_id or account.get("project_id", "")
        self.account = account
        self.attempts, self.base = settings.push_max_attempts, settings.push_retry_base_seconds
        self.http = httpx.AsyncClient(timeout=10.0)
        self._token: tuple[str, float] | None = None

    async def access_token(self) -> str:
        """An OAuth2 access token for the service account (JWT bearer grant), cached."""
        if self._token is not None and self._token[1] > time.time() + 60:
            return self._token[0]
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self.account["client_email"],
                "scope": FCM_SCOPE,
                "aud": self.account["token_uri"],
                "iat": now,
                "exp": now + 3600,
            },
            self.account["private_key"],
            algorithm="RS256",
            headers={"kid": self.account.get("private_key_id")},
        )
        response = await self.http.post(
            self.account["token_uri"],
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
        response.raise_for_status()
        body = response.json()
        self._token = (body["access_token"], now + float(body.get("expires_in", 3600)))
        return self._token[0]

    async def send(self, token: str, note: PushNote) -> Outcome:
        message = {
            "message": {
                "token": token,
                "notification": {"title": note.title, "body": note.body},
                "data": note.data,
            }
        }

        async def call() -> httpx.Response:
            bearer = await self.access_token()
            return await self.http.post(
                f"{self.url}/v1/projects/{self.project}/messages:send",
                content=orjson.dumps(message),
                headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            )

        return await with_retries(call, self._verdict, attempts=self.attempts, base=self.base)

    def _verdict(self, response: httpx.Response) -> Outcome | None:
        if response.status_code == 200:
            return "sent"
        if response.status_code == 429 or response.status_code >= 500:
            return None
        if response.status_code == 401:
            self._token = None
            return None
        error = (response.json() if response.content else {}).get("error", {})
        codes = {d.get("errorCode") for d in error.get("details", []) if isinstance(d, dict)}
        if "UNREGISTERED" in codes or (
            error.get("status") == "INVALID_ARGUMENT" and "token" in str(error.get("message"))
        ):
            return "dead"
        log.warning("fcm_refused", status=response.status_code, error=error)
        return "failed"

    async def close(self) -> None:
        await self.http.aclose()


class ApnsClient:
    def __init__(self, settings: Settings, key_pem: str) -> None:
        self.url = settings.push_apns_url.rstrip("/")
        self.key_pem = key_pem
        self.key_id = settings.push_apns_key_id or ""
        self.team_id = settings.push_apns_team_id or ""
        self.topic = settings.push_apns_topic or ""
        self.attempts, self.base = settings.push_max_attempts, settings.push_retry_base_seconds
        # HTTP/2 only: over TLS it is negotiated, over plain http (the emulator) by prior
        # knowledge.
        self.http = httpx.AsyncClient(http1=False, http2=True, timeout=10.0)
        self._token: tuple[str, float] | None = None

    def provider_token(self) -> str:
        if self._token is None or self._token[1] < time.time():
            now = int(time.time())
            signed = jwt.encode(
                {"iss": self.team_id, "iat": now},
                self.key_pem,
                algorithm="ES256",
                headers={"kid": self.key_id},
            )
            self._token = (signed, now + APNS_TOKEN_SECONDS)
        return self._token[0]

    async def send(self, token: str, note: PushNote) -> Outcome:
        payload = {"aps": {"alert": {"title": note.title, "body": note.body}}, **note.data}

        async def call() -> httpx.Response:
            return await self.http.post(
                f"{self.url}/3/device/{token}",
                content=orjson.dumps(payload),
                headers={
                    "authorization": f"bearer {self.provider_token()}",
                    "apns-topic": self.topic,
                    "apns-push-type": "alert",
                    "apns-priority": "10",
                },
            )

        return await with_retries(call, self._verdict, attempts=self.attempts, base=self.base)

    def _verdict(self, response: httpx.Response) -> Outcome | None:
        if response.status_code == 200:
            return "sent"
        if response.status_code == 429 or response.status_code >= 500:
            return None
        reason = (response.json() if response.content else {}).get("reason")
        if response.status_code == 410 or reason in ("Unregistered", "BadDeviceToken"):
            return "dead"
        if reason == "ExpiredProviderToken":
            self._token = None
            return None
        log.warning("apns_refused", status=response.status_code, reason=reason)
        return "failed"

    async def close(self) -> None:
        await self.http.aclose()


class PushGateway:
    """The push port: each device's platform to its adapter; a platform not configured is
    `off`."""

    def __init__(self, fcm: FcmClient | None, apns: ApnsClient | None) -> None:
        self.fcm, self.apns = fcm, apns

    async def send(self, platform: str, token: str, note: PushNote) -> Outcome:
        client = self.fcm if platform == "fcm" else self.apns if platform == "apns" else None
        if client is None:
            return "off"
        return await client.send(token, note)

    async def close(self) -> None:
        for client in (self.fcm, self.apns):
            if client is not None:
                await client.close()


def create_push(settings: Settings) -> PushGateway:
    """FCM when a service-account file is set, APNs when a `.p8` key is set."""
    fcm = apns = None
    if settings.push_fcm_service_account_file:
        account = orjson.loads(Path(settings.push_fcm_service_account_file).read_bytes())
        fcm = FcmClient(settings, account)
    if settings.push_apns_key_file:
        apns = ApnsClient(settings, Path(settings.push_apns_key_file).read_text())
    return PushGateway(fcm, apns)
