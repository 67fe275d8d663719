"""Authentication and authorisation dependencies for routers.

principal: Principal = Depends(require_user)
staff: Principal = Depends(require_role("moderator"))
router = APIRouter(dependencies=[Depends(rate_limit("auth"))])   # else read/write by method
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, Request, Response

from playerplatform.auth.keys import VERIFY_LEEWAY
from playerplatform.auth.state import SESSION_ACTIVE, AuthState, state_keys
from playerplatform.kit.errors import AccountBanned, Forbidden, InvalidToken, Unauthorized
from playerplatform.kit.http import READ_METHODS, client_info

if TYPE_CHECKING:
    from playerplatform.kit.hotpath import HotRequest
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

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    def has_role(self, role: str) -> bool:
        """Roles nest: admin ⊇ moderator ⊇ player."""
        needed = ROLE_RANK[role]
        return any(ROLE_RANK.get(r, -1) >= needed for r in self.roles)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

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
    assert found.principal is not None  # a token always names a caller
    return found.principal


@dataclass(slots=True)
class Authenticated:
    principal: Principal | None  # None only from `hot_caller` without a token
    rate_headers: dict[str, str] | None  # None when no hit was counted
    extras: list[str | None]  # values of `extra_keys`, in order


PASSES_SIZE = 20_000  # tokens, about 2 KB each with their caller and claims


@dataclass(frozen=True, slots=True)
class _Pass:
    """A token that was let in, with the state values that let it in."""

    expires: float  # the token's `exp` plus the verification leeway (epoch seconds)
    principal: Principal
    rate_subject: str
    keys: tuple[str, str]  # where the user state and the session status live
    user_raw: str
    session_raw: str
    # The caller's rate-limit window per route class, named once (`RateLimiter.key`).
    rate_keys: dict[str, str] = field(default_factory=dict)


class Passes:
    """Players' tokens this process let in, each with the raw user state and session status it
    was let in on. The verdict is a function of the token's claims and those two values, so a
    request whose values read the same gets the same principal without decoding or checking
    anything again; any change to either (a ban, a role change, a logout) reads differently and
    takes the full path. Expiry is checked on every use."""

    def __init__(self, size: int = PASSES_SIZE) -> None:
        self.size = size
        self._by_token: dict[str, _Pass] = {}

    def recall(self, token: str) -> _Pass | None:
        known = self._by_token.get(token)
        if known is not None and known.expires <= time.time():
            del self._by_token[token]
            return None
        return known

    def remember(self, token: str, known: _Pass) -> None:
        by_token = self._by_token
        if len(by_token) >= self.size and token not in by_token:
            del by_token[next(iter(by_token))]  # the oldest
        by_token[token] = known


async def authenticate(
    runtime: Runtime,
    token: str,
    *,
    route_class: str | None = None,
    extra_keys: Callable[[str], Sequence[str]] | None = None,
) -> Authenticated:
    """Verify an access token and the caller's live state (ban, session, roles). With
    `route_class`, count the request against the caller's rate limit; `extra_keys(canonical_id)`
    names more keys in the user's hash slot to read with the state (a cached view the route
    serves). In steady state none of this waits on the hot store: verified tokens, the state
    and the rate-limit tally are all kept in the process, and a token let in before on the
    same state is let in again without repeating the checks (`Passes`)."""
    known = runtime.passes.recall(token)
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
    wanted = [*keys, *extra_keys(subject)] if extra_keys else keys
    values = runtime.hot.peek_near(wanted)
    if values is None:
        values = await runtime.hot.mget_near(wanted)
    user_raw, session_raw = values[0], values[1]
    if known is not None and user_raw == known.user_raw and session_raw == known.session_raw:
        return Authenticated(principal, headers, values[2:])
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
    )
    if user_raw is not None and session_raw is not None:  # let in on values the store holds
        runtime.passes.remember(
            token,
            _Pass(
                expires=float(claims["exp"]) + VERIFY_LEEWAY,
                principal=principal,
                rate_subject=rate_subject,
                keys=(keys[0], keys[1]),
                user_raw=user_raw,
                session_raw=session_raw,
            ),
        )
    return Authenticated(principal, headers, values[2:])


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
    return Authenticated(service, headers, [])


async def hot_caller(
    request: HotRequest,
    route_class: str,
    *,
    extra_keys: Callable[[str], Sequence[str]] | None = None,
) -> Authenticated:
    """`rate_limit` and `optional_principal` for a hot path, in one step: the presented
    token's caller, counted against `route_class`. Without a token the request is
    counted per client IP and the principal is None. The principal is kept for the access log."""
    token = bearer_token(request.authorization)
    runtime = request.runtime
    if token is None:
        headers = await runtime.limiter.check(route_class, f"ip:{request.client_ip}")
        return Authenticated(None, headers, [])
    found = await authenticate(runtime, token, route_class=route_class, extra_keys=extra_keys)
    request.scope["state"]["principal"] = found.principal
    return found


def _keep_rate_headers(request: Request, headers: dict[str, str]) -> None:
    request.scope.setdefault("state", {})["rate_headers"] = headers


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


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A service account holding `scope`, or an admin."""

    async def dependency(principal: Principal = Depends(require_principal)) -> Principal:
        if principal.is_service and principal.has_scope(scope):
            return principal
        if principal.kind == "user" and principal.has_role("admin"):
            return principal
        raise Forbidden(f"This route needs the {scope} scope.")

    return dependency


def rate_limit(route_class: str | None = None) -> Callable[..., Awaitable[None]]:
    """Count the request against its route class: `auth` and `webhook` per client IP;
    `read` and `write` (picked by method when not given) per user, or per IP when anonymous.

    Runs before the route's other dependencies; for a signed-in caller it authenticates too,
    reading the session state and counting the hit together."""

    async def dependency(request: Request, response: Response) -> None:
        runtime = request.app.state.runtime
        cls = route_class or ("read" if request.method in READ_METHODS else "write")
        token = _bearer(request)
        if cls in ("auth", "webhook") or token is None:
            headers = await runtime.limiter.check(cls, f"ip:{client_info(request).ip}")
        else:
            state = request.scope.setdefault("state", {})
            if state.get("principal", False) is False:
                state["principal"] = await _authenticate(request, token, route_class=cls)
                headers = state.pop("rate_headers", {})
            else:  # authenticated already: count the hit on its own
                principal = state["principal"]
                headers = await runtime.limiter.check(cls, f"{principal.kind}:{principal.subject}")
        response.headers.update(headers)

    return dependency
