"""The fast dispatch: every route served straight from its FastAPI declaration.

A route is declared once, the FastAPI way: path, parameters with their bounds (`Query`,
`Path`, `Header`), a body model, dependencies (auth, roles, rate class, idempotency), the
response model and status. FastAPI serves such a route through general machinery that costs
more than most of our endpoints do: a linear route search, an exception-handling layer per
request, a dependency solver that re-inspects the declaration on every call, two exit stacks,
and a response that is dumped to dicts, validated again and encoded again.

`Dispatch` reads the same declarations once, at start-up, and compiles each route into a plan:
which dependencies to call in which order, which parameters to read from where, each with the
pydantic validator FastAPI would build for it (`TypeAdapter(Annotated[type, FieldInfo])`), and
how to encode the answer. Serving a request is then a path lookup and running the plan. The
semantics are FastAPI's: dependencies in declaration order (route-level ones first), cached
per request, then the callable's own path, query and header parameters, then the body;
validation errors gathered into one `RequestValidationError`; a dependency whose own
parameters fail is not called; the JSON body is parsed before any dependency runs; the
answer validated against the response model and encoded with its aliases. Errors are rendered
by the app's own exception handlers.

Only public APIs are used: the routes' declarations (`APIRoute.endpoint`, `.dependencies`,
`.response_model`, `.status_code`, `.response_class`, `.matches`), the endpoint signatures,
FastAPI's parameter classes and pydantic's `TypeAdapter`. A route whose declaration uses
something the plan does not cover (yield dependencies, forms, files, background tasks,
embedded bodies, response include/exclude) is left to FastAPI, and `Dispatch.uncompiled` names
it; the test suite requires that list to be empty for the API.

`PP_FAST_DISPATCH=false` turns the whole thing off: every request then takes FastAPI's own
path, and the suite runs both ways.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, Union, get_args, get_origin
from urllib.parse import parse_qsl

from fastapi import params
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, ORJSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

R = typing.TypeVar("R")
Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


class ChecksRequests(Protocol):
    """A route class with rules of its own for what a request may carry (`kit.edge_route`):
    the dispatch applies them where FastAPI's path does, before the body is validated."""

    def check_request(self, request: Request) -> None: ...

    def parse_json(self, raw: bytes) -> Any: ...

    def make_request(self, scope: Scope, receive: Receive) -> Request:
        """The request its endpoint receives (whose `json()` follows the route's rules)."""
        ...


class RunsEndpoints(Protocol):
    """A route class that wraps its endpoint's work (a unit of work per request, say): the
    dispatch runs the compiled plan through it exactly as FastAPI's handler does."""

    async def run_endpoint(
        self, request: Request, work: Callable[[], Awaitable[R]], status_of: Callable[[R], int]
    ) -> R: ...


class NotCompilable(Exception):
    """The declaration uses something the plan does not cover; FastAPI serves the route."""


# --- parameters -----------------------------------------------------------------------------

_SEQUENCES = (list, tuple, set, frozenset, Sequence)


_IMMUTABLE = (type(None), str, bytes, int, float)


@dataclass(slots=True)
class _Param:
    name: str  # the argument's name
    key: str  # what the request carries it as (query name, lower-case header, path name)
    source: str  # "path" | "query" | "header"
    adapter: TypeAdapter[Any]
    required: bool
    default: Any
    many: bool  # a sequence: every value of a repeated query parameter or header

    def default_value(self) -> Any:
        # FastAPI hands each call a copy of a default, so a mutable one cannot leak (an
        # immutable one, the usual None, cannot: it is handed as is).
        if isinstance(self.default, _IMMUTABLE):
            return self.default
        return copy.deepcopy(self.default)


@dataclass(slots=True)
class _Body:
    name: str
    adapter: TypeAdapter[Any]
    required: bool
    default: Any


@dataclass(slots=True)
class _Call:
    """One callable of the plan (a dependency or the endpoint) and what it takes."""

    call: Callable[..., Any]
    is_async: bool
    use_cache: bool
    dependencies: list[tuple[str | None, _Call]] = field(default_factory=list)
    params: list[_Param] = field(default_factory=list)
    body: _Body | None = None
    request_args: list[str] = field(default_factory=list)
    response_args: list[str] = field(default_factory=list)

    def needs_body(self) -> bool:
        return self.body is not None or any(d.needs_body() for _, d in self.dependencies)

    def needs(self, source: str) -> bool:
        return any(p.source == source for p in self.params) or any(
            d.needs(source) for _, d in self.dependencies
        )


