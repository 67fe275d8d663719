"""Steam partner Web API client: session tickets, app ownership and ISteamMicroTxn.

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


class SteamTxnError(Exception):
    """ISteamMicroTxn answered `result: Failure` with this error (see `TXN_ERRORS`)."""

    def __init__(self, errorcode: int, errordesc: str) -> None:
        self.errorcode = errorcode
        self.errordesc = errordesc
        super().__init__(f"{errorcode}: {errordesc}")


# Valve's documented ISteamMicroTxn error codes.
TXN_FAILED = 2
TXN_INVALID_PARAMETER = 3
TXN_NOT_APPROVED = 5
TXN_ALREADY_COMMITTED = 6
TXN_NOT_LOGGED_IN = 7
TXN_CURRENCY_MISMATCH = 8
TXN_DENIED = 10
TXN_INSUFFICIENT_FUNDS = 100
TXN_TIME_LIMIT = 101
TXN_FRAUD = 104
TXN_PENDING_TRANSACTION = 107


@dataclass(frozen=True, slots=True)
class SteamTxnItem:
    itemid: str
    qty: int
    amount: int
    itemstatus: str | None = None


@dataclass(frozen=True, slots=True)
class SteamTxn:
    """One transaction as InitTxn, FinalizeTxn, QueryTxn or GetReport describe it (fields
    a method does not return are None)."""

    orderid: str
    transid: str | None
    status: str | None = None
    steamid: str | None = None
    currency: str | None = None
    time: str | None = None
    items: tuple[SteamTxnItem, ...] = ()
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SteamWallet:
    """The player's Steam wallet as GetUserInfo describes it. Steam charges only in its
    `currency` (any other is error 8)."""

    currency: str
    country: str | None
    status: str  # Locked, Active or Trusted


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

    # ISteamMicroTxn (or ISteamMicroTxnSandbox with PP_STEAM_SANDBOX).

    async def _txn(
        self, verb: Literal["GET", "POST"], method: str, version: int, params: dict[str, Any]
    ) -> dict[str, Any]:
        body = await self.call(verb, self.microtxn_interface, method, version, params)
        if body.get("result") != "OK":
            error = body.get("error")
            error = error if isinstance(error, dict) else {}
            code = error.get("errorcode")
            raise SteamTxnError(
                int(code) if isinstance(code, int | str) and _digits(str(code)) else TXN_FAILED,
                _short(error.get("errordesc")),
            )
        params_out = body.get("params")
        if not isinstance(params_out, dict):
            raise provider_error(PLATFORM, "malformed response", path=method)
        return params_out

    async def get_user_info(self, steamid: str) -> dict[str, Any]:
        """The player's Steam wallet country, currency and status (Locked/Active/Trusted)."""
        return await self._txn("GET", "GetUserInfo", 2, {"steamid": steamid})

    async def get_wallet(self, steamid: str) -> SteamWallet:
        """`get_user_info` read into a `SteamWallet`; `ProviderError` when Steam names no
        ISO 4217 currency."""
        info = await self.get_user_info(steamid)
        currency = info.get("currency")
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            raise provider_error(PLATFORM, "GetUserInfo named no currency", path="GetUserInfo")
        return SteamWallet(
            currency=currency.upper(),
            country=_text_or_none(info.get("country")),
            status=str(info.get("status") or "Active"),
        )

    async def init_txn(
        self,
        *,
        orderid: str,
        steamid: str,
        items: list[tuple[str, int, int, str]],
        language: str,
        currency: str,
    ) -> SteamTxn:
        """Start a client-session purchase; `items` are (itemid, qty, total amount in cents,
        description). Steam then shows the player the overlay to approve it."""
        params: dict[str, Any] = {
            "orderid": orderid,
            "steamid": steamid,
            "itemcount": len(items),
            "language": language,
            "currency": currency,
            "usersession": "client",
        }
        for i, (itemid, qty, amount, description) in enumerate(items):
            params[f"itemid[{i}]"] = itemid
            params[f"qty[{i}]"] = qty
            params[f"amount[{i}]"] = amount
            params[f"description[{i}]"] = description[:128]
        out = await self._txn("POST", "InitTxn", 3, params)
        return _txn_of(out, orderid)

    async def finalize_txn(self, orderid: str) -> SteamTxn:
        """Capture the money of an approved order. Success means: grant."""
        out = await self._txn("POST", "FinalizeTxn", 2, {"orderid": orderid})
        return _txn_of(out, orderid)

    async def query_txn(self, orderid: str) -> SteamTxn:
        """The transaction's current state (recovers an ambiguous FinalizeTxn)."""
        out = await self._txn("GET", "QueryTxn", 3, {"orderid": orderid})
        return _txn_of(out, orderid)

    async def refund_txn(self, orderid: str) -> SteamTxn:
        """Refund a whole order with Steam."""
        out = await self._txn("POST", "RefundTxn", 2, {"orderid": orderid})
        return _txn_of(out, orderid)

    async def get_report(
        self, *, since: str, report_type: str = "SETTLEMENT", max_results: int = 1000
    ) -> list[SteamTxn]:
        """Orders whose state changed at or after `since` (RFC 3339 UTC), oldest first."""
        out = await self._txn(
            "GET", "GetReport", 5, {"type": report_type, "time": since, "maxresults": max_results}
        )
        orders = out.get("orders")
        if not isinstance(orders, list):
            return []
        return [_txn_of(o, "") for o in orders if isinstance(o, dict)]


def _txn_of(params: dict[str, Any], orderid: str) -> SteamTxn:
    items = []
    for item in params.get("items") or []:
        if isinstance(item, dict):
            items.append(
                SteamTxnItem(
                    itemid=str(item.get("itemid", "")),
                    qty=_int(item.get("qty")),
                    amount=_int(item.get("amount")),
                    itemstatus=_text_or_none(item.get("itemstatus")),
                )
            )
    return SteamTxn(
        orderid=str(params.get("orderid") or orderid),
        transid=_text_or_none(params.get("transid")),
        status=_text_or_none(params.get("status")),
        steamid=_text_or_none(params.get("steamid")),
        currency=_text_or_none(params.get("currency")),
        time=_text_or_none(params.get("time")),
        items=tuple(items),
        raw=params,
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _text_or_none(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _steamid(value: Any) -> str | None:
    # 64-bit ids arrive as strings; accept a bare number too rather than failing a login.
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if _digits(text) and text != "0" else None


def _digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit` also takes superscripts and other scripts' digits."""
    return text.isascii() and text.isdigit()


def _short(value: Any) -> str:
    return str(value)[:100] if value else "unknown"


def _ticket_reason(error: dict[str, Any]) -> str:
    code = error.get("errorcode")
    reason = TICKET_REASONS.get(code) if isinstance(code, int) else None
    return f"{reason or _short(error.get('errordesc'))} ({code})"
