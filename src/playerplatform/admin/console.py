"""The staff console: one static page and its assets, served at `/admin`.

The page is plain HTML, CSS and JavaScript shipped inside the package (no build step, no
CDN: studios' servers may have no internet). It holds no server-side logic of its own: it
signs staff in and talks to the public JSON API with a bearer token, so everything it shows
is exactly what the API allows that token. The HTML goes out under a strict Content Security
Policy (no inline script or style, same-origin only, no framing), which is why every asset
is a file of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from playerplatform.kit.errors import NotFound

CONSOLE_PATH = "/admin"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Assets revalidate on every load (cheap with the ETag) so an upgrade never mixes versions.
ASSET_CACHE_CONTROL = "no-cache"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _load_assets() -> tuple[bytes, dict[str, Asset]]:
    """The page and the assets it may fetch, read once: only files of a known type are
    served, by exact name, so no request path ever reaches the filesystem."""
    static = resources.files("playerplatform.admin") / "static"
    page = b""
    assets: dict[str, Asset] = {}
    for entry in static.iterdir():
        if entry.name == "console.html":
            page = entry.read_bytes()
            continue
        suffix = entry.name[entry.name.rfind(".") :] if "." in entry.name else ""
        media_type = MEDIA_TYPES.get(suffix)
        if media_type is None or not entry.is_file():
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        assets[entry.name] = Asset(body=body, media_type=media_type, etag=etag)
    if not page:
        raise RuntimeError("the console page is missing from the package")
    return page, assets


PAGE, ASSETS = _load_assets()

router = APIRouter(include_in_schema=False)


@router.api_route(CONSOLE_PATH, methods=["GET", "HEAD"])
async def console_page() -> Response:
    """The console's single page."""
    return Response(
        PAGE,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


@router.api_route(CONSOLE_PATH + "/", methods=["GET", "HEAD"])
async def console_page_slash() -> Response:
    return RedirectResponse(CONSOLE_PATH, status_code=308)


@router.api_route(CONSOLE_PATH + "/static/{name}", methods=["GET", "HEAD"])
async def console_asset(name: str, request: Request) -> Response:
    """A stylesheet, script or icon of the console, by exact file name."""
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound("No such console asset.")
    headers = {**SECURITY_HEADERS, "Cache-Control": ASSET_CACHE_CONTROL, "ETag": asset.etag}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
