"""Authentication and authorisation dependencies for routers.

principal: Principal = Depends(require_user)
staff: Principal = Depends(require_role("moderator"))
router = APIRouter(dependencies=[Depends(rate_limit("auth"))])   # else read/write by method
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
from fastapi import Depends, Request

from playerplatform.auth.keys import VERIFY_LEEWAY
from playerplatform.auth.state import (
    SESSION_ACTIVE,
    AuthState,
    Restrictions,
    in_force,
    state_keys,
)
from playerplatform.kit.errors import (
    AccountBanned,
    AccountRestricted,
    Forbidden,
    InvalidToken,
    Unauthorized,
)
from playerplatform.kit.gateway import RESPONSE_HEADERS
from playerplatform.kit.hotstore import UNAVAILABLE
from playerplatform.kit.http import READ_METHODS, client_info

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

ROLE_RANK = {"player": 0, "moderator": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a player (or staff member) or a service account."""

    kind: Literal["user", "service"]
    subject: str  # canonical_id, or the service account's client_id
    user_id: uuid.UUID | None = None
    session_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    claims: dict[str, Any] = field(default_factory=dict, compare=False)
    # The account's restrictions (scope, end) when the state was read; ends are checked on use.
    restrictions: Restrictions = ()

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    def has_role(self, role: str) -> bool:
        """Roles nest: admin ⊇ moderator ⊇ player."""
        needed = ROLE_RANK[role]
        return any(ROLE_RANK.get(r, -1) >= needed for r in self.roles)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def restricted(self, scope: str) -> bool:
        """Whether a sanction holds this player back from `scope` (`leaderboards`, `ugc`,
        `social`, `name`, `messages`) right now."""
        return bool(self.restrictions) and in_force(self.restrictions, scope)

    def check_unrestricted(self, scope: str) -> None:
        """Refuse (403 `restricted`) when a sanction holds this player back from `scope`."""
        if self.restricted(scope):
            ends = [until for held, until in self.restrictions if held == scope]
            last = None if None in ends else max(e for e in ends if e is not None)
            raise AccountRestricted(
                f"A sanction on your account does not allow this ({scope}).",
                extra={"scope": scope, "ends_at": last.isoformat() if last else None},
            )

    @property
    def actor_id(self) -> str:
        return self.subject if self.kind == "user" else f"svc:{self.subject}"


def _bearer(request: Request) -> str | None:
    return bearer_token(request.headers.get("authorization"))


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None without the header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Use 'Authorization: Bearer <access_token>'.")
    return token.strip()


def token_subject(authorization: str | None) -> str | None:
    """The player an `Authorization: Bearer` access token names, read WITHOUT verifying it:
    only for choosing where a read goes (`kit.replicas`), never for letting anyone in. None
    for anything that is not a player's JWT."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    parts = token.strip().split(".")
    if scheme.lower() != "bearer" or len(parts) != 3 or len(parts[1]) > 4096:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or claims.get("token_use") == "service":
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and 0 < len(subject) <= 128 else None


async def optional_principal(request: Request) -> Principal | None:
    """The caller when a token is presented (it must then be valid), else None."""
    cached = request.scope.get("state", {}).get("principal", False)
    if cached is not False:
        return cached
    token = _bearer(request)
    principal = await _authenticate(request, token) if token else None
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


async def _authenticate(
    request: Request, token: str, *, route_class: str | None = None
) -> Principal:
    """Verify the token and the caller's live state. With `route_class`, also count the
    request against the caller's rate limit and keep the response headers in the request
    state."""
    found = await authenticate(request.app.state.runtime, token, route_class=route_class)
    if found.rate_headers is not None:
        _keep_rate_headers(request, found.rate_headers)
    return found.principal


@dataclass(slots=True)
class Authenticated:
    principal: Principal
    rate_headers: dict[str, str] | None  # None when no hit was counted


VERIFIED_TOKENS_SIZE = 20_000  # tokens, about 2 KB each with their caller and claims


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token that was let in, with the state values that let it in."""

    expires: float  # the token's `exp` plus the verification leeway (epoch seconds)
    principal: Principal
    rate_subject: str
    keys: tuple[str, str]  # where the user state and the session status live
    user_raw: str
    session_raw: str
    # The caller's rate-limit window per route class, named once (`RateLimiter.key`).
    rate_keys: dict[str, str] = field(default_factory=dict)


class VerifiedTokens:
    """The verified-token cache: players' tokens this process let in, each with the raw user
    state and session status it was let in on. The verdict is a function of the token's claims
    and those two values, so a request whose values read the same gets the same principal
    without decoding or checking anything again; any change to either (a ban, a role change, a
    logout) reads differently and takes the full path. Expiry is checked on every use."""

    def __init__(self, size: int = VERIFIED_TOKENS_SIZE) -> None:
        self.size = size
        self._by_token: dict[str, VerifiedToken] = {}

    def recall(self, token: str) -> VerifiedToken | None:
        known = self._by_token.get(token)
        if known is not None and known.expires <= time.time():
            del self._by_token[token]
            return None
        return known

    def remember(self, token: str, known: VerifiedToken) -> None:
        by_token = self._by_token
        if len(by_token) >= self.size and token not in by_token:
            del by_token[next(iter(by_token))]  # the oldest
        by_token[token] = known


