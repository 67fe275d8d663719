"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from playerplatform.admin.console import router as console_router
from playerplatform.admin.router import router as admin_router
from playerplatform.audit.router import router as audit_router
from playerplatform.auth.router import admin_router as service_accounts_router
from playerplatform.auth.router import router as auth_router
from playerplatform.commerce.router import router as commerce_router
from playerplatform.jobs.router import router as jobs_router
from playerplatform.kit.errors import install_error_handlers
from playerplatform.kit.gateway import install_gateway
from playerplatform.kit.hotpath import hoist_hot_routes, remember_hot_matches
from playerplatform.kit.logging import configure_logging
from playerplatform.kit.metrics import tune_gc, watch_gc
from playerplatform.kit.objects.router import router as objects_router
from playerplatform.kit.settings import Settings
from playerplatform.leaderboards.router import router as leaderboards_router
from playerplatform.ops.router import router as ops_router
from playerplatform.runtime import Runtime
from playerplatform.ugc.router import router as ugc_router
from playerplatform.users import merge as _users_merge  # noqa: F401  (registers its merge hook)
from playerplatform.users.router import router as users_router

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        watch_gc()
        rt = runtime or Runtime.build(settings)
        app.state.runtime = rt
        try:
            if owned:
                await rt.start()
            await _on_start(rt)
            if rt.settings.gc_tuning:
                tune_gc()
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
    )
    if runtime is not None:
        app.state.runtime = runtime
    install_error_handlers(app)
    install_gateway(app, settings)
    app.include_router(ops_router)
    app.include_router(console_router)
    app.include_router(objects_router)
    app.include_router(auth_router, prefix=API_PREFIX)
    app.include_router(users_router, prefix=API_PREFIX)
    app.include_router(admin_router, prefix=API_PREFIX)
    app.include_router(audit_router, prefix=API_PREFIX)
    app.include_router(jobs_router, prefix=API_PREFIX)
    app.include_router(service_accounts_router, prefix=API_PREFIX)
    app.include_router(commerce_router, prefix=API_PREFIX)
    app.include_router(leaderboards_router, prefix=API_PREFIX)
    app.include_router(ugc_router, prefix=API_PREFIX)
    hoist_hot_routes(app)
    remember_hot_matches(app)
    return app


async def _on_start(runtime: Runtime) -> None:
    from playerplatform.auth.bootstrap import ensure_bootstrap_admin

    await ensure_bootstrap_admin(runtime)
