"""The dev mailbox, as admins (and tests) read it."""

from __future__ import annotations

import httpx

from playerplatform.runtime import Runtime
from tests.support.db import latest_mail
from tests.support.players import auth, email_register
from tests.support.staff import staff_login


async def test_mailbox_shows_mail_for_an_address_newest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await staff_login(client, runtime, "admin")
    player = await email_register(client)
    await client.post("/api/v1/auth/email/password-reset", json={"email": player["email"]})
    await latest_mail(runtime, player["email"], "password_reset")  # mailed by a job

    response = await client.get(
        "/api/v1/admin/mailbox", headers=auth(admin), params={"to": player["email"].upper()}
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [m["template"] for m in items] == ["password_reset", "verify_email"]
    assert all(m["to"] == player["email"] for m in items)
    assert "Token:" in items[1]["body_text"]

    first = await client.get(
        "/api/v1/admin/mailbox", headers=auth(admin), params={"to": player["email"], "limit": 1}
    )
    assert [m["template"] for m in first.json()["items"]] == ["password_reset"]
    rest = await client.get(
        "/api/v1/admin/mailbox",
        headers=auth(admin),
        params={"to": player["email"], "limit": 1, "cursor": first.json()["next_cursor"]},
    )
    assert [m["template"] for m in rest.json()["items"]] == ["verify_email"]
    assert rest.json()["next_cursor"] is None
