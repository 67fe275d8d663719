"""Hot paths: the few routes games call on every screen (the player object, an ownership
check, leaderboard reads and score submissions), served below FastAPI's dependency system.

A route opts in with `@hot_path(handler)` on its endpoint. The endpoint still documents the
route (OpenAPI) and states its contract; the handler answers exactly as the endpoint would,
errors included (it raises `AppError`s as usual, rendered by the same handler). A handler that
returns None, before it has counted or changed anything, hands the request to the endpoint
with its body intact: that is how the uncommon cases (no token, a malformed query or body)
keep the framework's own validation and error shapes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette._utils import get_route_path
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


class HotRequest:
    """What a hot handler sees of the request: the raw scope, the body on demand, the runtime."""

    __slots__ = ("_authorization", "_body", "_receive", "runtime", "scope")

    def __init__(self, scope: Scope, receive: Receive, runtime: Runtime) -> None:
        self.scope = scope
        self.runtime = runtime
        self._receive = receive
        self._body: bytes | None = None
        self._authorization: str | None | bool = False  # False: not read yet

    def header(self, name: bytes) -> str | None:
        """A request header (`name` in lower case)."""
        return header(self.scope, name)

    @property
    def authorization(self) -> str | None:
        """The Authorization header, read once (the handler and `hot_caller` both look)."""
        if self._authorization is False:
            self._authorization = header(self.scope, b"authorization")
        return self._authorization  # type: ignore[return-value]

    def query(self) -> list[tuple[str, str]]:
        """The query string's pairs, in order, repeats kept."""
        raw: bytes = self.scope["query_string"]
        if b"%" not in raw and b"+" not in raw and b";" not in raw:  # nothing to unquote
            return [_pair(part) for part in raw.decode("latin-1").split("&") if part]
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)

    def sole_param(self, name: str) -> str | None:
        """The value when the query string is exactly `name=value` with nothing to unquote
        (the common case, read without splitting); None otherwise (then `query()`)."""
        raw: bytes = self.scope["query_string"]
        prefix = name.encode("latin-1") + b"="
        if not raw.startswith(prefix) or b"&" in raw or b"%" in raw or b"+" in raw or b";" in raw:
            return None
        return raw[len(prefix) :].decode("latin-1")

    def path_param(self, name: str) -> str:
        """A path parameter as the router matched it (not yet validated)."""
        return str(self.scope["path_params"][name])

    @property
    def client_ip(self) -> str:
        return str(self.scope["state"]["client_ip"])

    async def body(self) -> bytes:
        """The whole body (the gateway's size limit applies while it streams in)."""
        if self._body is None:
            chunks = []
            while True:
                message = await self._receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body

    def replay(self) -> Receive:
        """A `receive` for the endpoint: the body again if the handler read it."""
        if self._body is None:
            return self._receive
        pending: list[Message] = [{"type": "http.request", "body": self._body, "more_body": False}]
        receive = self._receive

        async def replayed() -> Message:
            return pending.pop() if pending else await receive()

        return replayed


