"""Steam and Epic sign-in through the emulators, over HTTP, with the production clients."""

from __future__ import annotations

import httpx
import jwt as pyjwt

from tests.support.platforms import epic_id_token, new_steamid, steam_ticket


async def test_steam_ticket_signs_in_and_links_the_steamid(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    ticket, steamid = await steam_ticket(emulators)
    response = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] is True
    assert body["user"]["identities"][0]["provider"] == "steam"
    assert body["user"]["identities"][0]["provider_id"] == steamid
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["providers"] == ["steam"]
    assert claims["linked_accounts"] == [f"steam_{steamid}"]

    again_ticket, _ = await steam_ticket(emulators, steamid)
    again = await client.post("/api/v1/auth/steam/login", json={"ticket": again_ticket})
    assert again.json()["created"] is False
    assert again.json()["user"]["canonical_id"] == body["user"]["canonical_id"]


async def test_steam_rejections_are_invalid_credentials(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    expired, _ = await steam_ticket(emulators, ttl_seconds=0)
    other_app, _ = await steam_ticket(emulators, appid=999)
    unknown = "ab" * 120
    for ticket in (expired, other_app, unknown):
        response = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_credentials"


async def test_steam_ticket_for_another_identity_is_refused(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    ticket, _ = await steam_ticket(emulators, identity="player-platform")
    response = await client.post(
        "/api/v1/auth/steam/login", json={"ticket": ticket, "identity": "someone-else"}
    )
    assert response.status_code == 401
    ok_ticket, _ = await steam_ticket(emulators, identity="player-platform")
    ok = await client.post(
        "/api/v1/auth/steam/login", json={"ticket": ok_ticket, "identity": "player-platform"}
    )
    assert ok.status_code == 200


async def test_publisher_banned_steam_accounts_cannot_sign_in(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    ticket, _ = await steam_ticket(emulators, publisherbanned=True)
    response = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
    assert response.status_code == 403
    assert response.json()["code"] == "account_banned"


async def test_family_shared_steam_login_keeps_the_owner(
    client: httpx.AsyncClient, emulators: dict[str, str], runtime: object
) -> None:
    owner = new_steamid()
    ticket, steamid = await steam_ticket(emulators, ownersteamid=owner)
    response = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
    assert response.status_code == 200
    import sqlalchemy as sa

    from playerplatform.auth.models import Identity
    from tests.support.db import scalar

    data = await scalar(runtime, sa.select(Identity.data).where(Identity.provider_id == steamid))  # type: ignore[arg-type]
    assert data["ownersteamid"] == owner and data["family_shared"] is True


async def test_non_hex_steam_tickets_are_validation_errors(client: httpx.AsyncClient) -> None:
    for ticket in ["not-hex!", "abc", "", "zz" * 10, "a" * 9000]:
        response = await client.post("/api/v1/auth/steam/login", json={"ticket": ticket})
        assert response.status_code == 422, ticket
        assert response.json()["errors"][0]["field"] == "ticket"


async def test_epic_connect_and_account_tokens_sign_in(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    for kind in ("connect", "eas"):
        token, sub = await epic_id_token(emulators, kind=kind, display_name="EpicHero")
        response = await client.post("/api/v1/auth/epic/login", json={"id_token": token})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"]["identities"][0] == {
            "provider": "epic",
            "provider_id": sub,
            "linked_at": body["user"]["identities"][0]["linked_at"],
        }
        claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["linked_accounts"] == [f"epic_{sub}"]


async def test_bad_epic_tokens_are_refused(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    wrong_audience, _ = await epic_id_token(emulators, aud="another-client")
    wrong_deployment, _ = await epic_id_token(emulators, pfdid="another-deployment")
    expired, _ = await epic_id_token(emulators, expires_in=-120)
    for token in (wrong_audience, wrong_deployment, expired, "x" * 40):
        response = await client.post("/api/v1/auth/epic/login", json={"id_token": token})
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_credentials"
