"""The Epic ecom calls (list, redeem, clawbacks) against the Epic emulator over HTTP."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

import httpx
import pytest

from playerplatform.kit.errors import ProviderError
from playerplatform.kit.settings import Settings
from playerplatform.platforms.epic import EpicClient


async def _give(emulators: dict[str, str], account: str, item: str, consumable: bool) -> str:
    async with httpx.AsyncClient(base_url=emulators["epic"]) as http:
        response = await http.post(
            "/emulator/ecom/entitlements",
            json={"identity_id": account, "catalog_item_id": item, "consumable": consumable},
        )
        response.raise_for_status()
        return str(response.json()["id"])


async def test_list_redeem_and_claw_back(
    emulators: dict[str, str], make_settings: Callable[..., Settings]
) -> None:
    account = secrets.token_hex(16)
    since = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    async with httpx.AsyncClient() as http:
        epic = EpicClient(make_settings(), http)
        durable = await _give(emulators, account, "item-durable", False)
        potion = await _give(emulators, account, "item-potion", True)
        listed = {e.id: e for e in await epic.list_entitlements(account)}
        assert set(listed) == {durable, potion}
        assert listed[potion].consumable and not listed[potion].redeemed
        assert listed[durable].catalog_item_id == "item-durable"

        await epic.redeem_entitlements(account, [potion])
        again = {e.id: e for e in await epic.list_entitlements(account)}
        assert again[potion].redeemed is True  # still listed: includeRedeemed=true
        with pytest.raises(ProviderError):
            await epic.redeem_entitlements(account, [durable])  # not a consumable

        async with httpx.AsyncClient(base_url=emulators["epic"]) as emulator:
            (
                await emulator.post(f"/emulator/ecom/entitlements/{durable}/clawback")
            ).raise_for_status()
        clawbacks = await epic.clawbacks(since=since)
        assert [c.entitlement_id for c in clawbacks if c.identity_id == account] == [durable]
        assert durable not in {e.id for e in await epic.list_entitlements(account)}


async def test_ecom_needs_a_valid_app_token(
    emulators: dict[str, str], make_settings: Callable[..., Settings]
) -> None:
    async with httpx.AsyncClient() as http:
        epic = EpicClient(make_settings(epic_client_secret="wrong"), http)
        with pytest.raises(ProviderError):
            await epic.list_entitlements("someone")
        response = await http.get(
            f"{emulators['epic']}/epic/ecom/v3/identities/someone/entitlements",
            headers={"Authorization": "Bearer forged"},
        )
        assert response.status_code == 401
