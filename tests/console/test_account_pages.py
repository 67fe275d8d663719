"""The pages mail links open, in a browser: the verification link confirms the address, the
reset link sets a new password (and refuses two that differ), with no browser error."""

from __future__ import annotations

import asyncio

import pytest

from tests.console.conftest import Console

pytestmark = pytest.mark.browser

EMAIL = "newcomer@studio.test"
PASSWORD = "quiet-harbour-lights-7"
NEW_PASSWORD = "amber-lantern-evening-3"


async def _link(console: Console, template: str) -> str:
    # Some mails are written by a job a moment after the request answered: wait for it.
    for _ in range(200):
        mail = await console.http.get(
            "/api/v1/admin/mailbox", params={"to": EMAIL}, headers=console.admin
        )
        assert mail.status_code == 200, mail.text
        bodies = [m["body_text"] for m in mail.json()["items"] if m["template"] == template]
        if bodies:
            break
        await asyncio.sleep(0.05)
    (body,) = bodies[:1]
    (link,) = [word for word in body.split() if "token=" in word]
    assert link.startswith(console.base), link
    return link


async def test_mail_links_verify_and_reset_in_the_browser(console: Console) -> None:
    registered = await console.http.post(
        "/api/v1/auth/email/register", json={"email": EMAIL, "password": PASSWORD}
    )
    assert registered.status_code in (200, 201), registered.text
    page = console.page

    await page.goto(await _link(console, "verify_email"))
    await page.click("#submit")
    await page.wait_for_selector("#status.ok")
    signed_in = await console.http.post(
        "/api/v1/auth/email/login", json={"email": EMAIL, "password": PASSWORD}
    )
    assert signed_in.json()["user"]["email_verified"] is True

    await console.http.post("/api/v1/auth/email/password-reset", json={"email": EMAIL})
    await page.goto(await _link(console, "password_reset"))
    await page.fill("#password", NEW_PASSWORD)
    await page.fill("#repeat", NEW_PASSWORD + "x")
    await page.click("#submit")
    await page.wait_for_selector("#status.bad")
    await page.fill("#repeat", NEW_PASSWORD)
    await page.click("#submit")
    await page.wait_for_selector("#status.ok")
    new = await console.http.post(
        "/api/v1/auth/email/login", json={"email": EMAIL, "password": NEW_PASSWORD}
    )
    assert new.status_code == 200, new.text

    # A link without its token says what to do instead of failing silently.
    await page.goto(f"{console.base}/verify-email")
    await page.wait_for_selector("#status.bad")