class JsonAnswer:
    """A 200 JSON answer sent as two ASGI messages: what `Response` does, minus the work a
    hot path does not need (header normalisation, background tasks)."""

    __slots__ = ("body", "headers")

    def __init__(self, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.body = body
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [_JSON_TYPE, (b"content-length", b"%d" % len(self.body))]
        if self.headers:
            raw += [(_raw_name(k), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


_JSON_TYPE = (b"content-type", b"application/json")


@functools.lru_cache(maxsize=256)
def _raw_name(name: str) -> bytes:
    return name.lower().encode("latin-1")


HotHandler = Callable[[HotRequest], Coroutine[Any, Any, Response | JsonAnswer | None]]


def hot_path(handler: HotHandler) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Serve the decorated endpoint's route through `handler` (see the module docstring)."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        endpoint.hot_path = handler  # type: ignore[attr-defined]
        return endpoint

    return mark


def hot_app(handler: HotHandler, endpoint_app: ASGIApp) -> ASGIApp:
    """The route's ASGI app: the hot handler, falling back to the endpoint."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = HotRequest(scope, receive, scope["app"].state.runtime)
        response = await handler(request)
        if response is None:
            await endpoint_app(scope, request.replay(), send)
        else:
            await response(scope, receive, send)

    return app


class HotPathRoute(APIRoute):
    """A route whose endpoint opted in with `@hot_path`: its app is the handler, falling back
    to the endpoint (`hot_app`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        hot = getattr(endpoint, "hot_path", None)
        if hot is not None:
            self.app = hot_app(hot, self.app)


def hoist_hot_routes(app: FastAPI) -> None:
    """Move the fixed-path hot routes to the front of the route list: the router tries routes
    in order, and these are the ones games call most. Safe because in front a fixed path can
    only win over a template route that would have shadowed it. Hot routes with path
    parameters keep their place (their order among templates matters)."""
    routes = app.router.routes
    hot = [
        r
        for r in routes
        if isinstance(r, APIRoute) and hasattr(r.endpoint, "hot_path") and not r.param_convertors
    ]
    routes[:] = [*hot, *(r for r in routes if r not in hot)]


class HotLane:
    """The hot routes, served straight from the gateway: a request for one of them skips the
    middleware and the router between (the exception middleware's wrapper, the route search)
    and reaches the route's own app with the scope the router would have given it. Errors are
    rendered by the app's exception handlers exactly as the exception middleware renders them
    (`render`): the same responses, the same codes. The lane takes a request only when the
    router would send it to that same route: a fixed path and method of a hot route (those
    come first in the route list, see `hoist_hot_routes`), or a templated hot route the
    router's search finds first for the path (`RememberedMatches`). Everything else goes the
    usual way."""

    def __init__(self, app: FastAPI) -> None:
        self._fixed: dict[tuple[str, str], tuple[ASGIApp, dict[str, Any]]] = {}
        for route in app.router.routes:
            if (
                isinstance(route, APIRoute)
                and hasattr(route.endpoint, "hot_path")
                and not route.param_convertors
            ):
                child = {"endpoint": route.endpoint, "path_params": {}, "route": route}
                for method in route.methods or ():
                    self._fixed.setdefault((route.path, method), (route.app, child))
        self._remembered: RememberedMatches | None = getattr(app.state, "hot_matches", None)
        # The handlers the exception middleware holds, built the way Starlette builds them
        # (500 and Exception belong to the server-error middleware, outside the gateway).
        handlers = {k: v for k, v in app.exception_handlers.items() if k not in (500, Exception)}
        middleware = ExceptionMiddleware(app.router, handlers=handlers)  # type: ignore[arg-type]
        self._handlers = (middleware._exception_handlers, middleware._status_handlers)
        self._router = app.router

    def route_app(self, scope: Scope) -> ASGIApp | None:
        """The app of the hot route `scope` is for, with the scope made ready; None when the
        request is not for a hot route the lane knows."""
        found = self._fixed.get((get_route_path(scope), scope["method"]))
        if found is not None:
            app, child = found
            scope.update(child)
        elif self._remembered is not None:
            route = self._remembered.recall(scope)
            if route is None:
                return None
            app = route.app  # type: ignore[attr-defined]
        else:
            return None
        scope["router"] = self._router
        scope["starlette.exception_handlers"] = self._handlers
        return app

    async def render(self, error: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer `error` (raised by a lane route before its response began) with the app's
        exception handlers; an error no handler takes is raised again."""

        async def raising(scope: Scope, receive: Receive, send: Send) -> None:
            raise error

        await wrap_app_handling_exceptions(raising, Request(scope, receive))(scope, receive, send)


MATCH_MEMO_SIZE = 4096


class RememberedMatches:
    """Which templated hot route (`/leaderboards/{season_id}/around-me`) a path is for, without
    trying every route before it each time: the router tries routes in order, and templated
    hot routes stay behind the templates that must come first. The route the router's search
    finds first for a (path, method) is remembered; matching depends only on the path and
    method, so it stays the router's choice."""

    def __init__(self, app: FastAPI) -> None:
        self._routes = app.router.routes
        hot = [
            r for r in self._routes if isinstance(r, APIRoute) and hasattr(r.endpoint, "hot_path")
        ]
        self._hot = hot
        self._templated = [r for r in hot if r.param_convertors]
        self._remembered: dict[tuple[str, str, str], BaseRoute | None] = {}

    def recall(self, scope: Scope) -> BaseRoute | None:
        """The templated hot route `scope` is for, its path parameters put in `scope`; None
        when it is for another route (then the router decides). Paths a hot template matches
        are remembered either way, so the route search runs once per path."""
        key = (scope.get("root_path", ""), scope["path"], scope["method"])
        route = self._remembered.get(key, _UNSEEN)
        if route is _UNSEEN:
            path = get_route_path(scope)
            if not any(r.path_regex.match(path) for r in self._templated):
                return None
            found = _first_full_match(self._routes, scope)
            route = found if found in self._hot else None
            if len(self._remembered) >= MATCH_MEMO_SIZE:
                del self._remembered[next(iter(self._remembered))]
            self._remembered[key] = route
        if route is None:
            return None
        match, child_scope = route.matches(scope)
        if match is not Match.FULL:
            return None
        scope.update(child_scope)
        return route


_UNSEEN: Any = object()


def remember_hot_matches(app: FastAPI) -> None:
    """Route templated hot paths by `RememberedMatches`, in the router (for the requests the
    gateway's lane does not take) and in the lane (`app.state.hot_matches`)."""
    router = app.router
    route_in_order = router.middleware_stack  # the router's own dispatch
    if not any(
        isinstance(r, APIRoute) and hasattr(r.endpoint, "hot_path") and r.param_convertors
        for r in router.routes
    ):
        return
    remembered = app.state.hot_matches = RememberedMatches(app)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = remembered.recall(scope)
            if route is not None:
                scope.setdefault("router", router)
                await route.handle(scope, receive, send)
                return
        await route_in_order(scope, receive, send)

    router.middleware_stack = dispatch


def _first_full_match(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def _pair(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return name, value


def header(scope: Scope, name: bytes) -> str | None:
    """A request header straight from the ASGI scope (`name` in lower case)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
