"""The two pages that mail links open: `/verify-email?token=...` and
`/reset-password?token=...`.

Each is a small static page shipped in the package (no CDN, no build step) whose script reads
the token from the address and completes the step through the public JSON API
(`POST /api/v1/auth/email/verify`, `POST /api/v1/auth/email/password-reset/confirm`), so the
page holds no logic the API does not already enforce. The pages go out under a strict
Content Security Policy and `Referrer-Policy: no-referrer`, so the token in the address is
never sent to another site.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

from playerplatform.kit.errors import NotFound

VERIFY_PATH = "/verify-email"
RESET_PATH = "/reset-password"
ASSET_PREFIX = "/account/static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _read(name: str) -> bytes:
    return (resources.files("playerplatform.auth") / "static" / name).read_bytes()


PAGES = {VERIFY_PATH: _read("verify-email.html"), RESET_PATH: _read("reset-password.html")}
ASSETS = {name: _read(name) for name in ("account.js", "account.css")}

router = APIRouter(include_in_schema=False)


def _page(path: str) -> Response:
    return Response(PAGES[path], media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@router.api_route(VERIFY_PATH, methods=["GET", "HEAD"])
async def verify_email_page() -> Response:
    """The verification mail's link: confirms the address with the token in the link."""
    return _page(VERIFY_PATH)


@router.api_route(RESET_PATH, methods=["GET", "HEAD"])
async def reset_password_page() -> Response:
    """The password-reset mail's link: asks for the new password and sets it."""
    return _page(RESET_PATH)


@router.api_route(ASSET_PREFIX + "/{name}", methods=["GET", "HEAD"])
async def account_asset(name: str) -> Response:
    """The pages' script and stylesheet, by exact file name."""
    body = ASSETS.get(name)
    if body is None:
        raise NotFound("No such asset.")
    media_type = MEDIA_TYPES[name[name.rfind(".") :]]
    return Response(body, media_type=media_type, headers=SECURITY_HEADERS)
