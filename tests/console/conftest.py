"""The console in a real browser: Debian's chromium (`scripts/browser.sh` installs it)
driven by Playwright through `executable_path`, against a platform served on a loopback port
over a database of each test's own (so a page can be seen without data, then with it).

Every page fails its test on any browser console error or uncaught exception."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from playerplatform.app import create_app
from playerplatform.kit import migrate
from playerplatform.kit.settings import Settings
from tests.conftest import fresh_database
from tests.support.servers import ServerThread, free_port

CHROMIUM = os.environ.get("PP_TEST_CHROMIUM", "/usr/bin/chromium")
ADMIN_EMAIL = "head.moderator@studio.test"
ADMIN_PASSWORD = "violet-harbour-passphrase-5"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run scripts/browser.sh"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


@dataclass
class Console:
    """A served platform, an HTTP client to fill it, and a browser page signed in to it."""

    base: str
    http: httpx.AsyncClient
    page: Page
    errors: list[str] = field(default_factory=list)
    admin: dict[str, str] = field(default_factory=dict)

    async def open(self, view: str) -> None:
        await self.page.goto(f"{self.base}/admin#{view}")
        section = "player" if view.startswith("players/") else view
        await self.page.wait_for_selector(f"#view-{section}:not([hidden])")
        await self.page.wait_for_load_state("networkidle")

    async def sign_in(self) -> None:
        await self.page.goto(f"{self.base}/admin")
        await self.page.fill("#signin-form input[name=email]", ADMIN_EMAIL)
        await self.page.fill("#signin-form input[name=password]", ADMIN_PASSWORD)
        await self.page.click("#signin-form button[type=submit]")
        await self.page.wait_for_selector("#app-view:not([hidden])")

    async def player(self, name: str | None = None) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/auth/device/login", json={"device_id": f"console-{secrets.token_hex(8)}"}
        )
        body: dict[str, Any] = response.json()
        body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
        if name:
            patched = await self.http.patch(
                "/api/v1/users/me", json={"display_name": name}, headers=body["headers"]
            )
            assert patched.status_code == 200, patched.text
        return body

    async def cells(self, tbody: str) -> list[list[str]]:
        """The text of each visible row's cells."""
        rows = await self.page.query_selector_all(f"#{tbody} > tr:not(.detail-row)")
        out = []
        for row in rows:
            out.append([(await c.inner_text()).strip() for c in await row.query_selector_all("td")])
        return out

    async def banner(self) -> str:
        banner = self.page.locator("#banner")
        return (await banner.inner_text()) if await banner.is_visible() else ""

    def assert_no_browser_errors(self) -> None:
        assert not self.errors, self.errors


def filled(rows: list[list[str]], columns: list[int]) -> None:
    """Every row has text in these columns (the API has data for each)."""
    assert rows, "no rows"
    for row in rows:
        for column in columns:
            assert row[column] not in ("", "—"), (column, row)


@pytest.fixture
async def console(
    browser: Browser, make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[Console]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        settings = make_settings(
            database_url=url,
            public_url=base,
            storage_url=f"file://{tmp_path / 'objects'}",
            clamd_address=None,  # no scanner: uploads wait for review, marked unscanned
            redis_prefix=f"ppconsole:{secrets.token_hex(4)}:",
            bootstrap_admin_email=ADMIN_EMAIL,
            bootstrap_admin_password=ADMIN_PASSWORD,
        )
        server = ServerThread(create_app(settings), port).start()
        context = await browser.new_context()
        context.set_default_timeout(10_000)
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept(dialog.default_value))
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                found = Console(base=base, http=http, page=page)
                page.on(
                    "console", lambda m: found.errors.append(m.text) if m.type == "error" else None
                )
                page.on("pageerror", lambda e: found.errors.append(str(e)))
                login = await http.post(
                    "/api/v1/auth/email/login",
                    json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                )
                assert login.status_code == 200, login.text
                found.admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
                await found.sign_in()
                yield found
                found.assert_no_browser_errors()
        finally:
            await context.close()
            server.stop()
