"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from playerplatform.contributions import Wiring
from playerplatform.kit.apidocs import install_api_docs
from playerplatform.kit.edge_route import unchecked_routes
from playerplatform.kit.errors import install_error_handlers
from playerplatform.kit.gateway import install_gateway
from playerplatform.kit.logging import configure_logging
from playerplatform.kit.metrics import settle_gc, watch_gc
from playerplatform.kit.settings import Settings
from playerplatform.runtime import Runtime
from playerplatform.wiring import API_PREFIX, platform_wiring


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    wiring: Wiring | None = None,
) -> FastAPI:
    """The app serving the routers of `wiring` (default: the platform's, or the runtime's).
    Raises `WiringError` when a contribution is missing or declared twice."""
    settings = settings or (runtime.settings if runtime else Settings())
    wiring = runtime.wiring if runtime is not None else wiring or platform_wiring()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        watch_gc()
        rt = runtime or Runtime.build(settings, wiring)
        app.state.runtime = rt
        try:
            if owned:
                await rt.start()
            await _on_start(rt)
            settle_gc(tune=rt.settings.gc_tuning)
            if owned:
                await rt.jobs.serve(rt)  # relay or embedded worker, and the scheduler
            yield
        finally:  # also when start-up failed: what did start (loops, pools) stops
            if owned:
                await rt.close()

    app = FastAPI(
        title="Player Platform",
        version="0.1.0",
        description="Identity, commerce, UGC, leaderboards and player safety for games on Steam and Epic.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
        docs_url=None,  # served from packaged assets by install_api_docs, not from a CDN
        redoc_url=None,
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_error_handlers(app)
    install_api_docs(app)
    install_gateway(
        app, settings, body_limit_exempt=wiring.body_limit_exempt, capped_prefixes=(API_PREFIX,)
    )
    for mount in wiring.mounts():
        app.include_router(mount.load(), prefix=mount.prefix)
    unchecked = unchecked_routes(app.routes, API_PREFIX)
    if unchecked:  # every route under the API takes its input under the edge rule
        raise RuntimeError(f"routes outside the edge rule: {unchecked}")
    return app


async def _on_start(runtime: Runtime) -> None:
    from playerplatform.auth.bootstrap import ensure_bootstrap_admin

    await ensure_bootstrap_admin(runtime)
