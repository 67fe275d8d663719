"""The gateway: the one ASGI middleware every HTTP request passes through.

In a single pass over the request headers it settles the request id (a caller's well-formed
`X-Request-ID`, else a fresh one), the client address (the peer, or the first untrusted hop of
`X-Forwarded-For` when the peer is a trusted proxy) and the body size (413 before reading an
oversize `Content-Length`; chunked bodies are counted as they stream). Around the app it echoes
the request id, records the HTTP metrics by route template and writes one access-log line.
A request for a hot route goes from here straight to its route (`HotLane`), unless it is
cross-origin and CORS is on.

Kept as plain ASGI (no BaseHTTPMiddleware, no Request objects): it runs on every request.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from time import perf_counter
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from playerplatform.kit.errors import problem_response
from playerplatform.kit.hotpath import HotLane
from playerplatform.kit.metrics import HTTP_DURATION, HTTP_REQUESTS
from playerplatform.kit.settings import Settings

# Path prefixes whose bodies the JSON limit does not apply to (signed upload URLs enforce
# their own per-type limits). Modules append here at import; `install_gateway` reads it.
BODY_LIMIT_EXEMPT_PREFIXES: list[str] = []

CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "X-Request-ID",
)
CORS_EXPOSE_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "X-Request-ID",
    "ETag",
    "Idempotent-Replayed",
)
CORS_ALLOW_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

UNMATCHED_ROUTE = "unmatched"
_KNOWN_METHODS = frozenset(CORS_ALLOW_METHODS)
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_REQUEST_ID_HEADER = b"x-request-id"
_USER_AGENT_LIMIT = 256
_PATH_LIMIT = 512

Network = IPv4Network | IPv6Network
access_log = structlog.get_logger("playerplatform.access")


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes the limit. An HTTPException so that
    the app's handler renders it as 413 `payload_too_large` wherever the body is read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes.")


@lru_cache(maxsize=4096)
def _parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """An address from a peer or a forwarded hop (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trust_check(networks: tuple[Network, ...]) -> Callable[[str], bool]:
    @lru_cache(maxsize=4096)
    def is_trusted(host: str) -> bool:
        address = _parse_address(host)
        return address is not None and any(address in network for network in networks)

    return is_trusted


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        routes_of: FastAPI | None = None,
        body_limit_exempt: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.exempt = tuple(body_limit_exempt)
        self.access_log = settings.access_log
        self.trusts_proxies = bool(settings.trusted_networks)
        self.is_trusted = _trust_check(settings.trusted_networks)
        self.log = access_log.bind()  # concrete logger, bound once
        self.routes_of = routes_of
        # Built with the middleware stack, at the first request: every route is in place.
        self.lane = HotLane(routes_of) if routes_of is not None else None
        self.cors = bool(settings.cors_origins)
        self.endpoint_paths: dict[Any, str] = {}
        self.series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()

        raw_id = forwarded = length = agent = None
        chunked = origin = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"x-request-id":
                raw_id = value
            elif name == b"x-forwarded-for":
                forwarded = value if forwarded is None else forwarded + b"," + value
            elif name == b"user-agent":
                agent = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"origin":
                origin = True

        if raw_id is not None and _REQUEST_ID.fullmatch(raw_id):
            request_id = raw_id.decode("ascii")
            id_header = (_REQUEST_ID_HEADER, raw_id)
        else:
            request_id = secrets.token_hex(8)
            id_header = (_REQUEST_ID_HEADER, request_id.encode("ascii"))

        peer = scope.get("client")
        client_ip = peer[0] if peer else "unknown"
        if forwarded is not None and self.trusts_proxies and self.is_trusted(client_ip):
            client_ip = self._forwarded_client(client_ip, forwarded)

        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        state["client_ip"] = client_ip

        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: the response object may reuse its header list.
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        failed = False
        try:
            if length is not None:
                declared = int(length) if length.isdigit() else -1
                if declared > self.max_body and not scope["path"].startswith(self.exempt):
                    await self._too_large(scope, receive, send_with_id)
                    return
            elif chunked or scope["method"] not in _BODYLESS_METHODS:
                receive = self._counting(scope, receive)
            # A cross-origin request goes through the CORS middleware: not the hot lane.
            lane = self.lane if not (origin and self.cors) else None
            hot = lane.route_app(scope) if lane is not None else None
            if lane is None or hot is None:
                await self.app(scope, receive, send_with_id)
            else:
                try:
                    await hot(scope, receive, send_with_id)
                except Exception as error:
                    if status:
                        raise
                    await lane.render(error, scope, receive, send_with_id)
        except BodyTooLarge:
            if status:
                raise  # the response has begun: all we can do is drop the connection
            await self._too_large(scope, receive, send_with_id)
        except Exception:
            failed = True
            if not status:
                # The outer error handler logs it; answering here keeps the request id.
                await problem_response(
                    500, "internal_error", "Internal error", "Something went wrong on our side."
                )(scope, receive, send_with_id)
            raise
        finally:
            # On failure the outer error handler still logs: leave the request id bound.
            if not failed:
                structlog.contextvars.reset_contextvars(**tokens)
            self._record(scope, state, status or 500, started, client_ip, agent, request_id)

    def _forwarded_client(self, peer: str, forwarded: bytes) -> str:
        """Walk X-Forwarded-For right to left past trusted hops; the first untrusted hop is
        the client. A hop that is not an address ends the walk at the last one we trust."""
        client = peer
        for hop in reversed(forwarded.decode("latin-1").split(",")):
            address = _parse_address(hop)
            if address is None:
                break
            client = str(address)
            if not self.is_trusted(client):
                break
        return client

    def _counting(self, scope: Scope, receive: Receive) -> Receive:
        limit = self.max_body
        exempt = self.exempt
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not scope["path"].startswith(exempt):
                    raise BodyTooLarge(limit)
            return message

        return counted

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "payload_too_large",
            "Payload too large",
            f"The request body exceeds {self.max_body} bytes.",
            instance=scope["path"],
        )
        await response(scope, receive, send)

    def _route_template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(route.path)
        endpoint = scope.get("endpoint")
        if endpoint is None or self.routes_of is None:
            return UNMATCHED_ROUTE
        # Plain Starlette routes (/docs, /openapi.json) name only their endpoint.
        path = self.endpoint_paths.get(endpoint)
        if path is None:
            for candidate in self.routes_of.routes:
                if getattr(candidate, "endpoint", None) is endpoint:
                    path = str(getattr(candidate, "path", UNMATCHED_ROUTE))
                    break
            else:
                path = UNMATCHED_ROUTE
            self.endpoint_paths[endpoint] = path
        return path

    def _record(
        self,
        scope: Scope,
        state: dict[str, Any],
        status: int,
        started: float,
        client_ip: str,
        agent: bytes | None,
        request_id: str,
    ) -> None:
        elapsed = perf_counter() - started
        method = scope["method"]
        if method not in _KNOWN_METHODS:
            method = "OTHER"  # the method is caller-chosen: keep label values bounded
        route = self._route_template(scope)
        key = (method, route, status)
        series = self.series.get(key)
        if series is None:
            series = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_DURATION.labels(method, route),
            )
            self.series[key] = series
        series[0].inc()
        series[1].observe(elapsed)

        if not self.access_log:
            return
        fields: dict[str, Any] = {
            "method": method,
            "path": scope["path"][:_PATH_LIMIT],
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "request_id": request_id,
            "client_ip": client_ip,
        }
        if route != UNMATCHED_ROUTE:
            fields["route"] = route
        if agent is not None:
            fields["user_agent"] = agent[:_USER_AGENT_LIMIT].decode("latin-1")
        principal = state.get("principal")
        if principal is not None:
            fields["subject"] = principal.subject
            fields["subject_kind"] = principal.kind
        self.log.info("request", **fields)


def install_gateway(
    app: FastAPI, settings: Settings, *, body_limit_exempt: Sequence[str] = ()
) -> None:
    """Add the gateway (outermost) and, when origins are configured, CORS inside it, so
    preflight answers also carry a request id and are counted. Paths starting with one of
    `body_limit_exempt` (or of `BODY_LIMIT_EXEMPT_PREFIXES`) skip the JSON body limit."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_ALLOW_METHODS,
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        )
    app.add_middleware(
        Gateway,
        settings=settings,
        routes_of=app,
        body_limit_exempt=(*BODY_LIMIT_EXEMPT_PREFIXES, *body_limit_exempt),
    )
