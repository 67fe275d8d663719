"""The Steam client against the Steam emulator (and a misbehaving stand-in) over HTTP."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from playerplatform.kit.errors import InvalidCredentials, ProviderError
from playerplatform.kit.settings import Settings
from playerplatform.platforms.steam import SteamClient
from tests.conftest import STEAM_APP_ID, STEAM_PUBLISHER_KEY
from tests.support.servers import ServerThread, free_port

PLAYER = "76561198000000001"
LENDER = "76561198000000002"

# Tickets the misbehaving server answers in its own way.
ANSWER_500 = "500500"
ANSWER_NOT_JSON = "bad0bad0"
ANSWER_NO_ENVELOPE = "bad1bad1"
ANSWER_NO_STEAMID = "bad2bad2"
ANSWER_SLOWLY = "5105"


def broken_steam() -> FastAPI:
    app = FastAPI()

    @app.get("/ISteamUserAuth/AuthenticateUserTicket/v1/")
    async def authenticate(request: Request) -> Response:
        ticket = request.query_params["ticket"]
        if ticket == ANSWER_500:
            return PlainTextResponse("Internal Server Error", status_code=500)
        if ticket == ANSWER_NOT_JSON:
            return PlainTextResponse("<html>maintenance</html>")
        if ticket == ANSWER_NO_ENVELOPE:
            return JSONResponse({"response": []})
        if ticket == ANSWER_NO_STEAMID:
            return JSONResponse({"response": {"params": {"result": "OK"}}})
        await asyncio.sleep(1.0)
        return JSONResponse({})

    return app


@pytest.fixture(scope="module")
def broken_steam_url() -> Iterator[str]:
    server = ServerThread(broken_steam()).start()
    yield server.url
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def mint_ticket(http: httpx.AsyncClient, steam_url: str, **body: Any) -> str:
    body.setdefault("steamid", PLAYER)
    response = await http.post(f"{steam_url}/emulator/tickets", json=body)
    assert response.status_code == 200, response.text
    ticket: str = response.json()["ticket"]
    return ticket


async def test_ticket_names_its_player(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    ticket = await mint_ticket(http, emulators["steam"], identity="player-platform")

    owner = await SteamClient(settings, http).authenticate_user_ticket(ticket, "player-platform")

    assert owner.steamid == PLAYER
    assert owner.ownersteamid == PLAYER
    assert owner.vacbanned is False
    assert owner.publisherbanned is False


async def test_family_shared_ticket_keeps_borrower_and_owner_and_flags(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    ticket = await mint_ticket(
        http, emulators["steam"], ownersteamid=LENDER, vacbanned=True, publisherbanned=True
    )

    owner = await SteamClient(settings, http).authenticate_user_ticket(ticket.upper())

    assert (owner.steamid, owner.ownersteamid) == (PLAYER, LENDER)
    assert owner.vacbanned is True
    assert owner.publisherbanned is True


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        ({"ttl_seconds": 0}, "expired (103)"),
        ({"ttl_seconds": -60}, "expired (103)"),
        ({"appid": STEAM_APP_ID + 1}, "issued for another app (102)"),
    ],
)
async def test_refused_ticket_names_steams_reason(
    settings: Settings,
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    mint: dict[str, Any],
    reason: str,
) -> None:
    ticket = await mint_ticket(http, emulators["steam"], **mint)

    with pytest.raises(InvalidCredentials) as caught:
        await SteamClient(settings, http).authenticate_user_ticket(ticket)

    assert caught.value.detail == f"Steam rejected the ticket: {reason}"
    assert caught.value.status == 401


async def test_ticket_with_time_left_is_accepted(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    ticket = await mint_ticket(http, emulators["steam"], ttl_seconds=60)

    owner = await SteamClient(settings, http).authenticate_user_ticket(ticket)

    assert owner.steamid == PLAYER


async def test_unknown_ticket_is_invalid(settings: Settings, http: httpx.AsyncClient) -> None:
    with pytest.raises(InvalidCredentials, match=r"invalid \(101\)"):
        await SteamClient(settings, http).authenticate_user_ticket(secrets.token_hex(120))


@pytest.mark.parametrize("presented", ["another-service", None])
async def test_ticket_for_one_identity_is_refused_for_another(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient, presented: str | None
) -> None:
    ticket = await mint_ticket(http, emulators["steam"], identity="player-platform")

    with pytest.raises(InvalidCredentials, match=r"invalid \(101\)"):
        await SteamClient(settings, http).authenticate_user_ticket(ticket, presented)


@pytest.mark.parametrize("ticket", ["", "not hex at all", "ab" * 5000])
async def test_ticket_that_is_not_hex_is_refused_without_asking_steam(
    make_settings: Callable[..., Settings], http: httpx.AsyncClient, ticket: str
) -> None:
    # Nothing listens here: reaching Steam would be a ProviderError, not InvalidCredentials.
    settings = make_settings(steam_api_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(InvalidCredentials, match="hex"):
        await SteamClient(settings, http).authenticate_user_ticket(ticket)


async def test_wrong_publisher_key_is_a_provider_error_that_keeps_the_key_secret(
    make_settings: Callable[..., Settings], emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    wrong_key = "wrong-publisher-key-" + secrets.token_hex(8)
    settings = make_settings(steam_publisher_key=wrong_key)
    ticket = await mint_ticket(http, emulators["steam"])

    with pytest.raises(ProviderError) as caught:
        await SteamClient(settings, http).authenticate_user_ticket(ticket)

    assert "403" in caught.value.detail
    assert caught.value.status == 502
    assert wrong_key not in repr(caught.value)
    assert caught.value.__cause__ is None


async def test_closed_port_is_a_provider_error(
    make_settings: Callable[..., Settings], http: httpx.AsyncClient
) -> None:
    settings = make_settings(steam_api_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ProviderError, match="unreachable") as caught:
        await SteamClient(settings, http).authenticate_user_ticket("abcd")

    assert STEAM_PUBLISHER_KEY not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


@pytest.mark.parametrize(
    ("ticket", "reason"),
    [
        (ANSWER_500, "answered 500"),
        (ANSWER_NOT_JSON, "malformed response"),
        (ANSWER_NO_ENVELOPE, "malformed response"),
        (ANSWER_NO_STEAMID, "malformed response"),
    ],
)
async def test_misbehaving_steam_is_a_provider_error(
    make_settings: Callable[..., Settings],
    broken_steam_url: str,
    http: httpx.AsyncClient,
    ticket: str,
    reason: str,
) -> None:
    settings = make_settings(steam_api_url=broken_steam_url)

    with pytest.raises(ProviderError, match=reason):
        await SteamClient(settings, http).authenticate_user_ticket(ticket)


async def test_slow_steam_times_out_as_a_provider_error(
    make_settings: Callable[..., Settings], broken_steam_url: str, http: httpx.AsyncClient
) -> None:
    settings = make_settings(steam_api_url=broken_steam_url, platform_timeout_seconds=0.2)

    with pytest.raises(ProviderError, match="timed out"):
        await SteamClient(settings, http).authenticate_user_ticket(ANSWER_SLOWLY)


@pytest.mark.parametrize("missing", ["steam_app_id", "steam_publisher_key"])
async def test_missing_steam_settings_are_a_provider_error(
    make_settings: Callable[..., Settings],
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    missing: str,
) -> None:
    settings = make_settings(**{missing: None})
    ticket = await mint_ticket(http, emulators["steam"])

    with pytest.raises(ProviderError, match="not configured"):
        await SteamClient(settings, http).authenticate_user_ticket(ticket)


async def test_app_ownership_follows_family_sharing(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    borrower = str(76561198100000000 + secrets.randbelow(10**6))
    lender = str(76561198200000000 + secrets.randbelow(10**6))
    await mint_ticket(http, emulators["steam"], steamid=borrower, ownersteamid=lender)
    steam = SteamClient(settings, http)

    shared = await steam.check_app_ownership(borrower)
    owned = await steam.check_app_ownership(lender)
    stranger = await steam.check_app_ownership("76561198999999999")

    assert (shared.owns_app, shared.ownersteamid, shared.permanent) == (True, lender, False)
    assert (owned.owns_app, owned.ownersteamid, owned.permanent) == (True, lender, True)
    assert (stranger.owns_app, stranger.ownersteamid) == (False, None)


async def test_sandbox_setting_switches_the_microtxn_interface(
    make_settings: Callable[..., Settings], http: httpx.AsyncClient
) -> None:
    assert SteamClient(make_settings(), http).microtxn_interface == "ISteamMicroTxn"
    sandbox = SteamClient(make_settings(steam_sandbox=True), http)
    assert sandbox.microtxn_interface == "ISteamMicroTxnSandbox"


async def test_publisher_key_travels_in_a_header_never_in_the_url(
    settings: Settings, emulators: dict[str, str]
) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    ticket = secrets.token_hex(8)
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        with pytest.raises(InvalidCredentials):
            await SteamClient(settings, http).authenticate_user_ticket(ticket)

    assert len(sent) == 1
    assert STEAM_PUBLISHER_KEY not in str(sent[0].url)
    assert sent[0].headers["x-webapi-key"] == STEAM_PUBLISHER_KEY
    assert sent[0].url.params["appid"] == str(STEAM_APP_ID)
    assert sent[0].url.params["ticket"] == ticket
