"""Wire models of the commerce API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from playerplatform.kit.edge import EdgeModel, NotNull, clean_line
from playerplatform.kit.pagination import CursorId, CursorKey, CursorText, CursorTime

SKU_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SkuType = Literal["durable", "consumable", "bundle"]
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_QUANTITY = 1000
MAX_UNITS = 1_000_000
MAX_PRICE = 1_000_000_000  # in the currency's smallest unit (IDR and VND prices run high)


def _sku_id(value: str) -> str:
    if not SKU_ID.match(value):
        raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
    return value


Reason = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean_line)]
Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(clean_line)]


class BundleLine(EdgeModel):
    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=MAX_QUANTITY)

    _check_id = field_validator("sku_id")(_sku_id)


class SteamMapping(EdgeModel):
    model_config = ConfigDict(extra="allow")

    itemid: str = Field(pattern=r"^[0-9]{1,19}$")
    amount: int = Field(ge=0, le=MAX_PRICE, description="Price in cents of `currency`.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    prices: dict[str, int] = Field(
        default_factory=dict,
        max_length=60,
        description="Prices in other currencies (ISO 4217 code: amount in that currency's "
        "smallest unit). A player whose Steam wallet is in a currency with no price here "
        "cannot buy the SKU on Steam.",
    )

    @field_validator("prices")
    @classmethod
    def _check_prices(cls, value: dict[str, int]) -> dict[str, int]:
        for code, amount in value.items():
            if not CURRENCY.match(code):
                raise ValueError("currency codes are three capital letters (ISO 4217)")
            if not 0 <= amount <= MAX_PRICE:
                raise ValueError(f"amounts are 0 to {MAX_PRICE}")
        return value

    def price_in(self, currency: str) -> int | None:
        """The price in `currency`, or None when the SKU has none in it."""
        if currency == self.currency:
            return self.amount
        return self.prices.get(currency)


class EpicMapping(EdgeModel):
    model_config = ConfigDict(extra="allow")

    catalog_item_id: str = Field(min_length=1, max_length=128)


class SkuMetadata(EdgeModel):
    model_config = ConfigDict(extra="allow")

    steam: SteamMapping | None = None
    epic: EpicMapping | None = None


class SkuIn(EdgeModel):
    sku_id: str = Field(min_length=1, max_length=64)
    type: SkuType
    name: Name
    description: str = Field("", max_length=2000)
    is_active: bool = True
    metadata: SkuMetadata = Field(default_factory=SkuMetadata)
    quantity: int = Field(1, ge=1, le=MAX_UNITS, description="Consumables: units per purchase.")
    contents: list[BundleLine] = Field(default_factory=list, max_length=50)

    _check_id = field_validator("sku_id")(_sku_id)

    @model_validator(mode="after")
    def _shape(self) -> SkuIn:
        if self.type == "bundle" and not self.contents:
            raise ValueError("a bundle needs contents")
        if self.type != "bundle" and self.contents:
            raise ValueError("only bundles have contents")
        return self


class SkuPatch(EdgeModel):
    name: Name | None = None
    description: str | None = Field(None, max_length=2000)
    is_active: bool | None = None
    metadata: SkuMetadata | None = None
    quantity: int | None = Field(None, ge=1, le=MAX_UNITS)
    contents: Annotated[list[BundleLine] | None, NotNull()] = Field(
        None, min_length=1, max_length=50
    )


class SkuOut(BaseModel):
    sku_id: str
    type: SkuType
    name: str
    description: str
    is_active: bool
    metadata: dict[str, Any]
    quantity: int
    contents: list[BundleLine]


class SteamOrderIn(EdgeModel):
    sku_id: str | None = Field(None, min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=100)
    items: list[BundleLine] | None = Field(
        None,
        min_length=1,
        max_length=20,
        description="Several SKUs in one Steam order (instead of sku_id and quantity).",
    )
    language: str | None = Field(None, pattern=r"^[a-z]{2}$", description="ISO 639-1")
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217. The order is always in the currency of the player's Steam "
        "wallet; a different currency here is refused (409 `currency_mismatch`).",
    )

    @field_validator("sku_id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        return None if value is None else _sku_id(value)

    @model_validator(mode="after")
    def _one_way(self) -> SteamOrderIn:
        if (self.sku_id is None) == (self.items is None):
            raise ValueError("give either sku_id (and quantity) or items")
        if self.items is not None:
            ids = [line.sku_id for line in self.items]
            if len(set(ids)) != len(ids):
                raise ValueError("items list each SKU once")
            if any(line.quantity > 100 for line in self.items):
                raise ValueError("at most 100 of each item")
        return self

    def lines(self) -> list[BundleLine]:
        if self.items is not None:
            return list(self.items)
        assert self.sku_id is not None
        return [BundleLine(sku_id=self.sku_id, quantity=self.quantity)]


class OrderItemOut(BaseModel):
    sku_id: str
    quantity: int
    status: str


class OrderOut(BaseModel):
    order_id: str
    provider: str
    sku_id: str
    quantity: int
    status: str
    provider_order_id: str
    transid: str | None
    amount: int | None
    currency: str | None
    created_at: dt.datetime
    verified_at: dt.datetime | None
    provider_status: str | None = None
    items: list[OrderItemOut] = Field(default_factory=list)


class VerifyIn(EdgeModel):
    provider: Literal["steam", "epic"]
    order_id: str | None = Field(None, min_length=1, max_length=32)

    @model_validator(mode="after")
    def _steam_needs_order(self) -> VerifyIn:
        if self.provider == "steam" and not self.order_id:
            raise ValueError("order_id is required for provider steam")
        return self


class EntitlementOut(BaseModel):
    entitlement_id: str
    sku_id: str
    status: str
    revocation_reason: str | None
    source: str
    order_id: str | None = None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class BalanceOut(BaseModel):
    sku_id: str
    balance: int


class VerifyOut(BaseModel):
    order: OrderOut | None = None
    orders: list[OrderOut] = Field(default_factory=list)
    entitlements: list[EntitlementOut]
    balances: list[BalanceOut]


class OwnershipOut(BaseModel):
    sku_id: str
    owned: bool


class WalletOut(BaseModel):
    balances: list[BalanceOut]
    in_debt: bool = Field(description="A balance is below zero (clawback): spending is blocked.")


class LedgerEntryOut(BaseModel):
    entry_id: str
    sku_id: str
    change: int
    balance_after: int
    change_type: str
    reason: str | None
    order_id: str | None = None
    created_at: dt.datetime


class SpendIn(EdgeModel):
    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=MAX_UNITS)
    reason: Reason

    _check_id = field_validator("sku_id")(_sku_id)


class SpendOut(BaseModel):
    sku_id: str
    balance_after: int


class GrantIn(EdgeModel):
    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=MAX_QUANTITY)
    reason: Reason
    as_gift: bool = Field(
        False,
        description="Send the items as a `gift` inbox message to claim, instead of granting"
        " them silently (the SKU must then be active).",
    )

    _check_id = field_validator("sku_id")(_sku_id)


class GrantOut(BaseModel):
    entitlements: list[EntitlementOut]
    balances: list[BalanceOut]
    message_id: str | None = None  # the gift message, when sent as a gift


class RefundIn(EdgeModel):
    reason: Reason


class TimeCursor(CursorKey):
    t: CursorTime
    i: CursorText


class SkuCursor(CursorKey):
    s: CursorText


class LedgerCursor(CursorKey):
    i: CursorId