def _strip_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_sequence(annotation: Any) -> bool:
    inner = _strip_optional(annotation)
    origin = get_origin(inner) or inner
    return isinstance(origin, type) and issubclass(origin, _SEQUENCES) and origin is not str


def _is_model(annotation: Any) -> bool:
    inner = _strip_optional(annotation)
    return isinstance(inner, type) and issubclass(inner, BaseModel)


def _param(
    name: str, annotation: Any, info: FieldInfo, source: str, *, convert_underscores: bool
) -> _Param:
    alias = info.alias
    if source == "header":
        key = (alias or (name.replace("_", "-") if convert_underscores else name)).lower()
    else:
        key = alias or name
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    return _Param(
        name=name,
        key=key,
        source=source,
        adapter=TypeAdapter(Annotated[annotation, info]),
        required=required,
        default=default,
        many=_is_sequence(annotation),
    )


def _compile_call(
    call: Callable[..., Any], path_names: frozenset[str], *, use_cache: bool, top: bool
) -> _Call:
    if not (inspect.isfunction(call) or inspect.ismethod(call)):
        raise NotCompilable(f"{call!r} is not a function")
    if inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call):
        raise NotCompilable(f"{call!r} is a yield dependency")
    hints = typing.get_type_hints(call, include_extras=True)
    plan = _Call(call=call, is_async=inspect.iscoroutinefunction(call), use_cache=use_cache)
    for name, parameter in inspect.signature(call).parameters.items():
        annotation = hints.get(name, Any)
        default = parameter.default
        marker: Any = default
        if get_origin(annotation) is Annotated:
            annotation, *extras = get_args(annotation)
            found = [e for e in extras if isinstance(e, FieldInfo | params.Depends)]
            if found:
                if default is not inspect.Parameter.empty:
                    raise NotCompilable(f"{name}: a default beside an Annotated marker")
                marker = found[-1]
        if isinstance(marker, params.Security):
            raise NotCompilable(f"{name}: Security dependencies")
        if isinstance(marker, params.Depends):
            dependency = marker.dependency or annotation
            sub = _compile_call(dependency, path_names, use_cache=marker.use_cache, top=False)
            plan.dependencies.append((name, sub))
            continue
        bare = _strip_optional(annotation)
        if isinstance(bare, type) and issubclass(bare, Request):
            plan.request_args.append(name)
            continue
        if isinstance(bare, type) and issubclass(bare, Response):
            plan.response_args.append(name)
            continue
        if isinstance(marker, params.Form | params.File):
            raise NotCompilable(f"{name}: forms and files")
        if isinstance(marker, params.Body):
            raise NotCompilable(f"{name}: an explicit Body parameter")
        if isinstance(marker, params.Cookie):
            raise NotCompilable(f"{name}: cookies")
        if isinstance(marker, params.Path | params.Query | params.Header):
            source = {params.Path: "path", params.Query: "query", params.Header: "header"}[
                type(marker)
            ]
            convert = getattr(marker, "convert_underscores", True)
            if _is_model(annotation):
                raise NotCompilable(f"{name}: a model of parameters")
            plan.params.append(
                _param(name, annotation, marker, source, convert_underscores=convert)
            )
            continue
        if isinstance(marker, FieldInfo):
            raise NotCompilable(f"{name}: an unsupported parameter marker")
        if name in path_names:
            plan.params.append(
                _param(name, annotation, params.Path(), "path", convert_underscores=False)
            )
            continue
        if _is_model(annotation):
            if not top or plan.body is not None:
                raise NotCompilable(f"{name}: a body outside the endpoint, or two bodies")
            required = default is inspect.Parameter.empty
            plan.body = _Body(
                name=name,
                adapter=TypeAdapter(Annotated[annotation, params.Body()]),
                required=required,
                default=None if required else default,
            )
            continue
        if _is_sequence(annotation) or annotation is Any:
            raise NotCompilable(f"{name}: a parameter FastAPI would read from the body")
        query = params.Query() if default is inspect.Parameter.empty else params.Query(default)
        plan.params.append(_param(name, annotation, query, "query", convert_underscores=False))
    return plan


# --- serving one request --------------------------------------------------------------------


