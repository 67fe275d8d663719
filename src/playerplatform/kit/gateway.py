"""The gateway: the one ASGI middleware every HTTP request passes through.

In a single pass over the request headers it settles the request id (a caller's well-formed
`X-Request-ID`, else a fresh one), the client address (the peer, or the first untrusted hop of
`X-Forwarded-For` when the peer is a trusted proxy) and the body size (413 before reading an
oversize `Content-Length`; chunked bodies are counted as they stream). A body must arrive
within the body timeout (408, connection closed), and a client IP may have only so many API
requests in flight in this process (429 at once beyond). Around the app it echoes
the request id, adds the headers the request's handling asked for (`RESPONSE_HEADERS`: the
rate-limit headers), records the HTTP metrics by route template and writes one access-log line.
A request for a route the fast dispatch compiled goes from here straight to it (`Dispatch`),
unless it is cross-origin and CORS is on (the CORS middleware sits inside the gateway).

Kept as plain ASGI (no BaseHTTPMiddleware, no Request objects): it runs on every request.
"""

from __future__ import annotations

import asyncio
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

from playerplatform.kit.dispatch import Dispatch
from playerplatform.kit.errors import problem_response
from playerplatform.kit.metrics import HTTP_DURATION, HTTP_REQUESTS
from playerplatform.kit.settings import Settings

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
# Request-state key: headers (name -> value) to add to the response, whoever sends it.
RESPONSE_HEADERS = "response_headers"
_KNOWN_METHODS = frozenset(CORS_ALLOW_METHODS)
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_REQUEST_ID_HEADER = b"x-request-id"
_USER_AGENT_LIMIT = 256
_PATH_LIMIT = 512

Network = IPv4Network | IPv6Network
access_log = structlog.get_logger("playerplatform.access")


class BodyReadTimeout(HTTPException):
    """Raised from `receive` when the body does not arrive in time (a slow or stalled
    client): 408 `request_timeout`, and the connection is closed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"The request body did not arrive within {seconds:g} seconds.",
            headers={"Connection": "close"},
        )


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
        capped_prefixes: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.body_timeout = settings.body_read_timeout_seconds
        # Requests in flight per client IP, on the paths the cap covers (the public API).
        self.max_per_ip = settings.max_requests_per_ip
        self.capped = tuple(capped_prefixes) if self.max_per_ip else ()
        self.in_flight: dict[str, int] = {}
        self.exempt = tuple(body_limit_exempt)
        self.access_log = settings.access_log
        self.trusts_proxies = bool(settings.trusted_networks)
        self.is_trusted = _trust_check(settings.trusted_networks)
        self.log = access_log.bind()  # concrete logger, bound once
        self.routes_of = routes_of
        # Built with the middleware stack, at the first request: every route is in place.
        fast = settings.fast_dispatch and routes_of is not None
        self.dispatch = Dispatch(routes_of) if fast else None
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
                headers = [*message.get("headers", ()), id_header]
                extra = state.get(RESPONSE_HEADERS)
                if extra:
                    headers += [
                        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()
                    ]
                message["headers"] = headers
            await send(message)

        capped = bool(self.capped) and scope["path"].startswith(self.capped)
        if capped and not self._admit(client_ip):
            await self._too_many(scope, receive, send_with_id)
            self._record(scope, state, status, started, client_ip, agent, request_id)
            return
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
            if length not in (None, b"0") or chunked:
                receive = self._timed(scope, receive)
            # A cross-origin request goes through the CORS middleware: not straight to a route.
            dispatch = self.dispatch if not (origin and self.cors) else None
            route = dispatch.find(scope) if dispatch is not None else None
            if route is None:
                await self.app(scope, receive, send_with_id)
            else:
                await route(scope, receive, send_with_id)
        except BodyTooLarge:
            if status:
                raise  # the response has begun: all we can do is drop the connection
            await self._too_large(scope, receive, send_with_id)
        except BodyReadTimeout as timeout:
            if status:
                raise
            await self._timed_out(scope, receive, send_with_id, timeout)
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
            if capped:
                self._release(client_ip)
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

    def _admit(self, client_ip: str) -> bool:
        """Count one more request in flight from `client_ip`; False (nothing counted) when it
        has as many as the cap already."""
        held = self.in_flight.get(client_ip, 0)
        if held >= self.max_per_ip:
            return False
        self.in_flight[client_ip] = held + 1
        return True

    def _release(self, client_ip: str) -> None:
        held = self.in_flight.pop(client_ip, 1) - 1
        if held > 0:
            self.in_flight[client_ip] = held

    async def _too_many(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            429,
            "rate_limited",
            "Too many requests",
            "Too many requests in flight from this address; retry later.",
            headers={"Retry-After": "1", "Connection": "close"},
            instance=scope["path"],
        )
        await response(scope, receive, send)

    def _timed(self, scope: Scope, receive: Receive) -> Receive:
        """`receive` with a deadline: the whole body within the body timeout, or on the
        signed-upload paths (large files) each chunk within it of the last."""
        seconds = self.body_timeout
        whole = not scope["path"].startswith(self.exempt) if self.exempt else True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        done = False

        async def timed() -> Message:
            nonlocal done
            if done:  # the body is in: what follows is the disconnect, which may wait
                return await receive()
            left = deadline - loop.time() if whole else seconds
            try:
                # A timeout scope, not `wait_for`: no task per read on the hot path.
                async with asyncio.timeout(max(left, 0.0)):
                    message = await receive()
            except TimeoutError:
                raise BodyReadTimeout(seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        return timed

    async def _timed_out(
        self, scope: Scope, receive: Receive, send: Send, error: BodyReadTimeout
    ) -> None:
        response = problem_response(
            408,
            "request_timeout",
            "Request timeout",
            str(error.detail),
            headers=error.headers,
            instance=scope["path"],
        )
        await response(scope, receive, send)

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
    app: FastAPI,
    settings: Settings,
    *,
    body_limit_exempt: Sequence[str] = (),
    capped_prefixes: Sequence[str] = (),
) -> None:
    """Add the gateway (outermost) and, when origins are configured, CORS inside it, so
    preflight answers also carry a request id and are counted. Paths starting with one of
    `body_limit_exempt` skip the JSON body limit (signed upload URLs enforce their own
    per-type limits). Paths starting with one of `capped_prefixes` (the public API) count
    against the cap on requests in flight per client IP."""
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
        body_limit_exempt=tuple(body_limit_exempt),
        capped_prefixes=tuple(capped_prefixes),
    )
