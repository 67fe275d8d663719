"""Steam partner Web API client: session tickets and app ownership.

Every call goes through `SteamClient.call`, which builds the URL, sends the publisher key in
the `x-webapi-key` header (never the query string, so it stays out of URLs, access logs and
exceptions) and unwraps the JSON envelope. ISteamMicroTxn methods are further `call`s on
`microtxn_interface`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from playerplatform.kit.errors import InvalidCredentials
from playerplatform.kit.settings import Settings
from playerplatform.platforms.transport import json_object, provider_error, send

PLATFORM = "Steam"
# GetAuthTicketForWebApi tickets are a few hundred bytes; anything far larger is not one.
MAX_TICKET_HEX = 8192
TICKET_REASONS = {
    101: "invalid",
    102: "issued for another app",
    103: "expired",
}
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True)
class SteamTicketOwner:
    steamid: str
    ownersteamid: str
    vacbanned: bool
    publisherbanned: bool


@dataclass(frozen=True, slots=True)
class SteamOwnership:
    owns_app: bool
    ownersteamid: str | None
    permanent: bool


class SteamClient:
    """Talks to `settings.steam_api_url` (Valve's partner host, or the local emulator)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http

    @property
    def microtxn_interface(self) -> str:
        """ISteamMicroTxnSandbox moves no money; same methods, same wire format."""
        return "ISteamMicroTxnSandbox" if self.settings.steam_sandbox else "ISteamMicroTxn"

    def _credentials(self) -> tuple[int, str]:
        app_id = self.settings.steam_app_id
        key = self.settings.steam_publisher_key
        if app_id is None or key is None or not key.get_secret_value():
            raise provider_error(
                PLATFORM, "not configured (PP_STEAM_APP_ID, PP_STEAM_PUBLISHER_KEY)"
            )
        return app_id, key.get_secret_value()

    async def call(
        self,
        verb: Literal["GET", "POST"],
        interface: str,
        method: str,
        version: int,
        params: dict[str, Any],
        *,
        envelope: str = "response",
    ) -> dict[str, Any]:
        """Call `<interface>/<method>/v<version>/` with `appid` and the publisher key.

        GET sends `params` in the query, POST form-encoded (arrays as `name[0]`, `name[1]`).
        Returns the object under `envelope`; raises `ProviderError` when Steam cannot be
        reached, refuses the key (403), fails (5xx) or answers something that is not that
        envelope.
        """
        app_id, key = self._credentials()
        url = f"{self.settings.steam_api_url.rstrip('/')}/{interface}/{method}/v{version}/"
        values = {"appid": str(app_id), **{k: _wire(v) for k, v in params.items()}}
        request: dict[str, Any] = {"params": values} if verb == "GET" else {"data": values}
        response = await send(
            self.http,
            PLATFORM,
            verb,
            url,
            time_limit=self.settings.platform_timeout_seconds,
            headers={"x-webapi-key": key},
            **request,
        )
        path = response.url.path
        if response.status_code == 403:
            raise provider_error(PLATFORM, "publisher key refused (403)", path=path)
        if response.status_code != 200:
            raise provider_error(
                PLATFORM, f"answered {response.status_code}", status=response.status_code, path=path
            )
        body = json_object(response, PLATFORM).get(envelope)
        if not isinstance(body, dict):
            raise provider_error(PLATFORM, "malformed response", path=path)
        return body

    async def authenticate_user_ticket(
        self, ticket_hex: str, identity: str | None = None
    ) -> SteamTicketOwner:
        """Check a `GetAuthTicketForWebApi` ticket; returns who it belongs to.

        Raises `InvalidCredentials` naming Steam's reason when the ticket is refused.
        """
        ticket = ticket_hex.strip()
        if not ticket or len(ticket) > MAX_TICKET_HEX or not _HEX.issuperset(ticket):
            raise InvalidCredentials("The Steam ticket must be the ticket bytes in hex.")
        params: dict[str, Any] = {"ticket": ticket}
        if identity:
            params["identity"] = identity
        body = await self.call("GET", "ISteamUserAuth", "AuthenticateUserTicket", 1, params)
        error = body.get("error")
        if isinstance(error, dict):
            raise InvalidCredentials(f"Steam rejected the ticket: {_ticket_reason(error)}")
        result = body.get("params")
        if not isinstance(result, dict):
            raise provider_error(PLATFORM, "malformed response", path="AuthenticateUserTicket")
        if result.get("result") != "OK":
            raise InvalidCredentials(f"Steam rejected the ticket: {_short(result.get('result'))}")
        steamid = _steamid(result.get("steamid"))
        if steamid is None:
            raise provider_error(PLATFORM, "malformed response", path="AuthenticateUserTicket")
        return SteamTicketOwner(
            steamid=steamid,
            ownersteamid=_steamid(result.get("ownersteamid")) or steamid,
            vacbanned=result.get("vacbanned") is True,
            publisherbanned=result.get("publisherbanned") is True,
        )

    async def check_app_ownership(self, steamid: str) -> SteamOwnership:
        """Whether `steamid` owns the configured app (and who owns it under Family Sharing)."""
        body = await self.call(
            "GET",
            "ISteamUser",
            "CheckAppOwnership",
            4,
            {"steamid": steamid},
            envelope="appownership",
        )
        return SteamOwnership(
            owns_app=body.get("ownsapp") is True,
            ownersteamid=_steamid(body.get("ownersteamid")),
            permanent=body.get("permanent") is True,
        )


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _steamid(value: Any) -> str | None:
    # 64-bit ids arrive as strings; accept a bare number too rather than failing a login.
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if text.isdigit() and text != "0" else None


def _short(value: Any) -> str:
    return str(value)[:100] if value else "unknown"


def _ticket_reason(error: dict[str, Any]) -> str:
    code = error.get("errorcode")
    reason = TICKET_REASONS.get(code) if isinstance(code, int) else None
    return f"{reason or _short(error.get('errordesc'))} ({code})"
