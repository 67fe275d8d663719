"""The hot lane: the gateway hands a fixed-path hot route's request straight to its route, and
the answer (success, the handler's errors, the endpoint's validation errors) is the one the
router and the exception middleware would have given."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from playerplatform.kit.errors import Forbidden, install_error_handlers
from playerplatform.kit.gateway import install_gateway
from playerplatform.kit.hotpath import (
    HotLane,
    HotPathRoute,
    HotRequest,
    JsonAnswer,
    hot_path,
    remember_hot_matches,
)
from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client
from tests.support.players import auth, device_login

GAME_ORIGIN = "https://game.example"


async def serve_greeting(request: HotRequest) -> JsonAnswer | None:
    query = dict(request.query())
    if "name" not in query:
        return None  # the endpoint answers: 422 for the missing parameter
    if query["name"] == "intruder":
        raise Forbidden("Not you.")
    return JsonAnswer(b'{"hello":"%s","by":"hot path"}' % query["name"].encode())


def lane_app() -> tuple[FastAPI, list[str]]:
    """An app behind the gateway with a hot route and a plain one, and a middleware inside
    the gateway that notes every request passing through it."""
    app = FastAPI()
    app.state.runtime = None
    install_error_handlers(app)
    passed: list[str] = []

    class Witness:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                passed.append(scope["path"])
            await self.app(scope, receive, send)

    app.add_middleware(Witness)  # added first: inside the gateway
    install_gateway(app, Settings())
    router = APIRouter(route_class=HotPathRoute)

    @router.get("/greeting")
    @hot_path(serve_greeting)
    async def greeting(name: str) -> dict[str, str]:
        return {"hello": name, "by": "endpoint"}

    @router.get("/plain")
    async def plain() -> dict[str, str]:
        return {"plain": "yes"}

    @router.get("/rooms/lobby")
    async def lobby() -> dict[str, str]:
        return {"room": "lobby", "by": "the fixed route before the template"}

    @router.get("/rooms/{room}")
    @hot_path(serve_room)
    async def room(room: str) -> dict[str, str]:
        return {"room": room, "by": "endpoint"}

    app.include_router(router)
    remember_hot_matches(app)
    return app, passed


async def serve_room(request: HotRequest) -> JsonAnswer | None:
    return JsonAnswer(b'{"room":"%s","by":"hot path"}' % request.path_param("room").encode())


async def test_a_hot_route_is_served_from_the_gateway_and_answers_as_the_router_would() -> None:
    app, passed = lane_app()
    async with asgi_client(app) as client:
        served = await client.get("/greeting", params={"name": "ada"})
        refused = await client.get("/greeting", params={"name": "intruder"})
        invalid = await client.get("/greeting")
        other_method = await client.post("/greeting")
        plain = await client.get("/plain")

    assert served.status_code == 200
    assert served.json() == {"hello": "ada", "by": "hot path"}
    assert served.headers["x-request-id"]
    # The handler's own error, through the app's exception handlers.
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "forbidden"
    assert refused.headers["x-request-id"]
    # The endpoint's validation of the query, as usual.
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_error"
    # Not the route's method: the router's answer.
    assert other_method.status_code == 405
    assert plain.json() == {"plain": "yes"}
    # Only what is not a fixed hot route went through the middleware inside the gateway.
    assert passed == ["/greeting", "/plain"]


async def test_a_templated_hot_route_takes_the_lane_unless_a_route_before_it_matches() -> None:
    app, passed = lane_app()
    async with asgi_client(app) as client:
        first = await client.get("/rooms/blue")
        again = await client.get("/rooms/blue")
        lobby = await client.get("/rooms/lobby")
        lobby_again = await client.get("/rooms/lobby")
        other = await client.get("/rooms/red")
    assert first.json() == again.json() == {"room": "blue", "by": "hot path"}
    assert other.json() == {"room": "red", "by": "hot path"}
    # The route that comes first keeps its path, however often it is asked.
    assert lobby.json() == lobby_again.json()
    assert lobby.json()["room"] == "lobby" and lobby.json()["by"] != "hot path"
    # Only the route before the template went the router's way.
    assert passed == ["/rooms/lobby", "/rooms/lobby"]


def test_the_lane_holds_the_hot_routes_only(app: FastAPI) -> None:
    lane = HotLane(app)

    def served(method: str, path: str) -> bool:
        scope: dict[str, Any] = {"type": "http", "method": method, "path": path}
        return lane.route_app(scope) is not None

    assert served("GET", "/api/v1/commerce/entitlements/check")
    assert served("GET", "/api/v1/users/me")
    assert served("POST", "/api/v1/auth/device/login")
    assert not served("POST", "/api/v1/commerce/entitlements/check")
    assert not served("GET", "/healthz")
    # A templated hot route, the router's first match for the path.
    assert served("GET", "/api/v1/leaderboards/s1/around-me")
    assert served("GET", "/api/v1/leaderboards/s1/around-me")
    for _ in range(2):
        assert not served("GET", "/api/v1/leaderboards/s1/friends")  # not hot
        # A fixed route before the template: the router's choice, never the lane.
        assert not served("GET", "/api/v1/leaderboards/seasons")


async def test_cross_origin_requests_to_hot_routes_get_their_cors_headers(
    make_client: Callable[..., Any],
) -> None:
    async with make_client(cors_origins=[GAME_ORIGIN]) as cors:
        player = await device_login(cors)
        response = await cors.get(
            "/api/v1/users/me", headers={**auth(player), "Origin": GAME_ORIGIN}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == GAME_ORIGIN
    assert "ratelimit-remaining" in response.headers["access-control-expose-headers"].lower()


async def test_hot_route_errors_keep_their_problem_shape(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/commerce/entitlements/check",
        params={"sku_id": "coins"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_token"
    assert response.headers["x-request-id"]


def test_a_sole_query_parameter_is_read_without_parsing_and_anything_else_is_left_to_query() -> (
    None
):
    def sole(raw: bytes) -> str | None:
        scope: dict[str, Any] = {"type": "http", "query_string": raw, "headers": []}
        return HotRequest(scope, None, None).sole_param("sku_id")  # type: ignore[arg-type]

    assert sole(b"sku_id=gold-pack") == "gold-pack"
    assert sole(b"sku_id=") == ""
    assert sole(b"sku_id=a&sku_id=b") is None
    assert sole(b"sku_id=gold%2Dpack") is None  # to unquote
    assert sole(b"sku_id=gold+pack") is None
    assert sole(b"sku_idx=gold") is None
    assert sole(b"other=1") is None
    assert sole(b"") is None
