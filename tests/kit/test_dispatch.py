"""The fast dispatch answers exactly as FastAPI's own path does, for every kind of declaration
the platform uses, and really is the one serving when it is on.

Each case is sent to two apps built from the same declarations, one with the fast dispatch and
one without, and both answers must be the same: status, body and the headers that matter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import ORJSONResponse
from fastapi.routing import APIWebSocketRoute
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from playerplatform.kit.dispatch import Dispatch
from playerplatform.kit.edge import EdgeModel
from playerplatform.kit.edge_route import EdgeRoute
from playerplatform.kit.errors import Forbidden, NotFound, install_error_handlers
from playerplatform.kit.gateway import RESPONSE_HEADERS, install_gateway
from playerplatform.kit.settings import Settings


class Item(EdgeModel):
    name: str = Field(min_length=1, max_length=10)
    count: int = Field(default=1, ge=1, le=5)
    tags: list[str] = Field(default_factory=list)


class ItemOut(BaseModel):
    name: str
    count: int


class ItemWithSecret(ItemOut):
    secret: str


CALLS: list[str] = []


async def counted() -> str:
    CALLS.append("counted")
    return "once"


async def needs_counted(value: str = Depends(counted)) -> str:
    return value + "!"


async def caller(x_caller: str | None = Header(None)) -> str:
    if x_caller == "stranger":
        raise Forbidden("Strangers may not.")
    return x_caller or "anonymous"


def sync_dependency(request: Request) -> str:
    return request.method


async def note_headers(request: Request) -> None:
    request.scope.setdefault("state", {})[RESPONSE_HEADERS] = {"X-Noted": "yes"}


def build(fast: bool) -> FastAPI:
    app = FastAPI(default_response_class=ORJSONResponse)
    install_error_handlers(app)
    install_gateway(app, Settings(fast_dispatch=fast, access_log=False))
    router = APIRouter(prefix="/api", dependencies=[Depends(note_headers)], route_class=EdgeRoute)

    @router.get("/items/special")
    async def special() -> dict[str, str]:
        return {"route": "special"}

    @router.get("/items/{item_id}", response_model=ItemOut)
    async def get_item(
        item_id: int = Path(ge=1, le=1000),
        verbose: bool = Query(False),
        limit: int = Query(20, ge=1, le=100),
        kind: Literal["a", "b"] | None = Query(None),
        tags: list[str] = Query([]),
        who: str = Depends(caller),
    ) -> ItemWithSecret:
        if item_id == 404:
            raise NotFound("No such item.")
        return ItemWithSecret(
            name=f"{who}-{verbose}-{limit}-{kind}-{','.join(tags)}", count=item_id, secret="s"
        )

    @router.post("/items", response_model=ItemOut, status_code=201)
    async def create_item(
        body: Item,
        request: Request,
        response: Response,
        who: str = Depends(caller),
        twice: str = Depends(needs_counted),
        again: str = Depends(counted),
        method: str = Depends(sync_dependency),
        if_match: str | None = Header(None),
    ) -> ItemOut:
        response.headers["X-Who"] = who
        response.headers["X-If-Match"] = str(if_match)
        return ItemOut(name=f"{body.name}:{twice}:{again}:{method}", count=body.count)

    @router.put("/items/{item_id}/note", status_code=204)
    async def put_note(item_id: int, note: Item | None = None) -> Response:
        return Response(status_code=204)

    @router.get("/raw")
    async def raw(status: int = Query(200, ge=200, le=299)) -> Response:
        return Response(b"raw", status_code=status, media_type="text/plain")

    @router.get("/items/{item_id}/again")
    async def shadowed() -> dict[str, str]:
        return {"route": "again"}

    app.include_router(router)
    return app


@pytest.fixture(scope="module")
async def clients() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(build(True)), base_url="http://t")
    slow = httpx.AsyncClient(transport=httpx.ASGITransport(build(False)), base_url="http://t")
    async with fast, slow:
        yield fast, slow


CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/items/7", {}),
    ("GET", "/api/items/7?verbose=true&limit=3&kind=b&tags=x&tags=y", {}),
    ("GET", "/api/items/7?limit=0", {}),
    ("GET", "/api/items/7?limit=abc&kind=c&verbose=maybe", {}),
    ("GET", "/api/items/0", {}),
    ("GET", "/api/items/abc", {}),
    ("GET", "/api/items/404", {}),
    ("GET", "/api/items/7", {"headers": {"X-Caller": "stranger"}}),
    ("GET", "/api/items/special", {}),
    ("GET", "/api/items/7/again", {}),
    ("GET", "/api/nowhere", {}),
    ("DELETE", "/api/items/7", {}),
    ("POST", "/api/items", {"json": {"name": "cape", "count": 2}}),
    ("POST", "/api/items", {"json": {"name": "cape"}, "headers": {"If-Match": '"3"'}}),
    ("POST", "/api/items", {"json": {"name": "", "count": 9}}),
    ("POST", "/api/items", {"json": ["not", "an", "object"]}),
    ("POST", "/api/items", {}),
    ("POST", "/api/items", {"content": b"{", "headers": {"Content-Type": "application/json"}}),
    (
        "POST",
        "/api/items",
        {"content": b'{"name": "x"}', "headers": {"Content-Type": "text/plain"}},
    ),
    ("POST", "/api/items", {"content": b'{"name": "x", "count": NaN}'}),
    ("POST", "/api/items", {"json": {"name": "x"}, "headers": {"X-Caller": "stranger"}}),
    ("POST", "/api/items", {"content": b"{", "headers": {"X-Caller": "stranger"}}),
    ("PUT", "/api/items/3/note", {}),
    ("PUT", "/api/items/3/note", {"json": {"name": "n"}}),
    ("PUT", "/api/items/3/note", {"json": {"name": 5}}),
    ("GET", "/api/items/7?tags=a%00b", {}),
    ("GET", "/api/items/7", {"headers": {"X-Caller": "nul\x00here"}}),
    ("POST", "/api/items", {"content": b'{"name": "a\\u0000b"}'}),
    ("POST", "/api/items", {"content": b'{"name": "x", "tags": ["\\ud800"]}'}),
    ("GET", "/api/raw", {}),
    ("GET", "/api/raw?status=201", {}),
    ("GET", "/api/raw?status=500", {}),
]
COMPARED_HEADERS = ("content-type", "x-who", "x-if-match", "x-noted", "allow")


@pytest.mark.parametrize(("method", "path", "options"), CASES)
async def test_the_fast_dispatch_answers_as_fastapi_does(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    method: str,
    path: str,
    options: dict[str, Any],
) -> None:
    fast, slow = clients
    expected = await slow.request(method, path, **options)
    got = await fast.request(method, path, **options)
    assert got.status_code == expected.status_code, got.text
    assert got.content == expected.content
    for name in COMPARED_HEADERS:
        assert got.headers.get(name) == expected.headers.get(name), name


async def test_a_cached_dependency_runs_once_per_request(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    fast, _ = clients
    CALLS.clear()
    response = await fast.post("/api/items", json={"name": "cape"})
    assert response.status_code == 201
    assert response.json()["name"] == "cape:once!:once:POST"
    assert CALLS == ["counted"]


def _with_witness(app: FastAPI, seen: list[str]) -> None:
    """A middleware inside the gateway that notes every request passing it (FastAPI's path)."""

    def witness(inner: ASGIApp) -> ASGIApp:
        async def noted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await inner(scope, receive, send)

        return noted

    app.add_middleware(_Witness, note=witness)


class _Witness:
    def __init__(self, app: ASGIApp, note: Callable[[ASGIApp], ASGIApp]) -> None:
        self.app = note(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@pytest.mark.parametrize("fast", [True, False])
async def test_compiled_routes_skip_the_framework_path_only_when_on(fast: bool) -> None:
    app = FastAPI(default_response_class=ORJSONResponse)
    install_error_handlers(app)
    seen: list[str] = []
    _with_witness(app, seen)
    install_gateway(app, Settings(fast_dispatch=fast, access_log=False))

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        assert (await c.get("/hello")).json() == {"hello": "world"}
        assert (await c.get("/missing")).status_code == 404
    assert seen == (["/missing"] if fast else ["/hello", "/missing"])


async def test_every_api_route_of_the_platform_is_compiled(app: FastAPI) -> None:
    dispatch = Dispatch(app)
    assert dispatch.uncompiled == {}
    # No route sends a request to a worker thread for a plain function (either dispatch).
    assert dispatch.threaded == {}
    api = [
        r
        for r in app.routes
        if getattr(r, "path", "").startswith("/api/") and not isinstance(r, APIWebSocketRoute)
    ]
    assert len(dispatch.compiled) >= len(api) > 50
    # And FastAPI's own path takes input by the same rules.
    assert all(isinstance(route, EdgeRoute) for route in api)
