"""The edge rule cannot be forgotten: a route under the API outside it, or a request model that
nests a model outside it, is refused when the app or the class is built; a JSON body outside
it is refused naming its field, whichever way the parser reads it."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from playerplatform.kit.edge import MAX_FIELD_CHARS, EdgeModel
from playerplatform.kit.edge_route import EdgeRoute, parse_json_body, unchecked_routes
from playerplatform.kit.errors import ValidationFailed


class Loose(BaseModel):
    name: str


class Checked(EdgeModel):
    name: str


def test_every_api_route_of_the_app_is_under_the_rule(app: FastAPI) -> None:
    assert unchecked_routes(app.routes, "/api/") == []
    assert sum(isinstance(r, EdgeRoute) for r in app.routes) > 40


def test_a_plain_route_under_the_api_is_found() -> None:
    router = APIRouter()

    @router.post("/api/v1/things")
    async def things(body: Checked) -> None: ...

    assert unchecked_routes(router.routes, "/api/") == ["/api/v1/things"]
    assert all(isinstance(r, APIRoute) for r in router.routes)


def test_an_edge_route_refuses_a_body_model_outside_the_rule() -> None:
    router = APIRouter(route_class=EdgeRoute)
    with pytest.raises(TypeError, match="Loose"):

        @router.post("/api/v1/things")
        async def things(body: Loose) -> None: ...


def test_a_request_model_cannot_nest_a_model_outside_the_rule() -> None:
    with pytest.raises(TypeError, match="Loose"):

        class Outer(EdgeModel):
            inner: list[Loose]


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        # Refused while parsing (no escape, few brackets): the walk still names the field.
        (b'{"a": {"b": 1e999}}', "a.b", "numbers must be finite"),
        (b'{"a": [1, -Infinity]}', "a.1", "numbers must be finite"),
        (b'{"n": NaN}', "n", "numbers must be finite"),
        # Escapes and deep bodies take the walk.
        (b'{"a": "x\\u0000y"}', "a", "must not contain NUL characters"),
        (b'{"k\\u0000": 1}', "k\x00", "must not contain NUL characters"),
        (b'{"a": ["\\ud800"]}', "a.0", "lone surrogates"),
        (b"[" * 65 + b"]" * 65, "0", "nests deeper than 64 levels"),
    ],
)
def test_a_body_outside_the_rule_is_refused_naming_its_field(
    raw: bytes, field: str, problem: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_json_body(raw)
    (error,) = refused.value.extra["errors"]
    assert error["field"] == field[:MAX_FIELD_CHARS]
    assert problem in error["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1.5, "b": [2e10, -0.0, 1E+2], "c": "plain", "d": null, "e": true}',
        b'{"path": "C:\\\\users", "smile": "\\u263a", "word": "Infinity"}',
        b"[" * 64 + b"]" * 64,
    ],
)
def test_a_body_within_the_rule_parses_as_json_would(raw: bytes) -> None:
    assert parse_json_body(raw) == json.loads(raw)
