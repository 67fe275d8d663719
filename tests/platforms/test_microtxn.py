"""The ISteamMicroTxn client against the Steam emulator over HTTP, both interfaces."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from playerplatform.kit.errors import ProviderError
from playerplatform.kit.settings import Settings
from playerplatform.platforms import steam as steam_api
from playerplatform.platforms.steam import SteamClient, SteamTxnError

PLAYER = "76561198000000077"


@pytest.fixture(params=[False, True], ids=["live", "sandbox"])
async def steam(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings]
) -> AsyncIterator[SteamClient]:
    async with httpx.AsyncClient() as http:
        yield SteamClient(make_settings(steam_sandbox=request.param), http)


def _orderid() -> str:
    return str(secrets.randbits(62))


async def _overlay(emulators: dict[str, str], orderid: str, action: str, **body: object) -> None:
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        (
            await http.post(f"/emulator/microtxn/{orderid}/{action}", json=body or None)
        ).raise_for_status()


async def test_purchase_lifecycle(steam: SteamClient, emulators: dict[str, str]) -> None:
    info = await steam.get_user_info(PLAYER)
    assert info["currency"] == "USD" and info["status"] == "Active"
    orderid = _orderid()
    started = await steam.init_txn(
        orderid=orderid,
        steamid=PLAYER,
        items=[("101", 2, 398, "Gems"), ("102", 1, 99, "Hat")],
        language="en",
        currency="USD",
    )
    assert started.orderid == orderid and started.transid
    with pytest.raises(SteamTxnError) as not_yet:
        await steam.finalize_txn(orderid)
    assert not_yet.value.errorcode == steam_api.TXN_NOT_APPROVED
    assert (await steam.query_txn(orderid)).status == "Init"

    await _overlay(emulators, orderid, "approve")
    done = await steam.finalize_txn(orderid)
    assert done.transid == started.transid
    with pytest.raises(SteamTxnError) as twice:
        await steam.finalize_txn(orderid)
    assert twice.value.errorcode == steam_api.TXN_ALREADY_COMMITTED
    queried = await steam.query_txn(orderid)
    assert queried.status == "Succeeded" and queried.steamid == PLAYER
    assert [(i.itemid, i.qty, i.amount) for i in queried.items] == [("101", 2, 398), ("102", 1, 99)]

    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await steam.refund_txn(orderid)
    report = await steam.get_report(since=since)
    mine = [t for t in report if t.orderid == orderid]
    assert mine and mine[0].status == "Refunded"
    assert all(i.itemstatus == "Refunded" for i in mine[0].items)


async def test_partial_refund_and_chargeback_reach_the_report(
    steam: SteamClient, emulators: dict[str, str]
) -> None:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first, second = _orderid(), _orderid()
    for orderid in (first, second):
        await steam.init_txn(
            orderid=orderid,
            steamid=PLAYER,
            items=[("201", 1, 100, "A"), ("202", 1, 100, "B")],
            language="en",
            currency="USD",
        )
        await _overlay(emulators, orderid, "approve")
        await steam.finalize_txn(orderid)
    await _overlay(emulators, first, "refund", itemids=["202"])
    await _overlay(emulators, second, "refund", status="Chargedback")
    report = {t.orderid: t for t in await steam.get_report(since=since)}
    assert report[first].status == "PartialRefund"
    assert {i.itemid: i.itemstatus for i in report[first].items} == {
        "201": "Succeeded",
        "202": "Refunded",
    }
    assert report[second].status == "Chargedback"


async def test_denials_and_bad_orders(steam: SteamClient, emulators: dict[str, str]) -> None:
    orderid = _orderid()
    await steam.init_txn(
        orderid=orderid, steamid=PLAYER, items=[("1", 1, 1, "x")], language="en", currency="USD"
    )
    with pytest.raises(SteamTxnError) as duplicate:
        await steam.init_txn(
            orderid=orderid, steamid=PLAYER, items=[("1", 1, 1, "x")], language="en", currency="USD"
        )
    assert duplicate.value.errorcode == steam_api.TXN_INVALID_PARAMETER
    await _overlay(emulators, orderid, "deny", errorcode=104)
    with pytest.raises(SteamTxnError) as fraud:
        await steam.finalize_txn(orderid)
    assert fraud.value.errorcode == steam_api.TXN_FRAUD
    with pytest.raises(SteamTxnError):
        await steam.query_txn(_orderid())
    with pytest.raises(SteamTxnError):
        await steam.refund_txn(orderid)


async def test_wrong_key_is_a_provider_error(make_settings: Callable[..., Settings]) -> None:
    async with httpx.AsyncClient() as http:
        steam = SteamClient(make_settings(steam_publisher_key="wrong-key"), http)
        with pytest.raises(ProviderError):
            await steam.query_txn(_orderid())


async def test_steam_charges_only_in_the_wallets_currency(
    steam: SteamClient, emulators: dict[str, str]
) -> None:
    player = str(76561198000000000 + secrets.randbelow(10**9))
    async with httpx.AsyncClient(base_url=emulators["steam"]) as http:
        (
            await http.put(
                f"/emulator/microtxn/users/{player}/wallet",
                json={"currency": "EUR", "country": "DE"},
            )
        ).raise_for_status()
    wallet = await steam.get_wallet(player)
    assert (wallet.currency, wallet.country, wallet.status) == ("EUR", "DE", "Active")
    with pytest.raises(SteamTxnError) as refused:
        await steam.init_txn(
            orderid=_orderid(),
            steamid=player,
            items=[("101", 1, 499, "Hat")],
            language="en",
            currency="USD",
        )
    assert refused.value.errorcode == steam_api.TXN_CURRENCY_MISMATCH
    started = await steam.init_txn(
        orderid=_orderid(),
        steamid=player,
        items=[("101", 1, 449, "Hat")],
        language="en",
        currency="EUR",
    )
    assert (await steam.query_txn(started.orderid)).currency == "EUR"