async def authenticate(
    runtime: Runtime,
    token: str,
    *,
    route_class: str | None = None,
) -> Authenticated:
    """Verify an access token and the caller's live state (ban, session, roles). With
    `route_class`, count the request against the caller's rate limit. In steady state none of
    this waits on the hot store: verified tokens, the state and the rate-limit counters are all
    kept in the process, and a token let in before on the same state is let in again without
    repeating the checks (`VerifiedTokens`, the verified-token cache)."""
    known = runtime.verified_tokens.recall(token)
    claims: dict[str, Any]
    if known is not None:
        principal = known.principal
        claims = principal.claims
        subject, sid, rate_subject = principal.subject, principal.session_id, known.rate_subject
        keys: Sequence[str] = known.keys
    else:
        claims = await runtime.keys.decode(token, audience=runtime.settings.jwt_audience)
        named = claims.get("sub")
        if not isinstance(named, str):
            raise InvalidToken("The token has no subject.")
        subject = named
        if claims.get("token_use") == "service":
            return await _service_caller(runtime, claims, subject, route_class)
        sid = claims.get("sid")
        if not isinstance(sid, str):
            raise InvalidToken("The token has no session.")
        rate_subject = f"user:{subject}"
        keys = state_keys(subject, sid)
    headers = None
    if route_class is not None:
        limiter = runtime.limiter
        rate_key = known.rate_keys.get(route_class) if known is not None else None
        if rate_key is None:
            rate_key = limiter.key(route_class, rate_subject)
            if known is not None:
                known.rate_keys[route_class] = rate_key
        headers = limiter.check_now(route_class, rate_key)
        if headers is None:
            headers = await limiter.check(route_class, rate_subject)
    values = runtime.hot.peek_near(keys)
    if values is None:
        try:
            values = await runtime.hot.mget_near(keys)
        except UNAVAILABLE:  # the hot store is down: the database decides (`resolve`)
            values = [None, None]
    user_raw, session_raw = values[0], values[1]
    if known is not None and user_raw == known.user_raw and session_raw == known.session_raw:
        return Authenticated(principal, headers)
    assert sid is not None
    state, session_status = await AuthState(runtime.hot, runtime.db).resolve(
        subject, sid, user_raw, session_raw
    )
    if state is None or state.status == "merged":
        raise InvalidToken("The account no longer exists.")
    if state.is_banned():
        raise AccountBanned("This account is banned.")
    if session_status != SESSION_ACTIVE:
        raise InvalidToken("The session has ended.")
    # Roles come from the token, narrowed to what the user holds now (a demotion applies at once).
    roles = frozenset(r for r in claims.get("roles", []) if r in state.roles)
    principal = Principal(
        kind="user",
        subject=subject,
        user_id=state.user_id,
        session_id=sid,
        roles=roles or frozenset({"player"}),
        claims=claims,
        restrictions=state.restrictions,
    )
    if user_raw is not None and session_raw is not None:  # let in on values the store holds
        runtime.verified_tokens.remember(
            token,
            VerifiedToken(
                expires=float(claims["exp"]) + VERIFY_LEEWAY,
                principal=principal,
                rate_subject=rate_subject,
                keys=(keys[0], keys[1]),
                user_raw=user_raw,
                session_raw=session_raw,
            ),
        )
    return Authenticated(principal, headers)


async def _service_caller(
    runtime: Runtime, claims: dict[str, Any], subject: str, route_class: str | None
) -> Authenticated:
    scope = claims.get("scope", "")
    headers = None
    if route_class is not None:
        headers = await runtime.limiter.check(route_class, f"service:{subject}")
    service = Principal(
        kind="service",
        subject=subject,
        scopes=frozenset(str(scope).split()),
        roles=frozenset({"service"}),
        claims=claims,
    )
    return Authenticated(service, headers)


def _keep_rate_headers(request: Request, headers: dict[str, str]) -> None:
    request.scope.setdefault("state", {})[RESPONSE_HEADERS] = headers


async def require_principal(principal: Principal | None = Depends(optional_principal)) -> Principal:
    """A player or a service account."""
    if principal is None:
        raise Unauthorized("This route needs an access token.")
    return principal


async def require_user(principal: Principal = Depends(require_principal)) -> Principal:
    """A player (or staff member) signed in with a session; service tokens are refused."""
    if principal.kind != "user":
        raise Forbidden("This route is for players, not service accounts.")
    return principal


def require_role(role: Literal["moderator", "admin"]) -> Callable[..., Awaitable[Principal]]:
    async def dependency(principal: Principal = Depends(require_user)) -> Principal:
        if not principal.has_role(role):
            raise Forbidden(f"This route needs the {role} role.")
        return principal

    return dependency


def require_unrestricted(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A signed-in player whom no sanction holds back from `scope` (403 `restricted`)."""

    async def dependency(principal: Principal = Depends(require_user)) -> Principal:
        principal.check_unrestricted(scope)
        return principal

    return dependency


def rate_limit(route_class: str | None = None) -> Callable[..., Awaitable[None]]:
    """Count the request against its route class: `auth` and `webhook` per client IP;
    `read` and `write` (picked by method when not given) per user, or per IP when anonymous.

    Runs before the route's other dependencies; for a signed-in caller it authenticates too,
    reading the session state and counting the hit together. The `RateLimit-*` headers are
    kept in the request state, and the gateway adds them to whatever response is sent."""

    async def dependency(request: Request) -> None:
        runtime = request.app.state.runtime
        cls = route_class or ("read" if request.method in READ_METHODS else "write")
        token = _bearer(request)
        state = request.scope.setdefault("state", {})
        if cls in ("auth", "webhook") or token is None:
            headers = await runtime.limiter.check(cls, f"ip:{client_info(request).ip}")
        elif state.get("principal", False) is False:
            state["principal"] = await _authenticate(request, token, route_class=cls)
            return
        else:  # authenticated already: count the hit on its own
            principal = state["principal"]
            headers = await runtime.limiter.check(cls, f"{principal.kind}:{principal.subject}")
        state[RESPONSE_HEADERS] = headers

    return dependency
