"""Failed sign-ins count per IP and per account and IP pair, so a stranger exhausts only
their own allowance; an account failing from everywhere is slowed down, never locked, and a
valid second factor is not slowed at all. TOTP (RFC 6238) second factors: enrolment, sign-in,
replay, and staff who must use one."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest

from playerplatform.auth import totp
from playerplatform.auth.bootstrap import enrol_staff_totp
from playerplatform.runtime import Runtime
from tests.support.players import STRONG_PASSWORD, auth, email_register
from tests.support.staff import STAFF_PASSWORD, staff_login


def from_ip() -> dict[str, str]:
    """A client of its own (the hot store, and so every IP's allowance, outlives a test)."""
    return {"X-Forwarded-For": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.7"}


LOGIN = "/api/v1/auth/email/login"


def limited(**overrides: Any) -> dict[str, Any]:
    """Settings of an app where three failures a minute use up an allowance, behind a proxy
    the test speaks for (so each request can come from its own IP)."""
    proxy = from_ip()["X-Forwarded-For"]  # the test's own: no other test counts against it
    return {
        "client_ip": proxy,
        "rate_limit_failed_login": "3/minute",
        "rate_limit_failed_login_slowdown": 1.5,
        "trusted_proxies": [f"{proxy}/32"],
        **overrides,
    }


def code_now(secret: str, offset: int = 0) -> str:
    return totp.code_at(secret, totp.current_step() + offset)


async def enrol(client: httpx.AsyncClient, tokens: dict[str, Any]) -> str:
    started = await client.post("/api/v1/auth/second-factor/totp", headers=auth(tokens))
    assert started.status_code == 201, started.text
    secret = str(started.json()["secret"])
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    confirmed = await client.post(
        "/api/v1/auth/second-factor/totp/confirm",
        json={"code": code_now(secret, -1)},  # the previous step's: the later ones stay unused
        headers=auth(tokens),
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"totp": "enabled"}
    return secret


def test_totp_matches_the_rfc_6238_vectors() -> None:
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", base32
    for when, code in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924")):
        assert totp.code_at(secret, totp.current_step(when)) == code
        assert totp.matching_step(secret, code, after=0, now=when) == totp.current_step(when)
        # Not twice, and not when it is long past.
        step = totp.current_step(when)
        assert totp.matching_step(secret, code, after=step, now=when) is None
        assert totp.matching_step(secret, code, after=0, now=when + 300) is None


async def test_a_stranger_exhausts_only_their_own_allowance(make_client: Any) -> None:
    attacker, owner_ip = from_ip(), from_ip()
    async with make_client(**limited()) as client:
        player = await email_register(client)
        wrong = {"email": player["email"], "password": "not-the-password-0"}
        codes = [
            (await client.post(LOGIN, json=wrong, headers=attacker)).status_code for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        # Through the email link route the attacker's allowance is the same one.
        guest = (
            await client.post("/api/v1/auth/device/login", json={"device_id": "x" * 12})
        ).json()
        linked = await client.post(
            "/api/v1/auth/links/email", json=wrong, headers={**auth(guest), **attacker}
        )
        assert linked.status_code == 429

        # The owner still gets in from their own IP: slowed down (the account failed from
        # everywhere), never refused.
        started = time.monotonic()
        owner = await client.post(
            LOGIN, json={"email": player["email"], "password": STRONG_PASSWORD}, headers=owner_ip
        )
        assert owner.status_code == 200, owner.text
        assert time.monotonic() - started >= 1.5


async def test_a_valid_second_factor_is_not_slowed_down(make_client: Any) -> None:
    attacker, owner_ip = from_ip(), from_ip()
    async with make_client(**limited(rate_limit_failed_login_slowdown=5.0)) as client:
        player = await email_register(client)
        secret = await enrol(client, player)
        wrong = {"email": player["email"], "password": "not-the-password-0"}
        for _ in range(3):
            assert (await client.post(LOGIN, json=wrong, headers=attacker)).status_code == 401
        started = time.monotonic()
        owner = await client.post(
            LOGIN,
            json={
                "email": player["email"],
                "password": STRONG_PASSWORD,
                "totp_code": code_now(secret),
            },
            headers=owner_ip,
        )
        assert owner.status_code == 200, owner.text
        assert time.monotonic() - started < 4.0


async def test_an_enrolled_account_needs_a_fresh_code_to_sign_in(
    client: httpx.AsyncClient,
) -> None:
    player = await email_register(client)
    assert (await client.get("/api/v1/auth/second-factor", headers=auth(player))).json() == {
        "totp": "none"
    }
    secret = await enrol(client, player)
    body = {"email": player["email"], "password": STRONG_PASSWORD}

    missing = await client.post(LOGIN, json=body)
    assert missing.status_code == 401
    assert missing.json()["code"] == "second_factor_required"
    wrong = await client.post(LOGIN, json={**body, "totp_code": "000000"})
    if wrong.status_code != 200:  # one code in a million is this one
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "invalid_second_factor"
    code = code_now(secret)
    ok = await client.post(LOGIN, json={**body, "totp_code": code})
    assert ok.status_code == 200, ok.text
    replay = await client.post(LOGIN, json={**body, "totp_code": code})
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_second_factor"
    # A wrong password with a valid code is still a wrong password.
    bad = await client.post(
        LOGIN, json={**body, "password": "not-the-password-0", "totp_code": code_now(secret)}
    )
    assert bad.status_code == 401
    assert bad.json()["code"] == "invalid_credentials"

    # Enrolling again is refused while a factor is on; disabling takes a current code.
    again = await client.post("/api/v1/auth/second-factor/totp", headers=auth(ok.json()))
    assert again.status_code == 409
    refused = await client.post(
        "/api/v1/auth/second-factor/totp/disable", json={"code": code}, headers=auth(ok.json())
    )
    assert refused.status_code == 401
    disabled = await client.post(
        "/api/v1/auth/second-factor/totp/disable",
        json={"code": code_now(secret, 1)},
        headers=auth(ok.json()),
    )
    assert disabled.status_code == 200, disabled.text
    assert (await client.post(LOGIN, json=body)).status_code == 200


async def test_a_merge_offer_for_an_enrolled_address_needs_its_code(
    client: httpx.AsyncClient,
) -> None:
    owner = await email_register(client)
    secret = await enrol(client, owner)
    guest = (
        await client.post("/api/v1/auth/device/login", json={"device_id": "guest-" + "y" * 10})
    ).json()
    body = {"email": owner["email"], "password": STRONG_PASSWORD}
    without = await client.post("/api/v1/auth/links/email", json=body, headers=auth(guest))
    assert without.status_code == 401
    assert "merge_token" not in without.json()
    offered = await client.post(
        "/api/v1/auth/links/email",
        json={**body, "totp_code": code_now(secret, 1)},
        headers=auth(guest),
    )
    assert offered.status_code in (403, 409), offered.text  # 403: the address is unverified


@pytest.mark.parametrize("role", ["moderator", "admin"])
async def test_staff_must_sign_in_with_a_second_factor_when_required(
    make_client: Any, runtime: Runtime, role: str
) -> None:
    async with make_client(staff_totp_required=True) as client:
        staff = await _staff_without_code(client, runtime, role)
        body = {"email": staff, "password": STAFF_PASSWORD}
        refused = await client.post(LOGIN, json=body)
        assert refused.status_code == 401
        assert refused.json()["code"] == "second_factor_required"
        assert "playerplatform admin totp" in refused.json()["detail"]

        uri = await enrol_staff_totp(runtime, email=staff)
        secret = uri.split("secret=")[1].split("&")[0]
        signed_in = await client.post(LOGIN, json={**body, "totp_code": code_now(secret)})
        assert signed_in.status_code == 200, signed_in.text
        # No other way in: a device linked to the staff account does not open it.
        device = {"device_id": f"staff-device-{role}-0001"}
        linked = await client.post(
            "/api/v1/auth/links/device", json=device, headers=auth(signed_in.json())
        )
        assert linked.status_code == 200, linked.text
        by_device = await client.post("/api/v1/auth/device/login", json=device)
        assert by_device.status_code == 401
        assert by_device.json()["code"] == "second_factor_required"
        # And the factor stays.
        kept = await client.post(
            "/api/v1/auth/second-factor/totp/disable",
            json={"code": code_now(secret, 1)},
            headers=auth(signed_in.json()),
        )
        assert kept.status_code == 409


async def _staff_without_code(client: httpx.AsyncClient, runtime: Runtime, role: str) -> str:
    """A staff member made while the requirement is off in another app (the shared database)."""
    import secrets

    from tests.support.staff import create_staff_account

    email = f"{role}-{secrets.token_hex(6)}@studio.test"
    await create_staff_account(runtime, email=email, password=STAFF_PASSWORD, role=role)
    return email


async def test_without_the_requirement_staff_use_a_factor_only_once_enrolled(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    staff = await staff_login(client, runtime, "admin")  # no code needed
    device = {"device_id": "admin-device-" + staff["email"][:10]}
    linked = await client.post("/api/v1/auth/links/device", json=device, headers=auth(staff))
    assert linked.status_code == 200, linked.text
    assert (await client.post("/api/v1/auth/device/login", json=device)).status_code == 200
    await enrol(client, staff)
    # Enrolled staff sign in by email with a code, and no other way.
    by_device = await client.post("/api/v1/auth/device/login", json=device)
    assert by_device.status_code == 401
    assert by_device.json()["code"] == "second_factor_required"
