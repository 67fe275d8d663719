"""Whether an address has an account is not told by the answers or the work of the routes
that take an address: password reset, linking an email, and (rate-limited like a failed
login, since its 409 is part of the contract) registration."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import sqlalchemy as sa

from playerplatform.auth.models import EmailToken
from playerplatform.jobs.models import Job
from playerplatform.runtime import Runtime
from tests.support.db import count, latest_mail, rows
from tests.support.players import STRONG_PASSWORD, auth, device_login, email_register, new_email


def _stranger_ip() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


async def _reset_jobs(runtime: Runtime, email: str) -> int:
    found = await rows(runtime, sa.select(Job.payload).where(Job.queue == "notification_send"))
    return sum(1 for (payload,) in found if payload.get("email") == email)


async def test_password_reset_does_the_same_work_for_known_and_unknown_addresses(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    known = (await email_register(client))["email"]
    unknown = new_email()
    tokens_before = await count(runtime, EmailToken, EmailToken.purpose == "reset")
    for email in (known, unknown):
        response = await client.post("/api/v1/auth/email/password-reset", json={"email": email})
        assert response.status_code == 202
        assert response.json() == {"status": "accepted"}
        # One job, the same for both; the lookup and the mail happen in it.
        assert await _reset_jobs(runtime, email) == 1
    await latest_mail(runtime, known, "password_reset")
    assert await count(runtime, EmailToken, EmailToken.purpose == "reset") == tokens_before + 1


async def test_linking_an_email_answers_a_weak_password_alike_for_known_and_unknown(
    client: httpx.AsyncClient,
) -> None:
    known = (await email_register(client))["email"]
    guest = await device_login(client)
    answers: list[dict[str, Any]] = []
    for email in (known, new_email()):
        response = await client.post(
            "/api/v1/auth/links/email",
            json={"email": email, "password": "password123"},
            headers=auth(guest),
        )
        assert response.status_code == 422
        answers.append({k: v for k, v in response.json().items() if k != "instance"})
    assert answers[0] == answers[1]
    assert answers[0]["code"] == "weak_password"


async def test_registration_conflicts_count_as_failed_logins_of_the_ip(
    make_client: Any,
) -> None:
    async with make_client(_stranger_ip(), rate_limit_failed_login="3/minute") as prober:
        taken = [(await email_register(prober))["email"] for _ in range(3)]
        codes = [
            (
                await prober.post(
                    "/api/v1/auth/email/register",
                    json={"email": email, "password": STRONG_PASSWORD},
                )
            ).status_code
            for email in taken
        ]
        assert codes == [409, 409, 409]
        # The prober's allowance is used up: the next probe is refused before any lookup.
        probe = await prober.post(
            "/api/v1/auth/email/register", json={"email": new_email(), "password": STRONG_PASSWORD}
        )
        assert probe.status_code == 429
        assert probe.json()["code"] == "rate_limited"
    async with make_client(_stranger_ip(), rate_limit_failed_login="3/minute") as someone_else:
        assert (await email_register(someone_else))["created"] is True
