"""Twitch clients: OAuth authorization-code exchange for account linking (`TwitchClient`), and
Helix as our application (`TwitchApp`: Drops entitlements, EventSub subscriptions)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from playerplatform.kit.errors import InvalidCredentials
from playerplatform.kit.settings import Settings
from playerplatform.platforms.transport import json_object, provider_error, send

PLATFORM = "Twitch"


@dataclass(frozen=True, slots=True)
class TwitchUser:
    user_id: str
    login: str


class TwitchClient:
    """Talks to `settings.twitch_id_url` (id.twitch.tv, or the local emulator)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    async def exchange_code(self, code: str, redirect_uri: str) -> TwitchUser:
        """Trade an authorization code for a user token and say whose account it is.

        Raises `InvalidCredentials` when Twitch refuses the code, `ProviderError` when
        Twitch cannot be reached or refuses our client credentials.
        """
        client_id = self.settings.twitch_client_id
        secret = self.settings.twitch_client_secret
        if not client_id or secret is None or not secret.get_secret_value():
            raise provider_error(
                PLATFORM, "not configured (PP_TWITCH_CLIENT_ID, PP_TWITCH_CLIENT_SECRET)"
            )
        if not code:
            raise InvalidCredentials("Twitch rejected the authorization code.")
        base = self.settings.twitch_id_url.rstrip("/")
        timeout = self.settings.platform_timeout_seconds
        response = await send(
            self.http,
            PLATFORM,
            "POST",
            f"{base}/oauth2/token",
            time_limit=timeout,
            data={
                "client_id": client_id,
                "client_secret": secret.get_secret_value(),
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
            },
        )
        if response.status_code != 200:
            raise _token_refusal(response)
        token = json_object(response, PLATFORM).get("access_token")
        if not isinstance(token, str) or not token:
            raise provider_error(PLATFORM, "malformed token response")

        response = await send(
            self.http,
            PLATFORM,
            "GET",
            f"{base}/oauth2/validate",
            time_limit=timeout,
            headers={"Authorization": f"OAuth {token}"},
        )
        if response.status_code != 200:
            raise provider_error(PLATFORM, f"token validation answered {response.status_code}")
        body = json_object(response, PLATFORM)
        user_id, login = body.get("user_id"), body.get("login")
        if not isinstance(user_id, str) or not user_id or not isinstance(login, str):
            raise provider_error(PLATFORM, "malformed validation response")
        if body.get("client_id") != client_id:
            # A token minted for another application does not prove anything to us.
            raise InvalidCredentials("Twitch rejected the authorization code.")
        return TwitchUser(user_id=user_id, login=login)


def _token_refusal(response: httpx.Response) -> Exception:
    """Twitch answers 400 for a bad, used or mismatched code; 400/403 mentioning the client
    mean our own credentials are wrong, which is not the player's fault."""
    message = ""
    try:
        body = response.json()
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
    except ValueError:
        pass
    if response.status_code == 400 and "client" not in message.lower():
        return InvalidCredentials("Twitch rejected the authorization code.")
    if response.status_code in (400, 401, 403):
        return provider_error(PLATFORM, f"client credentials refused ({response.status_code})")
    return provider_error(PLATFORM, f"answered {response.status_code}")


# -- Helix with an app access token (Drops, EventSub). ----------------------------------------

APP_TOKEN_MARGIN_SECONDS = 60.0  # refresh this long before Twitch says the token expires
HELIX_PATCH_BATCH = 100  # entitlement ids per fulfilment PATCH (Twitch's limit)
HELIX_PAGE_SIZE = 1000  # entitlements per GET page (Twitch's limit)


@dataclass(frozen=True, slots=True)
class DropEntitlement:
    """One row of `GET /helix/entitlements/drops`."""

    entitlement_id: str
    benefit_id: str
    user_id: str
    game_id: str | None
    fulfillment_status: str
    timestamp: str | None


@dataclass(frozen=True, slots=True)
class FulfilmentResult:
    """Per-id answer of the fulfilment PATCH: `SUCCESS`, `UNAUTHORIZED`, `UPDATE_FAILED` or
    `NOT_FOUND` (ids Twitch did not mention are `UPDATE_FAILED`: try them again)."""

    statuses: dict[str, str]


@dataclass(frozen=True, slots=True)
class EventSubSubscription:
    subscription_id: str
    type: str
    version: str
    status: str
    condition: dict[str, object]
    created_at: str | None


