"""The staff console: one page and its assets, served under a strict CSP, talking only to the
public API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib import resources

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from tests.conftest import asgi_client

EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
STATIC = resources.files("playerplatform.admin") / "static"


@pytest.fixture
async def console(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


class PageScan(HTMLParser):
    """What a page loads and what would run or style inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script_text = ""
        self.style_tags = 0
        self.style_attributes: list[str] = []
        self.handler_attributes: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "action", "formaction") and value is not None:
                self.urls.append(value)
            if name == "style":
                self.style_attributes.append(tag)
            if name.startswith("on"):
                self.handler_attributes.append(f"{tag}[{name}]")
        if tag == "script":
            self.scripts.append(values)
            self._in_script = True
        if tag == "style":
            self.style_tags += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline_script_text += data


def scan(html: str) -> PageScan:
    parser = PageScan()
    parser.feed(html)
    parser.close()
    return parser


def shipped(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


async def test_console_page_is_served_with_strict_security_headers(
    console: httpx.AsyncClient,
) -> None:
    response = await console.get("/admin")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<title>" in response.text and 'id="signin-form"' in response.text

    head = await console.head("/admin")
    assert head.status_code == 200
    assert head.headers["content-security-policy"] == EXPECTED_CSP


async def test_console_with_a_trailing_slash_leads_to_the_same_page(
    console: httpx.AsyncClient,
) -> None:
    response = await console.get("/admin/")
    assert response.status_code == 308
    assert response.headers["location"] == "/admin"

    followed = await console.get("/admin/", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.text == (await console.get("/admin")).text


async def test_console_page_loads_only_same_origin_files_and_nothing_inline(
    console: httpx.AsyncClient,
) -> None:
    page = scan((await console.get("/admin")).text)

    assert page.scripts == [{"src": "/admin/static/console.js", "defer": None}]
    assert page.inline_script_text.strip() == ""
    assert page.style_tags == 0
    assert page.style_attributes == []
    assert page.handler_attributes == []
    # Hash links move between views; everything fetched comes from the console's own files.
    fetched = [url for url in page.urls if not url.startswith("#")]
    assert "/admin/static/console.css" in fetched
    for url in fetched:
        assert url.startswith("/admin/static/"), url
        response = await console.get(url)
        assert response.status_code == 200, url


def test_shipped_files_name_no_other_origin() -> None:
    for name in ("console.html", "console.js", "console.css"):
        text = shipped(name)
        assert not re.search(r"(?i)\b(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), name
        assert "@import" not in text, name


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("console.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ],
)
async def test_console_assets_are_served_with_their_content_types(
    console: httpx.AsyncClient, name: str, content_type: str
) -> None:
    response = await console.get(f"/admin/static/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC / name).read_bytes()

    again = await console.get(
        f"/admin/static/{name}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/admin/static/missing.js",
        "/admin/static/console.html",
        "/admin/static/..%2Fconsole.py",
        "/admin/static/%2e%2e%2f__init__.py",
    ],
)
async def test_anything_but_a_known_asset_is_not_found(
    console: httpx.AsyncClient, path: str
) -> None:
    response = await console.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_console_script_never_turns_text_into_markup() -> None:
    script = shipped("console.js")
    # Player-controlled strings (display names, reasons, mail bodies) reach the page through
    # textContent and createElement only.
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "createContextualFragment",
        "DOMParser",
        "eval(",
        "new Function",
        "javascript:",
    ):
        assert sink not in script, sink
    assert not re.search(r"setAttribute\(\s*[`'\"](on|style|href|src)", script)
    assert "textContent" in script and "createElement" in script


def test_console_calls_only_routes_the_api_serves(app: FastAPI) -> None:
    script = shipped("console.js")
    calls = set(re.findall(r"`\$\{API\}(/[^`?]*)`", script))
    paths = {"/api/v1" + re.sub(r"\$\{[^}]*\}", "x", call) for call in calls}
    paths |= set(re.findall(r"\"(/readyz)\"", script))
    assert {
        "/api/v1/auth/email/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/admin/users",
        "/api/v1/admin/users/x",
        "/api/v1/admin/users/x/ban",
        "/api/v1/admin/users/x/unban",
        "/api/v1/admin/users/x/roles",
        "/api/v1/admin/audit-logs",
        "/api/v1/admin/jobs",
        "/api/v1/admin/jobs/x/retry",
        "/api/v1/admin/mailbox",
        "/readyz",
    } <= paths
    routes = [route for route in app.routes if isinstance(route, Route)]
    for path in paths:
        assert any(route.path_regex.match(path) for route in routes), path


async def test_console_is_not_in_the_openapi_schema(console: httpx.AsyncClient) -> None:
    schema = (await console.get("/openapi.json")).json()

    assert schema["paths"]
    assert not [path for path in schema["paths"] if path.startswith("/admin")]
