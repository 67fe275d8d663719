"""The Twitch client against the Twitch emulator over HTTP: authorization-code linking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from playerplatform.kit.errors import InvalidCredentials, ProviderError
from playerplatform.kit.settings import Settings
from playerplatform.platforms.twitch import TwitchClient, TwitchUser
from tests.conftest import TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET
from tests.support.servers import free_port

CLIENT_ID = TWITCH_CLIENT_ID
CLIENT_SECRET = TWITCH_CLIENT_SECRET
REDIRECT_URI = "https://game.example/link/twitch"


@pytest.fixture
def twitch_url(emulators: dict[str, str]) -> str:
    return emulators["twitch"]


@pytest.fixture
def twitch_settings(make_settings: Callable[..., Settings], twitch_url: str) -> Settings:
    return make_settings(
        twitch_id_url=twitch_url,
        twitch_client_id=CLIENT_ID,
        twitch_client_secret=CLIENT_SECRET,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def authorize(http: httpx.AsyncClient, twitch_url: str, **body: Any) -> str:
    body.setdefault("user_id", "141981764")
    body.setdefault("login", "twitchdev")
    response = await http.post(f"{twitch_url}/emulator/codes", json=body)
    assert response.status_code == 200, response.text
    code: str = response.json()["code"]
    return code


async def test_code_exchange_names_the_twitch_account(
    twitch_settings: Settings, twitch_url: str, http: httpx.AsyncClient
) -> None:
    code = await authorize(http, twitch_url, scopes=["user:read:email"], redirect_uri=REDIRECT_URI)

    user = await TwitchClient(twitch_settings, http).exchange_code(code, REDIRECT_URI)

    assert user == TwitchUser(user_id="141981764", login="twitchdev")


async def test_code_is_single_use(
    twitch_settings: Settings, twitch_url: str, http: httpx.AsyncClient
) -> None:
    twitch = TwitchClient(twitch_settings, http)
    code = await authorize(http, twitch_url)
    await twitch.exchange_code(code, REDIRECT_URI)

    with pytest.raises(InvalidCredentials) as caught:
        await twitch.exchange_code(code, REDIRECT_URI)

    assert caught.value.status == 401


@pytest.mark.parametrize("code", ["never-issued", ""])
async def test_unknown_code_is_refused(
    twitch_settings: Settings, http: httpx.AsyncClient, code: str
) -> None:
    with pytest.raises(InvalidCredentials):
        await TwitchClient(twitch_settings, http).exchange_code(code, REDIRECT_URI)


async def test_code_for_another_redirect_is_refused(
    twitch_settings: Settings, twitch_url: str, http: httpx.AsyncClient
) -> None:
    code = await authorize(http, twitch_url, redirect_uri=REDIRECT_URI)

    with pytest.raises(InvalidCredentials):
        await TwitchClient(twitch_settings, http).exchange_code(code, "https://evil.example/")


@pytest.mark.parametrize(
    "overrides",
    [{"twitch_client_secret": "wrong-secret-0123"}, {"twitch_client_id": "someone-else"}],
)
async def test_refused_client_credentials_are_a_provider_error(
    make_settings: Callable[..., Settings],
    twitch_url: str,
    http: httpx.AsyncClient,
    overrides: dict[str, str],
) -> None:
    values = {"twitch_client_id": CLIENT_ID, "twitch_client_secret": CLIENT_SECRET, **overrides}
    settings = make_settings(twitch_id_url=twitch_url, **values)
    code = await authorize(http, twitch_url)

    with pytest.raises(ProviderError, match="client credentials refused") as caught:
        await TwitchClient(settings, http).exchange_code(code, REDIRECT_URI)

    assert CLIENT_SECRET not in repr(caught.value)
    assert "wrong-secret-0123" not in repr(caught.value)


async def test_unreachable_twitch_is_a_provider_error(
    make_settings: Callable[..., Settings], http: httpx.AsyncClient
) -> None:
    settings = make_settings(
        twitch_id_url=f"http://127.0.0.1:{free_port()}",
        twitch_client_id=CLIENT_ID,
        twitch_client_secret=CLIENT_SECRET,
    )

    with pytest.raises(ProviderError, match="unreachable"):
        await TwitchClient(settings, http).exchange_code("some-code", REDIRECT_URI)


async def test_missing_twitch_settings_are_a_provider_error(
    make_settings: Callable[..., Settings], twitch_url: str, http: httpx.AsyncClient
) -> None:
    settings = make_settings(
        twitch_id_url=twitch_url, twitch_client_id=None, twitch_client_secret=None
    )

    with pytest.raises(ProviderError, match="not configured"):
        await TwitchClient(settings, http).exchange_code("some-code", REDIRECT_URI)