class TwitchApp:
    """Helix calls made as our application (client-credentials token, kept in this process
    and fetched again shortly before it expires, or when Helix answers 401)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self._token: str | None = None
        self._expires_at = 0.0

    def _credentials(self) -> tuple[str, str]:
        client_id = self.settings.twitch_client_id
        secret = self.settings.twitch_client_secret
        if not client_id or secret is None or not secret.get_secret_value():
            raise provider_error(
                PLATFORM, "not configured (PP_TWITCH_CLIENT_ID, PP_TWITCH_CLIENT_SECRET)"
            )
        return client_id, secret.get_secret_value()

    async def app_token(self, *, renew: bool = False) -> str:
        """The app access token (client credentials), cached until shortly before expiry."""
        if not renew and self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        client_id, secret = self._credentials()
        response = await send(
            self.http,
            PLATFORM,
            "POST",
            f"{self.settings.twitch_id_url.rstrip('/')}/oauth2/token",
            time_limit=self.settings.platform_timeout_seconds,
            data={
                "client_id": client_id,
                "client_secret": secret,
                "grant_type": "client_credentials",
            },
        )
        if response.status_code != 200:
            raise provider_error(PLATFORM, f"app token refused ({response.status_code})")
        body = json_object(response, PLATFORM)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise provider_error(PLATFORM, "malformed app token response")
        self._token = token
        self._expires_at = time.monotonic() + max(0.0, expires_in - APP_TOKEN_MARGIN_SECONDS)
        return token

    async def _helix(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.settings.twitch_api_url.rstrip('/')}/helix{path}"
        client_id, _ = self._credentials()
        for renew in (False, True):
            token = await self.app_token(renew=renew)
            headers = {"Client-Id": client_id, "Authorization": f"Bearer {token}"}
            response = await send(
                self.http,
                PLATFORM,
                method,
                url,
                time_limit=self.settings.platform_timeout_seconds,
                headers=headers,
                **kwargs,
            )
            if response.status_code != 401:
                return response
        return response

    async def claimed_drops(
        self, *, user_id: str | None = None, game_id: str | None = None, max_pages: int = 50
    ) -> list[DropEntitlement]:
        """Every CLAIMED entitlement for a user or a game, all pages."""
        params: dict[str, str] = {"fulfillment_status": "CLAIMED", "first": str(HELIX_PAGE_SIZE)}
        if user_id:
            params["user_id"] = user_id
        if game_id:
            params["game_id"] = game_id
        found: list[DropEntitlement] = []
        for _ in range(max_pages):
            response = await self._helix("GET", "/entitlements/drops", params=params)
            if response.status_code != 200:
                raise provider_error(PLATFORM, f"drops list answered {response.status_code}")
            body = json_object(response, PLATFORM)
            found.extend(_entitlement(row) for row in body.get("data") or [])
            cursor = (body.get("pagination") or {}).get("cursor")
            if not isinstance(cursor, str) or not cursor:
                break
            params["after"] = cursor
        return found

    async def fulfil(self, entitlement_ids: list[str]) -> FulfilmentResult:
        """Mark entitlements FULFILLED, in batches of 100; per-id statuses."""
        statuses: dict[str, str] = {}
        for start in range(0, len(entitlement_ids), HELIX_PATCH_BATCH):
            batch = entitlement_ids[start : start + HELIX_PATCH_BATCH]
            response = await self._helix(
                "PATCH",
                "/entitlements/drops",
                json={"fulfillment_status": "FULFILLED", "entitlement_ids": batch},
            )
            if response.status_code != 200:
                raise provider_error(PLATFORM, f"drops update answered {response.status_code}")
            for group in json_object(response, PLATFORM).get("data") or []:
                status = str(group.get("status", "UPDATE_FAILED"))
                for entitlement_id in group.get("ids") or []:
                    statuses[str(entitlement_id)] = status
            for entitlement_id in batch:
                statuses.setdefault(entitlement_id, "UPDATE_FAILED")
        return FulfilmentResult(statuses=statuses)

    async def create_subscription(
        self, type_: str, version: str, condition: dict[str, str], callback: str, secret: str
    ) -> EventSubSubscription:
        """`POST /helix/eventsub/subscriptions` with a webhook transport (batching on: Drops
        requires it)."""
        response = await self._helix(
            "POST",
            "/eventsub/subscriptions",
            json={
                "type": type_,
                "version": version,
                "condition": condition,
                "transport": {"method": "webhook", "callback": callback, "secret": secret},
                "is_batching_enabled": True,
            },
        )
        if response.status_code not in (200, 202):
            raise provider_error(PLATFORM, f"subscription create answered {response.status_code}")
        return _subscription((json_object(response, PLATFORM).get("data") or [{}])[0])

    async def subscriptions(self) -> list[EventSubSubscription]:
        """`GET /helix/eventsub/subscriptions`, all pages."""
        params: dict[str, str] = {}
        found: list[EventSubSubscription] = []
        for _ in range(50):
            response = await self._helix("GET", "/eventsub/subscriptions", params=params)
            if response.status_code != 200:
                raise provider_error(PLATFORM, f"subscriptions answered {response.status_code}")
            body = json_object(response, PLATFORM)
            found.extend(_subscription(row) for row in body.get("data") or [])
            cursor = (body.get("pagination") or {}).get("cursor")
            if not isinstance(cursor, str) or not cursor:
                break
            params["after"] = cursor
        return found


def _entitlement(row: Any) -> DropEntitlement:
    if not isinstance(row, dict) or not row.get("id") or not row.get("user_id"):
        raise provider_error(PLATFORM, "malformed drops entitlement")
    return DropEntitlement(
        entitlement_id=str(row["id"]),
        benefit_id=str(row.get("benefit_id", "")),
        user_id=str(row["user_id"]),
        game_id=str(row["game_id"]) if row.get("game_id") else None,
        fulfillment_status=str(row.get("fulfillment_status", "")),
        timestamp=str(row["timestamp"]) if row.get("timestamp") else None,
    )


def _subscription(row: Any) -> EventSubSubscription:
    if not isinstance(row, dict) or not row.get("id"):
        raise provider_error(PLATFORM, "malformed subscription")
    condition = row.get("condition")
    return EventSubSubscription(
        subscription_id=str(row["id"]),
        type=str(row.get("type", "")),
        version=str(row.get("version", "")),
        status=str(row.get("status", "")),
        condition=condition if isinstance(condition, dict) else {},
        created_at=str(row["created_at"]) if row.get("created_at") else None,
    )
