"""Linking identities, unlinking them, and merging two accounts."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from playerplatform.audit.models import AuditLog, AuditSubject
from playerplatform.auth.models import AccountLink, Identity
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.db import count, scalar
from tests.support.platforms import epic_id_token, steam_ticket, twitch_code
from tests.support.players import STRONG_PASSWORD, auth, device_login, email_register


async def _link(
    client: httpx.AsyncClient, tokens: dict, provider: str, body: dict
) -> httpx.Response:
    return await client.post(f"/api/v1/auth/links/{provider}", json=body, headers=auth(tokens))


async def test_linking_steam_epic_twitch_and_email_to_a_guest(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime
) -> None:
    guest = await device_login(client)
    ticket, steamid = await steam_ticket(emulators)
    assert (await _link(client, guest, "steam", {"ticket": ticket})).status_code == 200
    id_token, epic_sub = await epic_id_token(emulators)
    assert (await _link(client, guest, "epic", {"id_token": id_token})).status_code == 200
    code, twitch_id = await twitch_code(emulators)
    response = await _link(
        client, guest, "twitch", {"code": code, "redirect_uri": "http://localhost/cb"}
    )
    assert response.status_code == 200, response.text
    response = await _link(
        client,
        guest,
        "email",
        {"email": "linked-" + guest["device_id"] + "@example.com", "password": STRONG_PASSWORD},
    )
    assert response.status_code == 200, response.text
    providers = {(i["provider"], i["provider_id"]) for i in response.json()["identities"]}
    assert ("steam", steamid) in providers and ("epic", epic_sub) in providers
    assert ("twitch", twitch_id) in providers
    assert len(providers) == 5
    user_id = await scalar(
        runtime, sa.select(User.id).where(User.canonical_id == guest["user"]["canonical_id"])
    )
    assert (
        await count(
            runtime, AccountLink, AccountLink.user_id == user_id, AccountLink.action == "link"
        )
        == 5
    )

    # Signing in with the linked Steam account reaches the same player, with the new claims.
    ticket, _ = await steam_ticket(emulators, steamid)
    login = (await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})).json()
    assert login["user"]["canonical_id"] == guest["user"]["canonical_id"]
    import jwt as pyjwt

    claims = pyjwt.decode(login["access_token"], options={"verify_signature": False})
    assert claims["linked_accounts"] == sorted(
        [f"epic_{epic_sub}", f"steam_{steamid}", f"twitch_{twitch_id}"]
    )
    assert claims["providers"] == ["device", "email", "epic", "steam", "twitch"]


async def test_linking_is_idempotent_and_one_account_per_platform(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    guest = await device_login(client)
    ticket, steamid = await steam_ticket(emulators)
    assert (await _link(client, guest, "steam", {"ticket": ticket})).status_code == 200
    again, _ = await steam_ticket(emulators, steamid)
    assert (await _link(client, guest, "steam", {"ticket": again})).status_code == 200
    second, _ = await steam_ticket(emulators)
    response = await _link(client, guest, "steam", {"ticket": second})
    assert response.status_code == 409
    assert response.json()["code"] == "provider_already_linked"


async def test_link_bodies_are_validated_per_provider(client: httpx.AsyncClient) -> None:
    guest = await device_login(client)
    assert (await _link(client, guest, "steam", {"ticket": "nothex"})).status_code == 422
    assert (await _link(client, guest, "epic", {})).status_code == 422
    assert (await _link(client, guest, "myspace", {"x": 1})).status_code == 404
    response = await client.post(
        "/api/v1/auth/links/device",
        content=b"{oops",
        headers={**auth(guest), "Content-Type": "application/json"},
    )
    assert response.status_code == 400


async def test_last_identity_cannot_be_unlinked_but_others_can(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    guest = await device_login(client)
    device = guest["user"]["identities"][0]["provider_id"]  # as the account shows it
    response = await client.delete(f"/api/v1/auth/links/device/{device}", headers=auth(guest))
    assert response.status_code == 409
    assert response.json()["code"] == "last_identity"
    ticket, steamid = await steam_ticket(emulators)
    await _link(client, guest, "steam", {"ticket": ticket})
    response = await client.delete(f"/api/v1/auth/links/steam/{steamid}", headers=auth(guest))
    assert response.status_code == 200
    assert [i["provider"] for i in response.json()["identities"]] == ["device"]
    # Someone else's identity, or one that does not exist, is simply not found.
    stranger = await device_login(client)
    stranger_device = stranger["user"]["identities"][0]["provider_id"]
    response = await client.delete(
        f"/api/v1/auth/links/device/{stranger_device}", headers=auth(guest)
    )
    assert response.status_code == 404


async def test_conflict_offers_a_merge_that_moves_everything(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: Runtime
) -> None:
    # The player's old Steam account, with progression and a display name.
    ticket, steamid = await steam_ticket(emulators)
    old = (await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})).json()
    await client.put(
        "/api/v1/users/me/progression",
        json={"data": {"level": 30}},
        headers={**auth(old), "If-Match": "0"},
    )
    await client.patch("/api/v1/users/me", json={"display_name": "OldHero"}, headers=auth(old))
    # ... and a fresh guest on a new device, who now links the same Steam account.
    guest = await device_login(client)
    ticket, _ = await steam_ticket(emulators, steamid)
    conflict = await _link(client, guest, "steam", {"ticket": ticket})
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "identity_in_use"
    merge_token = conflict.json()["merge_token"]

    # The token is bound to the caller: another player cannot spend it.
    stranger = await device_login(client)
    response = await client.post(
        "/api/v1/auth/merge", json={"merge_token": merge_token}, headers=auth(stranger)
    )
    assert response.status_code == 403
    # Nor does it work as an access token.
    assert (await client.get("/api/v1/auth/sessions", headers=auth(merge_token))).status_code == 401

    response = await client.post(
        "/api/v1/auth/merge", json={"merge_token": merge_token}, headers=auth(guest)
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["merged_from"] == old["user"]["canonical_id"]
    assert merged["user"]["canonical_id"] == guest["user"]["canonical_id"]
    assert {i["provider"] for i in merged["user"]["identities"]} == {"device", "steam"}
    assert merged["user"]["profile"]["display_name"] == "OldHero"
    progression = await client.get("/api/v1/users/me/progression", headers=auth(guest))
    assert progression.json()["data"] == {"level": 30}

    # The old account is gone: its tokens die, its Steam login now reaches the survivor.
    assert (await client.get("/api/v1/auth/sessions", headers=auth(old))).status_code == 401
    status = await scalar(
        runtime, sa.select(User.status).where(User.canonical_id == old["user"]["canonical_id"])
    )
    assert status == "merged"
    ticket, _ = await steam_ticket(emulators, steamid)
    login = (await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})).json()
    assert login["user"]["canonical_id"] == guest["user"]["canonical_id"]

    # The merge is audited, findable from either account.
    audit_id = await scalar(
        runtime,
        sa.select(AuditLog.id).where(
            AuditLog.action == "auth.merge", AuditLog.actor_id == guest["user"]["canonical_id"]
        ),
    )
    assert audit_id is not None
    assert (
        await count(
            runtime,
            AuditSubject,
            AuditSubject.audit_id == audit_id,
            AuditSubject.subject_id == old["user"]["canonical_id"],
        )
        == 1
    )

    # Spending the token twice does nothing more.
    again = await client.post(
        "/api/v1/auth/merge", json={"merge_token": merge_token}, headers=auth(guest)
    )
    assert again.status_code == 409
    assert await count(runtime, Identity, Identity.provider_id == steamid) == 1


async def test_email_link_conflict_needs_that_accounts_password(
    client: httpx.AsyncClient,
) -> None:
    owner = await email_register(client)
    guest = await device_login(client)
    wrong = await _link(
        client, guest, "email", {"email": owner["email"], "password": "not-their-password"}
    )
    assert wrong.status_code == 401
    assert "merge_token" not in wrong.json()
    right = await _link(
        client, guest, "email", {"email": owner["email"], "password": STRONG_PASSWORD}
    )
    assert right.status_code == 409
    assert right.json()["merge_token"]


async def test_merge_token_garbage_is_refused(client: httpx.AsyncClient) -> None:
    guest = await device_login(client)
    for token in ["x" * 20, guest["access_token"]]:
        response = await client.post(
            "/api/v1/auth/merge", json={"merge_token": token}, headers=auth(guest)
        )
        assert response.status_code == 401, token
