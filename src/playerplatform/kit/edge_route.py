"""The edge rule on the HTTP side: `EdgeRoute` checks every request of a route (path, query,
headers) and parses its JSON body with `parse_json_body` before FastAPI validates it, so what
`kit.edge` refuses is a 422 naming the field, on every route built on it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Receive, Scope

from playerplatform.kit.edge import (
    MAX_BODY_DEPTH,
    MAX_FIELD_CHARS,
    EdgeModel,
    models_in,
    text_problem,
    walk,
)
from playerplatform.kit.errors import BadRequest, ValidationFailed


class _NotFinite(ValueError):
    """A number the edge rule refuses, met while parsing (its field is found afterwards)."""


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        raise _NotFinite(text)
    return number


def _refuse_constant(text: str) -> float:  # NaN, Infinity, -Infinity
    raise _NotFinite(text)


def parse_json_body(raw: bytes) -> Any:
    """A request body as JSON under the edge rule: UTF-8, finite numbers, at most
    `MAX_BODY_DEPTH` levels, every string and key text. 400 `malformed_json` for what is not
    JSON, 422 `validation_error` naming the field for what the rule refuses.

    Most bodies cannot break the rule, and are not walked: a string can hold a NUL or a lone
    surrogate only through a `\\u` escape (UTF-8 decoding refuses the rest), a body with no
    more brackets than the depth bound cannot nest deeper, and the parser refuses a number
    that is not finite as it reads it. Any other body is walked node by node, which also
    names the field of a refusal."""
    try:
        text = raw.decode("utf-8")
        if b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_BODY_DEPTH:
            try:
                return json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
            except _NotFinite:
                pass  # walked below, to name its field
        value = json.loads(text)  # NaN and Infinity are refused below, with their field
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The request body is not valid JSON.", code="malformed_json") from None
    except RecursionError:
        raise ValidationFailed(
            f"The body nests deeper than {MAX_BODY_DEPTH} levels.", field="body"
        ) from None
    return _walked(value)


def _walked(value: Any) -> Any:
    """`value` when every node keeps the edge rule; else 422 naming the first that breaks it."""
    for path, node, level in walk(value):
        problem = None
        if level > MAX_BODY_DEPTH:
            problem = f"nests deeper than {MAX_BODY_DEPTH} levels"
            path = path.partition(".")[0]
        elif isinstance(node, str):
            problem = text_problem(node)
        elif isinstance(node, float) and not math.isfinite(node):
            problem = "numbers must be finite"
        if problem is not None:
            field = path[:MAX_FIELD_CHARS] or "body"
            raise ValidationFailed(f"{field}: {problem}", field=field)
    return value


def is_json_request(request: Request) -> bool:
    """Whether FastAPI would read the body as JSON: no Content-Type, or application/json or
    application/*+json."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class EdgeRequest(Request):
    """A request whose `json()` is `parse_json_body` (parsed once)."""

    _edge_json: Any

    async def json(self) -> Any:
        if not hasattr(self, "_edge_json"):
            self._edge_json = parse_json_body(await self.body())
        return self._edge_json


def check_request_text(request: Request) -> None:
    """422 naming the parameter (or header) when a path or query parameter (name or value)
    breaks the text rule, or a header value holds a NUL (never valid HTTP)."""
    for name, value in request.path_params.items():
        problem = text_problem(str(value))
        if problem is not None:
            raise ValidationFailed(f"{name}: {problem}", field=name)
    for name, value in request.query_params.multi_items():
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            field = name[:MAX_FIELD_CHARS] if text_problem(name) is None else "query"
            raise ValidationFailed(f"{field}: {problem}", field=field)
    for raw_name, raw in request.headers.raw:
        if b"\x00" in raw:
            header = raw_name.decode("latin-1")[:MAX_FIELD_CHARS]
            raise ValidationFailed(f"{header}: must not contain NUL characters", field=header)


class EdgeRoute(APIRoute):
    """A route under the edge rule: its path, query and headers are checked, and its JSON
    body is parsed by `parse_json_body` before FastAPI validates it, so what the rule refuses
    is a 422 naming the field. Its body model, when it has one, must be an `EdgeModel`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.body_field is not None:
            for model in models_in(self.body_field.field_info.annotation):
                if not issubclass(model, EdgeModel):
                    raise TypeError(f"{path}: the body model {model.__name__} is no EdgeModel")

    def check_request(self, request: Request) -> None:
        """The rule on the path, query and headers (the fast dispatch calls it too)."""
        check_request_text(request)

    def parse_json(self, raw: bytes) -> Any:
        """A JSON body under the rule (the fast dispatch calls it too)."""
        return parse_json_body(raw)

    def make_request(self, scope: Scope, receive: Receive) -> Request:
        """What the endpoint receives, on either path: a body it reads itself as JSON is
        parsed under the rule too."""
        return EdgeRequest(scope, receive)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        reads_body = self.body_field is not None

        async def edge_checked(request: Request) -> Response:
            request = self.make_request(request.scope, request.receive)
            check_request_text(request)
            if reads_body and is_json_request(request) and await request.body():
                await request.json()  # refused here, with the field named, or kept for FastAPI
            return await handler(request)

        return edge_checked


def unchecked_routes(routes: list[Any], prefix: str) -> list[str]:
    """The paths under `prefix` whose routes are not `EdgeRoute`s (the app refuses to start
    with any)."""
    return [
        route.path
        for route in routes
        if isinstance(route, APIRoute)
        and route.path.startswith(prefix)
        and not isinstance(route, EdgeRoute)
    ]
