"""An address registered or linked by someone who does not own it: nothing may be joined to
that account until it is verified, and its owner's password reset takes the account back
whole. One-time email tokens die together: a reset or a verification spends every token of
its kind."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog
from playerplatform.auth.models import AccountLink, Identity
from playerplatform.runtime import Runtime
from tests.support.db import count, latest_mail, mails, scalar, token_from_mail
from tests.support.players import STRONG_PASSWORD, auth, device_login, email_register, new_email

NEW_PASSWORD = "the-real-owner-chose-this-9"


async def _reset(client: httpx.AsyncClient, runtime: Runtime, email: str) -> str:
    sent = await mails(runtime, email, "password_reset")
    response = await client.post("/api/v1/auth/email/password-reset", json={"email": email})
    assert response.status_code == 202
    return token_from_mail(await latest_mail(runtime, email, "password_reset", at_least=sent + 1))


async def _confirm(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/email/password-reset/confirm", json={"token": token, "password": password}
    )


async def _verify(client: httpx.AsyncClient, runtime: Runtime, email: str) -> None:
    token = token_from_mail(await latest_mail(runtime, email, "verify_email"))
    assert (
        await client.post("/api/v1/auth/email/verify", json={"token": token})
    ).status_code == 200


async def test_nothing_links_to_an_account_whose_email_is_unverified(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The attacker registers the victim's address and tries to add their own device.
    squatted = await email_register(client)
    device = "attacker-device-" + squatted["email"][:12]
    refused = await client.post(
        "/api/v1/auth/links/device", json={"device_id": device}, headers=auth(squatted)
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "email_unverified"
    assert await count(runtime, Identity, Identity.provider == "device") == await count(
        runtime, Identity, Identity.provider == "device", Identity.provider_id != device
    )
    # Once the owner verifies the address, linking works as before.
    await _verify(client, runtime, squatted["email"])
    linked = await client.post(
        "/api/v1/auth/links/device", json={"device_id": device}, headers=auth(squatted)
    )
    assert linked.status_code == 200, linked.text


async def test_no_merge_joins_an_account_whose_email_is_unverified(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    squatted = await email_register(client)
    attacker = await device_login(client)
    offer = await client.post(
        "/api/v1/auth/links/email",
        json={"email": squatted["email"], "password": STRONG_PASSWORD},
        headers=auth(attacker),
    )
    assert offer.status_code == 409
    merge = await client.post(
        "/api/v1/auth/merge",
        json={"merge_token": offer.json()["merge_token"]},
        headers=auth(attacker),
    )
    assert merge.status_code == 403
    assert merge.json()["code"] == "email_unverified"
    owner = await scalar(
        runtime,
        sa.select(Identity.user_id).where(
            Identity.provider == "email", Identity.provider_id == squatted["email"]
        ),
    )
    assert owner is not None and owner != attacker["user"]["canonical_id"]


async def test_reset_of_a_never_verified_address_drops_every_other_identity_and_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The attacker plays as a guest, then links the victim's address to that account.
    attacker = await device_login(client)
    email = new_email()
    linked = await client.post(
        "/api/v1/auth/links/email",
        json={"email": email, "password": STRONG_PASSWORD},
        headers=auth(attacker),
    )
    assert linked.status_code == 200
    # The victim cannot register, so resets the password from the mailbox.
    blocked = await client.post(
        "/api/v1/auth/email/register", json={"email": email, "password": NEW_PASSWORD}
    )
    assert blocked.status_code == 409
    assert (
        await _confirm(client, await _reset(client, runtime, email), NEW_PASSWORD)
    ).status_code == 204

    # The attacker's device no longer opens the victim's account, nor do its sessions.
    assert (await client.get("/api/v1/users/me", headers=auth(attacker))).status_code == 401
    again = await device_login(client, attacker["device_id"])
    assert again["created"] is True
    assert again["user"]["canonical_id"] != attacker["user"]["canonical_id"]
    login = await client.post(
        "/api/v1/auth/email/login", json={"email": email, "password": NEW_PASSWORD}
    )
    assert login.status_code == 200
    assert [i["provider"] for i in login.json()["user"]["identities"]] == ["email"]
    assert login.json()["user"]["email_verified"] is True
    # ... and the owner is told, by mail and in the audit log.
    notice = await latest_mail(runtime, email, "identities_dropped")
    assert "- device" in notice
    dropped = await scalar(
        runtime,
        sa.select(AuditLog.new_values).where(
            AuditLog.action == "auth.password_reset",
            AuditLog.resource_id == login.json()["user"]["canonical_id"],
        ),
    )
    assert dropped["identities_dropped"] == ["device"]
    assert await count(runtime, AccountLink, AccountLink.action == "drop") >= 1


async def test_reset_of_a_verified_address_keeps_the_other_identities(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await email_register(client)
    await _verify(client, runtime, player["email"])
    device = await client.post(
        "/api/v1/auth/links/device",
        json={"device_id": "owner-device-" + player["email"][:12]},
        headers=auth(player),
    )
    assert device.status_code == 200
    token = await _reset(client, runtime, player["email"])
    assert (await _confirm(client, token, NEW_PASSWORD)).status_code == 204
    login = await client.post(
        "/api/v1/auth/email/login", json={"email": player["email"], "password": NEW_PASSWORD}
    )
    assert sorted(i["provider"] for i in login.json()["user"]["identities"]) == [
        "device",
        "email",
    ]
    assert await mails(runtime, player["email"], "identities_dropped") == 0


async def test_a_reset_spends_every_reset_token_of_the_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await email_register(client)
    first = await _reset(client, runtime, player["email"])
    second = await _reset(client, runtime, player["email"])
    assert first != second
    assert (await _confirm(client, second, NEW_PASSWORD)).status_code == 204
    stale = await _confirm(client, first, "someone-else-chose-this-7")
    assert stale.status_code == 400
    assert stale.json()["code"] == "invalid_token"
    login = await client.post(
        "/api/v1/auth/email/login", json={"email": player["email"], "password": NEW_PASSWORD}
    )
    assert login.status_code == 200


async def test_a_verification_spends_every_verification_token_of_the_account(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    guest = await device_login(client)
    email = new_email()
    body = {"email": email, "password": STRONG_PASSWORD}
    link = "/api/v1/auth/links/email"
    assert (await client.post(link, json=body, headers=auth(guest))).status_code == 200
    first = token_from_mail(await latest_mail(runtime, email, "verify_email"))
    unlinked = await client.delete(f"{link}/{email}", headers=auth(guest))
    assert unlinked.status_code == 200
    assert (await client.post(link, json=body, headers=auth(guest))).status_code == 200
    assert await mails(runtime, email, "verify_email") == 2
    second = token_from_mail(await latest_mail(runtime, email, "verify_email"))
    assert first != second
    verified = await client.post("/api/v1/auth/email/verify", json={"token": second})
    assert verified.status_code == 200
    late = await client.post("/api/v1/auth/email/verify", json={"token": first})
    assert late.status_code == 400
    assert late.json()["code"] == "invalid_token"


async def test_a_reset_spends_the_verification_tokens_too(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await email_register(client)
    first = token_from_mail(await latest_mail(runtime, player["email"], "verify_email"))
    token = await _reset(client, runtime, player["email"])
    assert (await _confirm(client, token, NEW_PASSWORD)).status_code == 204
    late = await client.post("/api/v1/auth/email/verify", json={"token": first})
    assert late.status_code == 400
    assert late.json()["code"] == "invalid_token"
