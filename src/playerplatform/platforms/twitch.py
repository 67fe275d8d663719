"""Twitch client: OAuth authorization-code exchange for account linking."""

from __future__ import annotations

from dataclasses import dataclass

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
