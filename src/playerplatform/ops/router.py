"""Ops routes, served at the root (no `/api/v1`), without auth or rate limits: liveness,
readiness, Prometheus metrics (behind the metrics token) and the public signing keys.

These routes use the plain route class: none of them needs a unit of work.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING, Literal

import orjson
import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from playerplatform.kit.errors import NotFound, Unauthorized, problem_response
from playerplatform.kit.metrics import render_metrics

if TYPE_CHECKING:
    from playerplatform.contributions import ReadyCheck
    from playerplatform.runtime import Runtime

READY_CHECK_TIMEOUT = 2.0
JWKS_CACHE_CONTROL = "public, max-age=300"

log = structlog.get_logger("playerplatform.ops")


router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: Literal["ok"]


@router.get("/healthz", response_model=Health)
async def healthz(response: Response) -> Health:
    """The process is up. Touches nothing else: a route like any other, so its rate measures
    the serving stack itself."""
    response.headers["Cache-Control"] = "no-store"
    return Health(status="ok")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready when every dependency answers: the database, the hot store, the broker, the
    object store."""
    runtime: Runtime = request.app.state.runtime
    checks = runtime.wiring.ready_checks
    outcomes = await asyncio.gather(*(_run_check(check, runtime) for check in checks))
    results = {check.name: outcome for check, outcome in zip(checks, outcomes, strict=True)}
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


async def _run_check(check: ReadyCheck, runtime: Runtime) -> str:
    name = check.name
    try:
        await asyncio.wait_for(check.check(runtime), READY_CHECK_TIMEOUT)
    except TimeoutError:
        log.warning("ready_check_failed", check=name, reason="timeout")
        return "timeout"
    except Exception as exc:
        # The type only: messages can carry hosts or credentials.
        log.warning("ready_check_failed", check=name, error_type=type(exc).__name__)
        return f"error: {type(exc).__name__}"
    return "ok"


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition (all workers' series when several serve). Private: on the
    API port only with the metrics token; otherwise on the metrics listener (`serve`)."""
    token = request.app.state.runtime.settings.metrics_token
    if token is None:
        raise NotFound("Metrics are served on the metrics port.")
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode()):
        raise Unauthorized("The metrics token is required.")
    body, content_type = render_metrics()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    """The public keys that verify access tokens, by `kid`."""
    keys = request.app.state.runtime.keys.jwks()
    return Response(
        orjson.dumps(keys),
        media_type="application/json",
        headers={"Cache-Control": JWKS_CACHE_CONTROL},
    )
