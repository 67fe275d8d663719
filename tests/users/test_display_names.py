"""A display name obeys one rule wherever one is accepted: registration, the profile patch,
and the name a platform reports for its player."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.support.platforms import epic_id_token
from tests.support.players import STRONG_PASSWORD, auth, device_login, new_email

REFUSED = [
    "\u202egnp.exe",  # a right-to-left override: renders as "exe.png"
    "evil\u2066name",
    " ",
    "",
    "bell\x07name",
    "tab\tname",
    "line\nbreak",
    "x" * 33,
]


async def _register(client: httpx.AsyncClient, name: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/email/register",
        json={"email": new_email(), "password": STRONG_PASSWORD, "display_name": name},
    )


async def _patch(client: httpx.AsyncClient, name: str) -> httpx.Response:
    player = await device_login(client)
    return await client.patch("/api/v1/users/me", json={"display_name": name}, headers=auth(player))


@pytest.mark.parametrize("name", REFUSED)
@pytest.mark.parametrize("route", [_register, _patch], ids=["register", "patch"])
async def test_a_name_refused_in_one_place_is_refused_in_every_place(
    client: httpx.AsyncClient, route: object, name: str
) -> None:
    response = await route(client, name)  # type: ignore[operator]
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert [e["field"] for e in response.json()["errors"]] == ["display_name"]


@pytest.mark.parametrize("route", [_register, _patch], ids=["register", "patch"])
async def test_a_good_name_is_trimmed_the_same_everywhere(
    client: httpx.AsyncClient, route: object
) -> None:
    response = await route(client, "  Ada  ")  # type: ignore[operator]
    assert response.status_code in (200, 201), response.text
    user = response.json().get("user", response.json())
    assert user["profile"]["display_name"] == "Ada"


async def test_a_rude_name_is_refused_at_registration_too(client: httpx.AsyncClient) -> None:
    response = await _register(client, "shit lord")
    assert response.status_code == 422
    assert response.json()["code"] == "text_rejected"


async def test_a_platform_name_that_breaks_the_rule_is_not_taken(
    client: httpx.AsyncClient, emulators: dict[str, str]
) -> None:
    """Epic's display name fills the profile of a new player only when it passes the rule."""
    for name, kept in (
        ("EpicHero", "EpicHero"),
        ("\u202egnp.exe", None),
        ("a\x00b", None),
        ("shit lord", None),  # the text filter applies to a platform's name too
    ):
        token, _ = await epic_id_token(
            emulators, kind="eas", display_name=name, sub=secrets.token_hex(16)
        )
        response = await client.post("/api/v1/auth/epic/login", json={"id_token": token})
        assert response.status_code == 200, response.text
        assert response.json()["user"]["profile"]["display_name"] == kept, name
