"""The Epic client against the Epic emulator over HTTP: ID tokens, key sets, app tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from playerplatform.kit.errors import InvalidCredentials, ProviderError
from playerplatform.kit.settings import Settings
from playerplatform.platforms.emulators.epic import create_epic_emulator
from playerplatform.platforms.epic import EpicClient
from tests.conftest import (
    EPIC_CLIENT_ID,
    EPIC_CLIENT_SECRET,
    EPIC_DEPLOYMENT_ID,
    EPIC_SANDBOX_ID,
)
from tests.support.servers import ServerThread, free_port

PUID = "0002a1b2c3d4e5f60718293a4b5c6d7e"
EPIC_ACCOUNT = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class RequestLog:
    """Paths of every request an httpx client sends (what reached the emulator)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)

    def count(self, suffix: str) -> int:
        return sum(1 for path in self.paths if path.endswith(suffix))


@pytest.fixture
async def logged_http() -> AsyncIterator[tuple[httpx.AsyncClient, RequestLog]]:
    log = RequestLog()
    async with httpx.AsyncClient(event_hooks={"request": [log]}) as client:
        yield client, log


@pytest.fixture
def own_epic(make_settings: Callable[..., Settings]) -> Iterator[tuple[str, Settings]]:
    """An emulator of this test's own (so rotating its keys disturbs nobody)."""
    server = ServerThread(
        create_epic_emulator(
            client_id=EPIC_CLIENT_ID,
            client_secret=EPIC_CLIENT_SECRET,
            deployment_id=EPIC_DEPLOYMENT_ID,
            sandbox_id=EPIC_SANDBOX_ID,
        )
    ).start()
    settings = make_settings(
        epic_api_url=server.url, epic_jwks_url=f"{server.url}/auth/v1/oauth/jwks"
    )
    yield server.url, settings
    server.stop()


async def mint(http: httpx.AsyncClient, epic_url: str, **body: Any) -> str:
    body.setdefault("sub", PUID)
    body.setdefault("kind", "connect")
    response = await http.post(f"{epic_url}/emulator/id-tokens", json=body)
    assert response.status_code == 200, response.text
    token: str = response.json()["id_token"]
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_header(token: str, header: dict[str, Any]) -> str:
    _, payload, signature = token.split(".")
    return ".".join([b64(json.dumps(header).encode()), payload, signature])


