"""Ops routes, served at the root (no `/api/v1`), without auth or rate limits: liveness,
readiness, Prometheus metrics and the public signing keys.

These routes use the plain route class: none of them needs a unit of work, and `/healthz`
must cost as little as the stack allows (load balancers and benchmarks hammer it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from playerplatform.kit.errors import problem_response
from playerplatform.kit.metrics import render_metrics

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

ReadyCheck = Callable[["Runtime"], Awaitable[object]]

READY_CHECK_TIMEOUT = 2.0
JWKS_CACHE_CONTROL = "public, max-age=300"

log = structlog.get_logger("playerplatform.ops")
_ready_checks: dict[str, ReadyCheck] = {}


def register_ready_check(name: str, check: ReadyCheck) -> None:
    """Add a dependency to `/readyz`: `check(runtime)` must return, within a couple of
    seconds, when the dependency answers, and raise otherwise. Replaces a check of that name."""
    _ready_checks[name] = check


def unregister_ready_check(name: str) -> None:
    _ready_checks.pop(name, None)


async def _ping_database(runtime: Runtime) -> None:
    await runtime.db.ping()


async def _ping_hot_store(runtime: Runtime) -> None:
    await runtime.hot.ping()


class _Prebuilt:
    """A raw ASGI endpoint sending fixed bytes: no Request, no dependency solving."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", media_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"cache-control", b"no-store"),
            ],
        }
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Fresh messages: middleware may edit the header list it is given.
        await send({**self.start, "headers": list(self.start["headers"])})
        await send({"type": "http.response.body", "body": self.body})


class PrebuiltRoute(APIRoute):
    """An APIRoute documented like any other, whose endpoint's `prebuilt` response is sent
    straight to the client instead of running the endpoint through FastAPI."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        prebuilt = getattr(endpoint, "prebuilt", None)
        if prebuilt is not None:
            self.app = prebuilt


router = APIRouter(tags=["ops"])


async def healthz() -> dict[str, str]:
    """The process is up. Touches nothing else."""
    return {"status": "ok"}


healthz.prebuilt = _Prebuilt(orjson.dumps({"status": "ok"}), "application/json")  # type: ignore[attr-defined]
router.add_api_route("/healthz", healthz, methods=["GET"], route_class_override=PrebuiltRoute)


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready when the database, the hot store and every registered dependency answer."""
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, ReadyCheck] = {
        "database": _ping_database,
        "hot_store": _ping_hot_store,
        **_ready_checks,
    }
    outcomes = await asyncio.gather(*(_run_check(name, fn, runtime) for name, fn in checks.items()))
    results = dict(zip(checks, outcomes, strict=True))
    headers = {"Cache-Control": "no-store"}
    if all(outcome == "ok" for outcome in outcomes):
        return Response(
            orjson.dumps({"status": "ready", "checks": results}),
            media_type="application/json",
            headers=headers,
        )
    return problem_response(
        503,
        "not_ready",
        "Not ready",
        "Some dependencies are not answering.",
        extra={"checks": results},
        headers=headers,
        instance=request.url.path,
    )


async def _run_check(name: str, check: ReadyCheck, runtime: Runtime) -> str:
    try:
        await asyncio.wait_for(check(runtime), READY_CHECK_TIMEOUT)
    except TimeoutError:
        log.warning("ready_check_failed", check=name, reason="timeout")
        return "timeout"
    except Exception as exc:
        # The type only: messages can carry hosts or credentials.
        log.warning("ready_check_failed", check=name, error_type=type(exc).__name__)
        return f"error: {type(exc).__name__}"
    return "ok"


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text exposition (all workers' series when several serve)."""
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    """The public keys that verify access tokens, by `kid`."""
    keys = request.app.state.runtime.keys.jwks()
    return Response(
        orjson.dumps(keys),
        media_type="application/json",
        headers={"Cache-Control": JWKS_CACHE_CONTROL},
    )