class _Solving:
    """What one request's plan run carries: the request, the shared response for headers and
    status, the dependency cache, the parsed inputs and the validation errors so far."""

    __slots__ = ("body", "cache", "errors", "headers", "query", "request", "response")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.response: Response | None = None
        self.cache: dict[Callable[..., Any], Any] = {}
        self.errors: list[dict[str, Any]] = []
        self.query: dict[str, list[str]] | None = None
        self.headers: Headers | None = None
        self.body: Any = None

    def shared_response(self) -> Response:
        response = self.response
        if response is None:
            response = self.response = Response()
            del response.headers["content-length"]
            response.status_code = None  # type: ignore[assignment]
        return response

    def query_values(self) -> dict[str, list[str]]:
        query = self.query
        if query is None:
            query = {}
            raw = self.request.scope["query_string"]
            if raw:
                for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
                    query.setdefault(key, []).append(value)
            self.query = query
        return query


def _lookup(param: _Param, solving: _Solving) -> Any:
    if param.source == "path":
        return solving.request.scope["path_params"].get(param.key)
    if param.source == "query":
        values = solving.query_values().get(param.key)
        if values is None:
            return None
        return values if param.many else values[-1]
    headers = solving.headers
    if headers is None:
        headers = solving.headers = Headers(scope=solving.request.scope)
    if param.many:
        found = headers.getlist(param.key)
        return found or None
    return headers.get(param.key)


def _validate(
    adapter: TypeAdapter[Any], value: Any, loc: tuple[str, ...], errors: list[dict[str, Any]]
) -> Any:
    try:
        return adapter.validate_python(value, from_attributes=True)
    except ValidationError as exc:
        errors.extend(
            {**error, "loc": loc + tuple(error.get("loc", ()))}
            for error in exc.errors(include_url=False)
        )
        return None