async def test_connect_token_names_product_user_and_epic_account(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    token = await mint(http, emulators["epic"], eaid=EPIC_ACCOUNT, platform="WIN")

    identity = await EpicClient(settings, http).verify_id_token(token)

    assert identity.kind == "connect"
    assert identity.subject == PUID
    assert identity.account_id == EPIC_ACCOUNT
    assert identity.platform == "WIN"
    assert identity.claims["pfdid"] == EPIC_DEPLOYMENT_ID
    assert identity.claims["aud"] == EPIC_CLIENT_ID


@pytest.mark.parametrize("mint_body", [{}, {"eaid": "76561198000000001", "eat": "steam"}])
async def test_connect_token_without_epic_account_has_no_account_id(
    settings: Settings,
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    mint_body: dict[str, str],
) -> None:
    token = await mint(http, emulators["epic"], **mint_body)

    identity = await EpicClient(settings, http).verify_id_token(token)

    assert (identity.kind, identity.subject, identity.account_id) == ("connect", PUID, None)


async def test_account_services_token_names_the_epic_account(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    token = await mint(
        http, emulators["epic"], sub=EPIC_ACCOUNT, kind="eas", display_name="Aloy", platform="MAC"
    )

    identity = await EpicClient(settings, http).verify_id_token(token)

    assert identity.kind == "eas"
    assert identity.subject == EPIC_ACCOUNT
    assert identity.account_id == EPIC_ACCOUNT
    assert identity.display_name == "Aloy"
    assert identity.platform == "MAC"


@pytest.mark.parametrize("kind", ["connect", "eas"])
@pytest.mark.parametrize(
    ("mint_body", "reason"),
    [
        ({"aud": "someone-elses-client"}, "issued for another client"),
        ({"pfdid": "someone-elses-deployment"}, "issued for another deployment"),
        ({"expires_in": -300}, "expired"),
        ({"issued_offset": 600}, "issued in the future"),
        ({"omit_kid": True}, "no key id"),
    ],
)
async def test_token_failing_a_check_is_invalid_credentials(
    settings: Settings,
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    kind: str,
    mint_body: dict[str, Any],
    reason: str,
) -> None:
    token = await mint(http, emulators["epic"], kind=kind, **mint_body)

    with pytest.raises(InvalidCredentials) as caught:
        await EpicClient(settings, http).verify_id_token(token)

    assert caught.value.detail == f"Epic ID token rejected: {reason}"
    assert caught.value.status == 401


async def test_other_deployments_pass_when_no_deployment_is_configured(
    make_settings: Callable[..., Settings], emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    settings = make_settings(epic_deployment_id=None)
    token = await mint(http, emulators["epic"], pfdid="another-deployment")

    identity = await EpicClient(settings, http).verify_id_token(token)

    assert identity.claims["pfdid"] == "another-deployment"


async def test_token_issued_under_another_host_is_refused(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    # Same key, same claims, but the issuer names a host other than PP_EPIC_API_URL.
    other_host = emulators["epic"].replace("127.0.0.1", "localhost")
    token = await mint(http, other_host)
    assert jwt.decode(token, options={"verify_signature": False})["iss"].startswith(
        "http://localhost:"
    )

    with pytest.raises(InvalidCredentials, match="issued by someone else"):
        await EpicClient(settings, http).verify_id_token(token)


async def test_unsigned_token_is_refused(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    genuine = await mint(http, emulators["epic"])
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine)["kid"]
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": kid})

    with pytest.raises(InvalidCredentials, match="signing algorithm not accepted"):
        await EpicClient(settings, http).verify_id_token(unsigned)


async def test_token_signed_with_the_public_key_as_hmac_secret_is_refused(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    genuine = await mint(http, emulators["epic"])
    claims = jwt.decode(genuine, options={"verify_signature": False})
    kid = jwt.get_unverified_header(genuine)["kid"]
    jwks = (await http.get(f"{emulators['epic']}/auth/v1/oauth/jwks")).json()
    public_json = json.dumps(jwks["keys"][0]).encode()
    forged = jwt.encode(claims, public_json, algorithm="HS256", headers={"kid": kid})

    with pytest.raises(InvalidCredentials, match="signing algorithm not accepted"):
        await EpicClient(settings, http).verify_id_token(forged)


async def test_tampered_token_fails_its_signature(
    settings: Settings, emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    genuine = await mint(http, emulators["epic"])
    other = await mint(http, emulators["epic"], sub="0002ffffffffffffffffffffffffffff")
    header, _, signature = genuine.split(".")
    _, other_payload, _ = other.split(".")
    epic = EpicClient(settings, http)

    for tampered in (
        f"{header}.{other_payload}.{signature}",
        f"{header}.{other_payload}.{b64(b'x' * 256)}",
    ):
        with pytest.raises(InvalidCredentials, match="bad signature"):
            await epic.verify_id_token(tampered)
    assert (await epic.verify_id_token(other)).subject == "0002ffffffffffffffffffffffffffff"


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "e30.e30.", "....."])
async def test_garbage_is_refused(
    settings: Settings, http: httpx.AsyncClient, garbage: str
) -> None:
    with pytest.raises(InvalidCredentials, match="not a JWT|algorithm"):
        await EpicClient(settings, http).verify_id_token(garbage)


async def test_rotated_keys_are_refetched_but_not_more_than_once_per_interval(
    own_epic: tuple[str, Settings],
    http: httpx.AsyncClient,
    logged_http: tuple[httpx.AsyncClient, RequestLog],
) -> None:
    epic_url, settings = own_epic
    client_http, log = logged_http
    epic = EpicClient(settings, client_http, jwks_refetch_interval=0.5)
    before = await mint(http, epic_url)
    assert (await epic.verify_id_token(before)).subject == PUID
    assert log.count("/jwks") == 1

    await http.post(f"{epic_url}/emulator/rotate-keys")
    after = await mint(http, epic_url)
    # Straight after a fetch, an unknown key id does not send us back to Epic.
    with pytest.raises(InvalidCredentials, match="unknown key"):
        await epic.verify_id_token(after)
    assert log.count("/jwks") == 1

    await asyncio.sleep(0.6)
    assert (await epic.verify_id_token(after)).subject == PUID
    assert log.count("/jwks") == 2
    with pytest.raises(InvalidCredentials, match="unknown key"):
        await epic.verify_id_token(before)


async def test_flood_of_made_up_key_ids_fetches_the_key_set_once(
    settings: Settings,
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    logged_http: tuple[httpx.AsyncClient, RequestLog],
) -> None:
    client_http, log = logged_http
    epic = EpicClient(settings, client_http)
    genuine = await mint(http, emulators["epic"])
    assert (await epic.verify_id_token(genuine)).subject == PUID

    for _ in range(25):
        forged = with_header(genuine, {"alg": "RS256", "kid": secrets.token_hex(16)})
        with pytest.raises(InvalidCredentials, match="unknown key"):
            await epic.verify_id_token(forged)

    assert log.count("/jwks") == 1


async def test_unreachable_key_set_is_a_provider_error(
    make_settings: Callable[..., Settings], emulators: dict[str, str], http: httpx.AsyncClient
) -> None:
    settings = make_settings(epic_jwks_url=f"http://127.0.0.1:{free_port()}/auth/v1/oauth/jwks")
    token = await mint(http, emulators["epic"])

    with pytest.raises(ProviderError, match="unreachable"):
        await EpicClient(settings, http).verify_id_token(token)


async def test_account_services_keys_come_from_their_own_key_set(
    own_epic: tuple[str, Settings],
    http: httpx.AsyncClient,
    logged_http: tuple[httpx.AsyncClient, RequestLog],
) -> None:
    epic_url, settings = own_epic
    client_http, log = logged_http
    token = await mint(http, epic_url, sub=EPIC_ACCOUNT, kind="eas")

    await EpicClient(settings, client_http).verify_id_token(token)

    assert log.paths == ["/epic/oauth/v2/.well-known/jwks.json"]


async def test_app_token_is_cached(
    settings: Settings, logged_http: tuple[httpx.AsyncClient, RequestLog]
) -> None:
    client_http, log = logged_http
    epic = EpicClient(settings, client_http)

    first = await epic.app_token()
    second = await epic.app_token()

    assert first == second
    assert log.count("/auth/v1/oauth/token") == 1


async def test_app_token_close_to_expiry_is_fetched_again(
    make_settings: Callable[..., Settings], logged_http: tuple[httpx.AsyncClient, RequestLog]
) -> None:
    server = ServerThread(
        create_epic_emulator(
            client_id=EPIC_CLIENT_ID,
            client_secret=EPIC_CLIENT_SECRET,
            deployment_id=EPIC_DEPLOYMENT_ID,
            sandbox_id=EPIC_SANDBOX_ID,
            app_token_ttl=30,
        )
    ).start()
    try:
        client_http, log = logged_http
        epic = EpicClient(make_settings(epic_api_url=server.url), client_http)

        first = await epic.app_token()
        second = await epic.app_token()
    finally:
        server.stop()

    assert first != second
    assert log.count("/auth/v1/oauth/token") == 2


async def test_wrong_client_secret_is_a_provider_error_that_keeps_it_secret(
    make_settings: Callable[..., Settings], http: httpx.AsyncClient
) -> None:
    wrong = "wrong-epic-secret-" + secrets.token_hex(8)

    with pytest.raises(ProviderError, match=r"refused \(401\)") as caught:
        await EpicClient(make_settings(epic_client_secret=wrong), http).app_token()

    assert wrong not in repr(caught.value)


@pytest.mark.parametrize("missing", ["epic_client_id", "epic_client_secret"])
async def test_missing_epic_settings_are_a_provider_error(
    make_settings: Callable[..., Settings],
    emulators: dict[str, str],
    http: httpx.AsyncClient,
    missing: str,
) -> None:
    epic = EpicClient(make_settings(**{missing: None}), http)

    with pytest.raises(ProviderError, match="not configured"):
        await epic.app_token()
    if missing == "epic_client_id":
        with pytest.raises(ProviderError, match="not configured"):
            await epic.verify_id_token(await mint(http, emulators["epic"]))
