"""The edge rule cannot be forgotten: a route under the API outside it, or a request model that
nests a model outside it, is refused when the app or the class is built."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from playerplatform.kit.edge import EdgeModel
from playerplatform.kit.edge_route import EdgeRoute, unchecked_routes


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
