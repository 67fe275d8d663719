"""Epic Online Services client: ID-token verification, the client-credentials app token and
the ecom entitlement calls (list, redeem, clawbacks).

ID tokens are checked exactly as Epic documents (plus the deployment id): `alg` present and
RS256/ES256, `kid` present, signature against Epic's key set, `iss` on Epic's API host, `iat`
past, `exp` future, `aud` our client id, `pfdid` our deployment. Only then is `sub` trusted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import jwt

from playerplatform.kit.errors import InvalidCredentials
from playerplatform.kit.settings import Settings
from playerplatform.platforms.jwks import JwksCache
from playerplatform.platforms.transport import json_object, provider_error, send

PLATFORM = "Epic"
CONNECT_JWKS_PATH = "/auth/v1/oauth/jwks"
EAS_JWKS_PATH = "/epic/oauth/v2/.well-known/jwks.json"
TOKEN_PATH = "/auth/v1/oauth/token"
ALGORITHMS = frozenset({"RS256", "ES256"})
LEEWAY_SECONDS = 30
# Refresh the app token this long before Epic says it expires.
APP_TOKEN_MARGIN_SECONDS = 60.0
EPIC_ACCOUNT_TYPE = "epicgames"

EpicKind = Literal["connect", "eas"]

# Ecom paths are UNVERIFIED (seen only in third-party code): each lives in one function below.
ENTITLEMENTS_PATH = "/epic/ecom/v3/identities/{identity}/entitlements"
REDEEM_PATH = "/epic/ecom/v3/identities/{identity}/entitlements/redeem"
CLAWBACKS_PATH = "/epic/ecom/v3/namespace/{namespace}/entitlements/clawbacks"


@dataclass(frozen=True, slots=True)
class EpicEntitlement:
    id: str
    catalog_item_id: str
    consumable: bool
    redeemed: bool
    active: bool
    name: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EpicClawback:
    entitlement_id: str
    identity_id: str | None
    catalog_item_id: str | None
    clawback_date: str


@dataclass(frozen=True, slots=True)
class EpicIdentity:
    subject: str  # `sub`: Product User ID (Connect) or Epic Account ID (EAS)
    kind: EpicKind
    account_id: str | None  # Epic Account ID: `sub` of an EAS token, `act.eaid` of a Connect token
    display_name: str | None
    platform: str | None
    claims: dict[str, Any]


class EpicClient:
    """Talks to `settings.epic_api_url` (Epic's API host, or the local emulator)."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        jwks_ttl: float = 3600.0,
        jwks_refetch_interval: float = 5.0,
    ) -> None:
        self.settings = settings
        self.http = http
        base = settings.epic_api_url.rstrip("/")
        timeout = settings.platform_timeout_seconds
        self._base = base
        self._key_sets: dict[EpicKind, JwksCache] = {
            "connect": JwksCache(
                http,
                settings.epic_jwks_url or base + CONNECT_JWKS_PATH,
                platform=PLATFORM,
                timeout=timeout,
                ttl=jwks_ttl,
                refetch_interval=jwks_refetch_interval,
            ),
            "eas": JwksCache(
                http,
                base + EAS_JWKS_PATH,
                platform=PLATFORM,
                timeout=timeout,
                ttl=jwks_ttl,
                refetch_interval=jwks_refetch_interval,
            ),
        }
        self._app_token: tuple[str, float] | None = None
        self._app_token_lock = asyncio.Lock()

    async def verify_id_token(self, id_token: str) -> EpicIdentity:
        """Verify an EOS Connect or Epic Account Services ID token and say whose it is.

        Raises `InvalidCredentials` for any token that fails a check, `ProviderError` when
        Epic's key set cannot be fetched or the client id is not configured.
        """
        client_id = self.settings.epic_client_id
        if not client_id:
            raise provider_error(PLATFORM, "not configured (PP_EPIC_CLIENT_ID)")
        try:
            header = jwt.get_unverified_header(id_token)
            unverified = jwt.decode(id_token, options={"verify_signature": False})
        except (jwt.PyJWTError, TypeError, ValueError):
            raise _rejected("not a JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise _rejected("signing algorithm not accepted")
        if not isinstance(kid, str) or not kid:
            raise _rejected("no key id")
        # Choosing between Epic's two key sets on the unverified issuer is safe: both are
        # Epic's, and the verified issuer must agree below.
        kind = _kind_of(unverified.get("iss"))
        key = await self._key_sets[kind].key(kid)
        if key is None:
            raise _rejected("signed by an unknown key")
        if key.algorithm_name != alg:
            raise _rejected("key and algorithm do not match")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=[alg],
                audience=client_id,
                leeway=LEEWAY_SECONDS,
                options={"require": ["sub", "iss", "aud", "iat", "exp"]},
            )
        except jwt.PyJWTError as exc:
            raise _rejected(_decode_reason(exc)) from None
        self._check_issuer(claims.get("iss"), kind)
        deployment_id = self.settings.epic_deployment_id
        if deployment_id and claims.get("pfdid") != deployment_id:
            raise _rejected("issued for another deployment")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _rejected("no subject")
        return _identity(subject, kind, claims)

    def _check_issuer(self, issuer: object, kind: EpicKind) -> None:
        # A prefix match on the bare host would also accept `api.epicgames.dev.example.com`.
        if not isinstance(issuer, str) or not (
            issuer == self._base or issuer.startswith(self._base + "/")
        ):
            raise _rejected("issued by someone else")
        if _kind_of(issuer) != kind:
            raise _rejected("issued by someone else")

    async def app_token(self) -> str:
        """A client-credentials access token for server-to-server calls, cached until
        shortly before it expires."""
        cached = self._app_token
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self._app_token_lock:
            cached = self._app_token
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = await self._fetch_app_token()
            self._app_token = (token, time.monotonic() + lifetime - APP_TOKEN_MARGIN_SECONDS)
            return token

    async def _fetch_app_token(self) -> tuple[str, float]:
        client_id = self.settings.epic_client_id
        secret = self.settings.epic_client_secret
        if not client_id or secret is None or not secret.get_secret_value():
            raise provider_error(
                PLATFORM, "not configured (PP_EPIC_CLIENT_ID, PP_EPIC_CLIENT_SECRET)"
            )
        form = {"grant_type": "client_credentials"}
        if self.settings.epic_deployment_id:
            form["deployment_id"] = self.settings.epic_deployment_id
        response = await send(
            self.http,
            PLATFORM,
            "POST",
            self._base + TOKEN_PATH,
            time_limit=self.settings.platform_timeout_seconds,
            data=form,
            auth=httpx.BasicAuth(client_id, secret.get_secret_value()),
        )
        if response.status_code != 200:
            raise provider_error(
                PLATFORM,
                f"client credentials refused ({response.status_code})",
                error_code=_epic_error_code(response),
            )
        body = json_object(response, PLATFORM)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise provider_error(PLATFORM, "malformed token response")
        return token, float(expires_in)

    # Ecom (paths and shapes unconfirmed by Epic's own documentation; see docs/platforms.md).

    def _sandbox(self) -> str:
        sandbox = self.settings.epic_sandbox_id
        if not sandbox:
            raise provider_error(PLATFORM, "not configured (PP_EPIC_SANDBOX_ID)")
        return sandbox

    async def _ecom(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        token = await self.app_token()
        response = await send(
            self.http,
            PLATFORM,
            method,
            self._base + path,
            time_limit=self.settings.platform_timeout_seconds,
            params=params,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code == 401:
            self._app_token = None  # revoked or expired early: fetch a new one next time
        if response.status_code >= 400:
            raise provider_error(
                PLATFORM,
                f"ecom answered {response.status_code}",
                error_code=_epic_error_code(response),
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise provider_error(PLATFORM, "malformed ecom response") from None

    async def list_entitlements(self, identity_id: str) -> list[EpicEntitlement]:
        """Every entitlement of an Epic account in our sandbox, redeemed ones included."""
        body = await self._ecom(
            "GET",
            ENTITLEMENTS_PATH.format(identity=_segment(identity_id)),
            params={"sandboxId": self._sandbox(), "includeRedeemed": "true"},
        )
        rows = body.get("elements") if isinstance(body, dict) else body
        out = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or not row.get("id") or not row.get("catalogItemId"):
                continue
            out.append(
                EpicEntitlement(
                    id=str(row["id"]),
                    catalog_item_id=str(row["catalogItemId"]),
                    consumable=row.get("consumable") is True,
                    redeemed=row.get("redeemed") is True or row.get("status") == "CONSUMED",
                    active=row.get("active") is not False,
                    name=_text(row.get("entitlementName")),
                    raw=row,
                )
            )
        return out

    async def redeem_entitlements(self, identity_id: str, entitlement_ids: list[str]) -> None:
        """Mark consumable entitlements used, so the game never reads them as new again."""
        if not entitlement_ids:
            return
        await self._ecom(
            "PUT",
            REDEEM_PATH.format(identity=_segment(identity_id)),
            json={"entitlementIds": entitlement_ids, "sandboxId": self._sandbox()},
        )

    async def clawbacks(self, *, since: str, count: int = 100) -> list[EpicClawback]:
        """Entitlements taken back (refunds, chargebacks) at or after `since`, oldest first."""
        body = await self._ecom(
            "GET",
            CLAWBACKS_PATH.format(namespace=_segment(self._sandbox())),
            params={"clawbackDate": since, "count": count},
        )
        rows = body.get("elements") if isinstance(body, dict) else body
        out = []
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict):
                continue
            entitlement_id = row.get("entitlementId") or row.get("id")
            date = row.get("clawbackDate")
            if not entitlement_id or not isinstance(date, str):
                continue
            out.append(
                EpicClawback(
                    entitlement_id=str(entitlement_id),
                    identity_id=_text(row.get("identityId")),
                    catalog_item_id=_text(row.get("catalogItemId")),
                    clawback_date=date,
                )
            )
        return out


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _kind_of(issuer: object) -> EpicKind:
    # Connect tokens come from `/auth/v1/oauth`, Epic Account Services from `/epic/oauth/...`.
    if isinstance(issuer, str) and "/epic/oauth/" in issuer + "/":
        return "eas"
    return "connect"


def _identity(subject: str, kind: EpicKind, claims: dict[str, Any]) -> EpicIdentity:
    if kind == "eas":
        return EpicIdentity(
            subject=subject,
            kind="eas",
            account_id=subject,
            display_name=_text(claims.get("dn")),
            platform=_text(claims.get("pltfm")),
            claims=claims,
        )
    act = claims.get("act")
    act = act if isinstance(act, dict) else {}
    # `act.eaid` is the id of the external account the player signed in with; it is an Epic
    # Account ID only when that account is an Epic one.
    account_type = act.get("eat")
    account_id = _text(act.get("eaid")) if account_type in (None, EPIC_ACCOUNT_TYPE) else None
    return EpicIdentity(
        subject=subject,
        kind="connect",
        account_id=account_id,
        display_name=_text(claims.get("dn")),
        platform=_text(act.get("pltfm")),
        claims=claims,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _rejected(reason: str) -> InvalidCredentials:
    return InvalidCredentials(f"Epic ID token rejected: {reason}")


def _decode_reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "issued in the future"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "issued for another client"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    return "invalid"


def _epic_error_code(response: httpx.Response) -> str | None:
    try:
        code = response.json().get("errorCode")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None
