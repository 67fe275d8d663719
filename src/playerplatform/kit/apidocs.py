"""`/docs` (Swagger UI) and `/redoc` served with no internet: their scripts and stylesheet
come from the `fastapi-offline` package's copy, served under `/docs/static/`, not from a CDN
(a studio's server, or a laptop on a train, may have no way out)."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

ASSET_PREFIX = "/docs/static"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
ASSET_NAMES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def _assets() -> dict[str, bytes]:
    static = resources.files("fastapi_offline") / "static"
    return {name: (static / name).read_bytes() for name in ASSET_NAMES}


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at `/docs` and ReDoc at `/redoc` for `app.openapi_url`, from assets
    shipped in a package. `app` must be made with `docs_url=None, redoc_url=None`."""
    assets: dict[str, bytes] = {}
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    def asset_url(name: str) -> str:
        return f"{ASSET_PREFIX}/{name}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - API docs",
            swagger_js_url=root + asset_url("swagger-ui-bundle.js"),
            swagger_css_url=root + asset_url("swagger-ui.css"),
            swagger_favicon_url=root + asset_url("favicon.png"),
            oauth2_redirect_url=root + "/docs/oauth2-redirect",
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - API reference",
            redoc_js_url=root + asset_url("redoc.standalone.js"),
            redoc_favicon_url=root + asset_url("favicon.png"),
            with_google_fonts=False,
        )

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if not assets:
            assets.update(_assets())  # read on first use: 2.8 MB nobody may ask for
        body = assets.get(name)
        if body is None:
            return Response(status_code=404)
        media_type = MEDIA_TYPES[name[name.rfind(".") :]]
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", oauth2_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.add_route(ASSET_PREFIX + "/{name}", asset, include_in_schema=False)
