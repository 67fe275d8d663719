"""Email accounts: registration, login, verification and password reset through the mailbox."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import httpx

from playerplatform.audit.models import AuditLog
from playerplatform.auth.models import Identity
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.db import count, latest_mail, token_from_mail
from tests.support.players import STRONG_PASSWORD, auth, email_register, new_email


async def test_register_then_login(client: httpx.AsyncClient) -> None:
    registered = await email_register(client)
    assert registered["created"] is True
    assert registered["user"]["email_verified"] is False
    assert registered["user"]["identities"][0] == {
        "provider": "email",
        "provider_id": registered["email"],
        "linked_at": registered["user"]["identities"][0]["linked_at"],
    }
    response = await client.post(
        "/api/v1/auth/email/login",
        json={"email": registered["email"].upper(), "password": STRONG_PASSWORD},
    )
    assert response.status_code == 200
    assert response.json()["user"]["canonical_id"] == registered["user"]["canonical_id"]
    assert response.json()["created"] is False


async def test_registering_a_taken_email_is_a_conflict(client: httpx.AsyncClient) -> None:
    registered = await email_register(client)
    response = await client.post(
        "/api/v1/auth/email/register",
        json={"email": registered["email"], "password": STRONG_PASSWORD},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "identity_in_use"


async def test_concurrent_registrations_of_one_email_make_one_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = new_email()
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/auth/email/register", json={"email": email, "password": STRONG_PASSWORD}
            )
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert await count(runtime, Identity, Identity.provider_id == email) == 1


async def test_weak_and_invalid_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    users_before = await count(runtime, User)
    cases = [
        # The documented length (10-128) is the schema's, like every length; the rest of the
        # policy is `weak_password`.
        ({"email": new_email(), "password": "short"}, "validation_error"),
        ({"email": new_email(), "password": "password123"}, "weak_password"),
        ({"email": new_email(), "password": "aaaaaaaaaaaaaaaa"}, "weak_password"),
        ({"email": new_email(), "password": "p" * 129}, "validation_error"),
        ({"email": "not-an-email", "password": STRONG_PASSWORD}, "validation_error"),
        ({"email": "x" * 400 + "@example.com", "password": STRONG_PASSWORD}, "validation_error"),
        ({"email": new_email(), "password": 1234567890}, "validation_error"),
        ({"email": new_email()}, "validation_error"),
    ]
    for body, code in cases:
        response = await client.post("/api/v1/auth/email/register", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code, body
    assert await count(runtime, User) == users_before


async def test_wrong_password_and_unknown_email_answer_alike_and_are_audited(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    registered = await email_register(client)
    wrong = await client.post(
        "/api/v1/auth/email/login",
        json={"email": registered["email"], "password": "not-the-password-1"},
    )
    unknown = await client.post(
        "/api/v1/auth/email/login", json={"email": new_email(), "password": "not-the-password-1"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]
    failures = await count(
        runtime, AuditLog, AuditLog.action == "auth.login_failed", AuditLog.outcome == "denied"
    )
    assert failures >= 2


async def test_verification_mail_verifies_the_address_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    registered = await email_register(client)
    token = token_from_mail(await latest_mail(runtime, registered["email"], "verify_email"))
    response = await client.post("/api/v1/auth/email/verify", json={"token": token})
    assert response.status_code == 200
    assert response.json()["email_verified"] is True
    again = await client.post("/api/v1/auth/email/verify", json={"token": token})
    assert again.status_code == 400
    assert again.json()["code"] == "invalid_token"
    assert (
        await client.post("/api/v1/auth/email/verify", json={"token": "x" * 30})
    ).status_code == 400


async def test_password_reset_answers_202_for_any_address(client: httpx.AsyncClient) -> None:
    for email in (new_email(), (await email_register(client))["email"]):
        response = await client.post("/api/v1/auth/email/password-reset", json={"email": email})
        assert response.status_code == 202


async def test_password_reset_changes_the_password_and_revokes_every_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    registered = await email_register(client)
    email = registered["email"]
    await client.post("/api/v1/auth/email/password-reset", json={"email": email})
    token = token_from_mail(await latest_mail(runtime, email, "password_reset"))

    weak = await client.post(
        "/api/v1/auth/email/password-reset/confirm",
        json={"token": token, "password": "qwerty12345"},
    )
    assert weak.status_code == 422
    new_password = "a-brand-new-passphrase-99"
    response = await client.post(
        "/api/v1/auth/email/password-reset/confirm", json={"token": token, "password": new_password}
    )
    # The weak attempt was rolled back whole, so the token was still unspent.
    assert response.status_code == 204
    assert (await client.get("/api/v1/auth/sessions", headers=auth(registered))).status_code == 401
    old = await client.post(
        "/api/v1/auth/email/login", json={"email": email, "password": STRONG_PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/v1/auth/email/login", json={"email": email, "password": new_password}
    )
    assert new.status_code == 200
    assert new.json()["user"]["email_verified"] is True
    replay = await client.post(
        "/api/v1/auth/email/password-reset/confirm",
        json={"token": token, "password": "another-passphrase-77"},
    )
    assert replay.status_code == 400


async def test_failed_logins_are_limited_per_account_and_recover(
    make_client: object, runtime: Runtime
) -> None:
    async with make_client(rate_limit_failed_login="3/second") as limited:  # type: ignore[operator]
        registered = await email_register(limited)
        body = {"email": registered["email"], "password": "wrong-password-000"}
        codes = [
            (await limited.post("/api/v1/auth/email/login", json=body)).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        blocked = await limited.post(
            "/api/v1/auth/email/login",
            json={"email": registered["email"], "password": STRONG_PASSWORD},
        )
        assert blocked.status_code == 429
        assert blocked.json()["code"] == "rate_limited"
        assert int(blocked.headers["Retry-After"]) >= 1
        await asyncio.sleep(2.1)  # two windows: a sliding-window counter weighs the previous one
        ok = await limited.post(
            "/api/v1/auth/email/login",
            json={"email": registered["email"], "password": STRONG_PASSWORD},
        )
        assert ok.status_code == 200


async def test_registration_display_name_passes_the_text_filter(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = new_email()
    response = await client.post(
        "/api/v1/auth/email/register",
        json={"email": email, "password": STRONG_PASSWORD, "display_name": "shit head"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "text_rejected"
    assert await count(runtime, Identity, Identity.provider_id == email) == 0
    ok = await client.post(
        "/api/v1/auth/email/register",
        json={"email": email, "password": STRONG_PASSWORD, "display_name": "Ranger Rick"},
    )
    assert ok.status_code == 201
    assert ok.json()["user"]["profile"]["display_name"] == "Ranger Rick"
    assert await count(runtime, User, User.canonical_id == ok.json()["user"]["canonical_id"]) == 1


def _link(body: str) -> str:
    (link,) = [word for line in body.splitlines() for word in line.split() if "token=" in word]
    return link


async def test_the_mails_links_open_pages_that_are_served(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    registered = await email_register(client)
    email = registered["email"]
    await client.post("/api/v1/auth/email/password-reset", json={"email": email})
    for template, script_calls in (
        ("verify_email", "/api/v1/auth/email/verify"),
        ("password_reset", "/api/v1/auth/email/password-reset/confirm"),
    ):
        link = urlsplit(_link(await latest_mail(runtime, email, template)))
        page = await client.get(f"{link.path}?{link.query}")
        assert page.status_code == 200, (template, page.status_code)
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["referrer-policy"] == "no-referrer"  # the token stays here
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert scripts, template
        for src in scripts:
            script = await client.get(src)
            assert script.status_code == 200
            assert script_calls in script.text
