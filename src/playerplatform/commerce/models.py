"""Tables of the commerce domain: the catalog, provider orders, entitlements, the append-only
ledger with its per-(player, SKU) balance row, and the reconciliation cursors.

The invariants live in constraints where a constraint can hold them: a provider order id is
unique per provider, an entitlement and a ledger entry each carry a unique grant key derived
from what caused them (order item, admin grant, job), so a retry or a duplicate can never
write a second one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, new_uuid, utcnow
from playerplatform.kit.idempotency import IdempotencyRecord

__all__ = [
    "Balance",
    "CommerceCursor",
    "Entitlement",
    "IdempotencyRecord",
    "LedgerEntry",
    "Order",
    "Sku",
]

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Sku(Base):
    __tablename__ = "skus"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    sku_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    type: Mapped[str] = mapped_column(sa.String(16), index=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True, index=True)
    sku_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    quantity: Mapped[int] = mapped_column(default=1)
    contents: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Copied out of `metadata` so a provider's item maps back to a SKU with an index.
    epic_catalog_item_id: Mapped[str | None] = mapped_column(
        sa.String(128), default=None, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def wallet_owner(user_id: uuid.UUID) -> str:
    """The owner of a player's cached commerce views (`kit.views`): wallet, entitlements,
    ledger and orders."""
    return f"wallet:{user_id}"


class Order(Base):
    """A purchase with a provider. `items` holds one line per SKU bought: `{sku_id, quantity,
    itemid, amount, status}` where `status` turns `reversed` when that line is refunded."""

    __tablename__ = "orders"
    __table_args__ = (sa.UniqueConstraint("provider", "provider_order_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    order_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(sa.String(16))
    provider_order_id: Mapped[str] = mapped_column(sa.String(128), index=True)
    transid: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    sku_id: Mapped[str] = mapped_column(sa.String(64))
    quantity: Mapped[int] = mapped_column(default=1)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    provider_status: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    failure_code: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    amount: Mapped[int | None] = mapped_column(default=None)
    currency: Mapped[str | None] = mapped_column(sa.String(3), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    def views_owner(self) -> str:
        """Changing an order makes the player's order list stale (`kit.views`)."""
        return wallet_owner(self.user_id)


class Entitlement(Base):
    __tablename__ = "entitlements"
    __table_args__ = (
        sa.Index("ix_entitlements_user_id_sku_id_status", "user_id", "sku_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    entitlement_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    source: Mapped[str] = mapped_column(sa.String(16))
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("orders.id", ondelete="SET NULL"), default=None, index=True
    )
    grant_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Balance(Base):
    """The running balance of one consumable for one player: the row every ledger write
    locks first, so entries for one (player, SKU) are appended one at a time."""

    __tablename__ = "balances"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    sku_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    balance: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """Append-only. `balance_after` of the newest entry equals the sum of `change` for the
    same player and SKU."""

    __tablename__ = "ledger_entries"
    __table_args__ = (sa.Index("ix_ledger_entries_user_id_sku_id_id", "user_id", "sku_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[str] = mapped_column(sa.String(64))
    change: Mapped[int] = mapped_column(sa.BigInteger)
    balance_after: Mapped[int] = mapped_column(sa.BigInteger)
    change_type: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("orders.id", ondelete="SET NULL"), default=None, index=True
    )
    grant_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class CommerceCursor(Base):
    """Where each provider poll (Steam GetReport, Epic clawbacks) continues from."""

    __tablename__ = "commerce_cursors"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