def _missing(loc: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


async def _arguments(plan: _Call, solving: _Solving) -> dict[str, Any] | None:
    """The arguments of `plan.call`, its dependencies called first; None when any of its
    inputs failed validation (the errors are in `solving.errors`)."""
    errors = solving.errors
    before = len(errors)
    values: dict[str, Any] = {}
    for name, sub in plan.dependencies:
        if sub.use_cache and sub.call in solving.cache:
            solved = solving.cache[sub.call]
        else:
            sub_values = await _arguments(sub, solving)
            if sub_values is None:
                continue
            if sub.is_async:
                solved = await sub.call(**sub_values)
            else:
                solved = await run_in_threadpool(sub.call, **sub_values)
            solving.cache.setdefault(sub.call, solved)
        if name is not None:
            values[name] = solved
    for param in plan.params:
        value = _lookup(param, solving)
        if value is None:
            if param.required:
                errors.append(_missing((param.source, param.key)))
            else:
                values[param.name] = param.default_value()
            continue
        values[param.name] = _validate(param.adapter, value, (param.source, param.key), errors)
    body = plan.body
    if body is not None:
        if solving.body is None:
            if body.required:
                errors.append(_missing(("body",)))
            else:
                values[body.name] = copy.deepcopy(body.default)
        else:
            values[body.name] = _validate(body.adapter, solving.body, ("body",), errors)
    for name in plan.request_args:
        values[name] = solving.request
    for name in plan.response_args:
        values[name] = solving.shared_response()
    return values if len(errors) == before else None


class _Answer:
    """A finished JSON answer, sent as two ASGI messages."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(self, status_code: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.headers}
        )
        await send({"type": "http.response.body", "body": self.body})


def _body_allowed(status: int) -> bool:
    return not (status < 200 or status in (204, 205, 304))


@dataclass
class CompiledRoute:
    """One route's plan, served as an ASGI app."""

    route: APIRoute
    plan: _Call
    handlers: _ErrorHandlers
    runner: RunsEndpoints | None
    checker: ChecksRequests | None
    response_adapter: TypeAdapter[Any] | None
    response_class: type[Response]
    json_media_type: bytes | None  # set when the answer is encoded here, as JSON
    status_code: int | None
    parses_body: bool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        checker = self.checker
        request = (
            Request(scope, receive) if checker is None else checker.make_request(scope, receive)
        )
        try:
            if self.runner is None:
                answer = await self._answer(request)
            else:
                answer = await self.runner.run_endpoint(
                    request, lambda: self._answer(request), _status
                )
        except Exception as exc:
            handler = self.handlers.find(exc)
            if handler is None:
                raise
            result = handler(request, exc)
            answer = await result if inspect.isawaitable(result) else result
        await answer(scope, receive, send)

    async def _answer(self, request: Request) -> Response | _Answer:
        solving = _Solving(request)
        if self.checker is not None:
            self.checker.check_request(request)
        if self.parses_body:
            solving.body = await self._read_body(request)
        values = await _arguments(self.plan, solving)
        if values is None:
            raise RequestValidationError(solving.errors, body=solving.body)
        plan = self.plan
        if plan.is_async:
            raw = await plan.call(**values)
        else:
            raw = await run_in_threadpool(plan.call, **values)
        if isinstance(raw, Response):
            return raw
        return self._encode(raw, solving.response)

    async def _read_body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw:
            return None
        if not is_json_type(request.headers.get("content-type")):
            return raw  # FastAPI hands such a body to validation as it is
        if self.checker is not None:
            return self.checker.parse_json(raw)
        try:
            return json.loads(raw)
        except ValueError as exc:
            position = getattr(exc, "pos", 0)
            message = getattr(exc, "msg", str(exc))
            error = {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": message},
            }
            raise RequestValidationError([error], body=raw) from exc

    def _encode(self, raw: Any, shared: Response | None) -> Response | _Answer:
        status = self.status_code
        if shared is not None and shared.status_code:
            status = shared.status_code
        adapter = self.response_adapter
        if adapter is not None:
            value = adapter.validate_python(raw, from_attributes=True)
            if self.json_media_type is not None and (status is None or _body_allowed(status)):
                headers = [(b"content-type", self.json_media_type)]
                body = adapter.dump_json(value, by_alias=True)
                headers.append((b"content-length", str(len(body)).encode("latin-1")))
                if shared is not None:
                    headers.extend(shared.headers.raw)
                return _Answer(status or 200, headers, body)
            content = adapter.dump_python(value, mode="json", by_alias=True)
        else:
            content = jsonable_encoder(raw)
        response = (
            self.response_class(content, status_code=status)
            if status is not None
            else self.response_class(content)
        )
        if not _body_allowed(response.status_code):
            response.body = b""
        if shared is not None:
            response.headers.raw.extend(shared.headers.raw)
        return response


@functools.lru_cache(maxsize=64)
def is_json_type(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this type as JSON: none, `application/json`, or any
    `application/*+json`."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _status(answer: Response | _Answer) -> int:
    return answer.status_code


class _ErrorHandlers:
    """The app's exception handlers, looked up the way Starlette's exception middleware does:
    an `HTTPException`'s status first, then the exception's classes in order. 500 and
    `Exception` are left to the server-error middleware (the error propagates)."""

    def __init__(self, handlers: dict[Any, Handler]) -> None:
        self.by_status = {k: v for k, v in handlers.items() if isinstance(k, int) and k != 500}
        self.by_class = {
            k: v for k, v in handlers.items() if isinstance(k, type) and k is not Exception
        }

    def find(self, exc: Exception) -> Handler | None:
        if isinstance(exc, HTTPException):
            handler = self.by_status.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self.by_class.get(cls)
            if handler is not None:
                return handler
        return None


# --- finding the route ----------------------------------------------------------------------


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    routes: list[int] = field(default_factory=list)


def _literal_prefix(route: BaseRoute) -> list[str] | None:
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None  # matched by something other than a path: a candidate everywhere
    segments = path.split("/")
    literal = []
    for segment in segments:
        if "{" in segment:
            break
        literal.append(segment)
    if isinstance(route, Mount) and literal and literal[-1] == "":
        literal.pop()
    return literal


MATCH_MEMO_SIZE = 8192


def _plain_calls(plan: _Call) -> set[str]:
    """The qualified names of the plan's callables that are not coroutine functions."""
    found = set() if plan.is_async else {f"{plan.call.__module__}.{plan.call.__qualname__}"}
    for _name, sub in plan.dependencies:
        found |= _plain_calls(sub)
    return found


class Dispatch:
    """Every compilable route of an app, and the lookup of the route a request is for (the
    router's answer: the first route in order that matches the path and method)."""

    def __init__(self, app: Any) -> None:
        self.routes: list[BaseRoute] = list(app.routes)
        self.compiled: dict[int, CompiledRoute] = {}
        self.uncompiled: dict[str, str] = {}
        # Routes calling a plain function (dependency or endpoint): the framework runs each on
        # a worker thread, a hand-over that costs more than most endpoints do.
        self.threaded: dict[str, list[str]] = {}
        handlers = _ErrorHandlers(dict(app.exception_handlers))
        for index, route in enumerate(self.routes):
            if isinstance(route, APIRoute):
                name = f"{sorted(route.methods or ())} {route.path}"
                try:
                    compiled = self.compiled[index] = compile_route(route, handlers)
                except NotCompilable as why:
                    self.uncompiled[name] = str(why)
                    continue
                if plain := sorted(_plain_calls(compiled.plan)):
                    self.threaded[name] = plain
        self._root = _Node()
        self._everywhere: list[int] = []
        for index, route in enumerate(self.routes):
            prefix = _literal_prefix(route)
            if prefix is None:
                self._everywhere.append(index)
                continue
            node = self._root
            for segment in prefix:
                node = node.children.setdefault(segment, _Node())
            node.routes.append(index)
        self._memo: dict[tuple[str, str], tuple[CompiledRoute | None, dict[str, Any]]] = {}

    def find(self, scope: Scope) -> CompiledRoute | None:
        """The compiled route the router would send `scope` to, its path parameters put in
        the scope; None when the router should decide (no match, a method not allowed, a
        route that is not compiled, or a mounted app)."""
        if scope.get("root_path"):
            return None
        key = (scope["path"], scope["method"])
        memo = self._memo.get(key)
        if memo is None:
            memo = self._search(scope)
            if len(self._memo) >= MATCH_MEMO_SIZE:
                del self._memo[next(iter(self._memo))]
            self._memo[key] = memo
        compiled, child_scope = memo
        if compiled is not None:
            scope.update(child_scope)
        return compiled

    def _search(self, scope: Scope) -> tuple[CompiledRoute | None, dict[str, Any]]:
        candidates = list(self._everywhere)
        node: _Node | None = self._root
        for segment in scope["path"].split("/"):
            if node is None:
                break
            candidates.extend(node.routes)
            node = node.children.get(segment)
        if node is not None:
            candidates.extend(node.routes)
        for index in sorted(set(candidates)):
            match, child_scope = self.routes[index].matches(scope)
            if match is Match.FULL:
                compiled = self.compiled.get(index)
                if compiled is None:
                    return None, {}
                return compiled, {**child_scope, "route": compiled.route}
        return None, {}


def compile_route(route: APIRoute, handlers: _ErrorHandlers) -> CompiledRoute:
    """The plan of one route (raises `NotCompilable` for what FastAPI must serve itself)."""
    if any(
        value
        for value in (
            route.response_model_include,
            route.response_model_exclude,
            route.response_model_exclude_unset,
            route.response_model_exclude_defaults,
            route.response_model_exclude_none,
        )
    ):
        raise NotCompilable("response include/exclude options")
    if not route.response_model_by_alias:
        raise NotCompilable("responses without aliases")
    path_names = frozenset(route.param_convertors)
    plan = _compile_call(route.endpoint, path_names, use_cache=True, top=True)
    route_level = []
    for depends in route.dependencies:
        if depends.dependency is None:
            raise NotCompilable("a route dependency without a callable")
        route_level.append(
            (
                None,
                _compile_call(
                    depends.dependency, path_names, use_cache=depends.use_cache, top=False
                ),
            )
        )
    plan.dependencies[:0] = route_level
    # FastAPI wraps the app's default response class in a placeholder (`.value`).
    declared: Any = route.response_class
    actual: type[Response] = getattr(declared, "value", declared)
    json_media_type = None
    if actual is ORJSONResponse or actual is JSONResponse:
        json_media_type = str(actual.media_type).encode("latin-1")
    model = route.response_model
    runner = typing.cast(RunsEndpoints, route) if hasattr(route, "run_endpoint") else None
    checker = typing.cast(ChecksRequests, route) if hasattr(route, "check_request") else None
    return CompiledRoute(
        route=route,
        plan=plan,
        handlers=handlers,
        runner=runner,
        checker=checker,
        response_adapter=TypeAdapter(model) if model is not None else None,
        response_class=actual,
        json_media_type=json_media_type,
        status_code=route.status_code,
        parses_body=plan.needs_body(),
    )


def dispatching(app: ASGIApp) -> Dispatch:
    """The dispatch of `app` (built from its routes as they are now)."""
    return Dispatch(app)
