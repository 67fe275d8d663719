"""The emulators' wire protocol, where the clients do not already pin it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from click.testing import CliRunner

from playerplatform.platforms.cli import emulate
from playerplatform.platforms.emulators.twitch import create_twitch_emulator
from tests.conftest import (
    EPIC_CLIENT_ID,
    EPIC_CLIENT_SECRET,
    EPIC_DEPLOYMENT_ID,
    STEAM_APP_ID,
    STEAM_PUBLISHER_KEY,
)
from tests.support.servers import ServerThread

AUTHENTICATE = "/ISteamUserAuth/AuthenticateUserTicket/v1/"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="module")
def twitch_url() -> Iterator[str]:
    server = ServerThread(create_twitch_emulator(client_id="cid", client_secret="csecret")).start()
    yield server.url
    server.stop()


async def steam_ticket(http: httpx.AsyncClient, steam_url: str) -> str:
    response = await http.post(
        f"{steam_url}/emulator/tickets", json={"steamid": "76561198000000001"}
    )
    ticket: str = response.json()["ticket"]
    return ticket


@pytest.mark.parametrize(
    ("params", "headers"),
    [({}, {}), ({"key": "wrong"}, {}), ({}, {"x-webapi-key": "wrong"})],
)
async def test_steam_refuses_a_missing_or_wrong_key_with_a_plain_403(
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    params: dict[str, str],
    headers: dict[str, str],
) -> None:
    ticket = await steam_ticket(http, emulators["steam"])
    query = {"appid": str(STEAM_APP_ID), "ticket": ticket, **params}

    response = await http.get(emulators["steam"] + AUTHENTICATE, params=query, headers=headers)

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Forbidden" in response.text


@pytest.mark.parametrize("key_in", ["query", "header"])
async def test_steam_takes_the_key_in_the_query_or_a_header(
    emulators: dict[str, str], http: httpx.AsyncClient, key_in: str
) -> None:
    ticket = await steam_ticket(http, emulators["steam"])
    query = {"appid": str(STEAM_APP_ID), "ticket": ticket}
    headers = {}
    if key_in == "query":
        query["key"] = STEAM_PUBLISHER_KEY
    else:
        headers["x-webapi-key"] = STEAM_PUBLISHER_KEY

    response = await http.get(emulators["steam"] + AUTHENTICATE, params=query, headers=headers)

    assert response.status_code == 200
    assert response.json() == {
        "response": {
            "params": {
                "result": "OK",
                "steamid": "76561198000000001",
                "ownersteamid": "76561198000000001",
                "vacbanned": False,
                "publisherbanned": False,
            }
        }
    }


async def test_steam_error_envelope(emulators: dict[str, str], http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{emulators['steam']}/emulator/tickets",
        json={"steamid": "76561198000000001", "appid": STEAM_APP_ID + 1},
    )
    query = {
        "key": STEAM_PUBLISHER_KEY,
        "appid": str(STEAM_APP_ID),
        "ticket": response.json()["ticket"],
    }

    response = await http.get(emulators["steam"] + AUTHENTICATE, params=query)

    assert response.json() == {
        "response": {"error": {"errorcode": 102, "errordesc": "Ticket for other app"}}
    }


async def test_steam_missing_parameter_is_a_400(
    emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    response = await http.get(
        emulators["steam"] + AUTHENTICATE, params={"key": STEAM_PUBLISHER_KEY, "appid": "480"}
    )

    assert response.status_code == 400
    assert "ticket" in response.text


async def test_epic_publishes_the_same_keys_at_both_key_set_paths(
    emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    connect = (await http.get(f"{emulators['epic']}/auth/v1/oauth/jwks")).json()
    accounts = (await http.get(f"{emulators['epic']}/epic/oauth/v2/.well-known/jwks.json")).json()

    assert connect == accounts
    assert [(k["kty"], k["alg"], k["use"]) for k in connect["keys"]] == [("RSA", "RS256", "sig")]
    assert "d" not in connect["keys"][0]


async def test_epic_client_credentials_grant(
    emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    response = await http.post(
        f"{emulators['epic']}/auth/v1/oauth/token",
        data={"grant_type": "client_credentials", "deployment_id": EPIC_DEPLOYMENT_ID},
        auth=(EPIC_CLIENT_ID, EPIC_CLIENT_SECRET),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["expires_at"].endswith("Z")
    assert body["deployment_id"] == EPIC_DEPLOYMENT_ID


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        ((EPIC_CLIENT_ID, "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            (EPIC_CLIENT_ID, EPIC_CLIENT_SECRET),
            {"grant_type": "password"},
            400,
            "unsupported_grant_type",
        ),
        (
            (EPIC_CLIENT_ID, EPIC_CLIENT_SECRET),
            {"grant_type": "client_credentials", "deployment_id": "other"},
            400,
            "invalid_request",
        ),
    ],
)
async def test_epic_refuses_bad_client_credentials_requests(
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    auth: tuple[str, str] | None,
    form: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = await http.post(
        f"{emulators['epic']}/auth/v1/oauth/token", data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
    )

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["errorCode"].startswith("errors.com.epicgames.")


async def test_twitch_validate_refuses_an_unknown_token(
    twitch_url: str, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        f"{twitch_url}/oauth2/validate", headers={"Authorization": "OAuth not-a-token"}
    )

    assert response.status_code == 401
    assert response.json() == {"status": 401, "message": "invalid access token"}


async def test_twitch_token_response_and_validation(
    twitch_url: str, http: httpx.AsyncClient
) -> None:
    code = (
        await http.post(
            f"{twitch_url}/emulator/codes",
            json={"user_id": "42", "login": "streamer", "scopes": ["user:read:email"]},
        )
    ).json()["code"]
    form = {
        "client_id": "cid",
        "client_secret": "csecret",
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": "http://localhost/cb",
    }

    token = (await http.post(f"{twitch_url}/oauth2/token", data=form)).json()
    validated = await http.get(
        f"{twitch_url}/oauth2/validate",
        headers={"Authorization": f"OAuth {token['access_token']}"},
    )

    assert token["token_type"] == "bearer"
    assert token["scope"] == ["user:read:email"]
    assert token["refresh_token"]
    assert validated.json()["user_id"] == "42"
    assert validated.json()["login"] == "streamer"
    assert validated.json()["client_id"] == "cid"
    assert validated.json()["scopes"] == ["user:read:email"]


def test_emulate_group_offers_each_platform_on_its_own_port() -> None:
    runner = CliRunner()
    for name, port in (("steam", "8091"), ("epic", "8092"), ("twitch", "8093")):
        result = runner.invoke(emulate, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "--host" in result.output
        assert port in result.output
