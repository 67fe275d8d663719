"""Every query of the drops domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.drops.models import (
    GRANTED,
    PENDING_LINK,
    Campaign,
    Drop,
    TwitchSubscription,
    drops_owner,
)
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, insert_unless_taken


def _locked(uow: UnitOfWork, query: Any) -> Any:
    if uow.dialect == "postgresql":
        query = query.with_for_update()
    return query.execution_options(populate_existing=True)


# -- Campaigns. -------------------------------------------------------------------------------


async def insert_campaign(uow: UnitOfWork, campaign: Campaign) -> None:
    uow.session.add(campaign)
    await uow.session.flush()


async def get_campaign(
    uow: UnitOfWork, campaign_id: str, *, for_update: bool = False
) -> Campaign | None:
    query = sa.select(Campaign).where(Campaign.campaign_id == campaign_id)
    if for_update:
        query = _locked(uow, query)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def list_campaigns(
    uow: UnitOfWork, *, status: str | None, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Campaign]:
    query = sa.select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status)
    if after is not None:
        query = query.where(sa.tuple_(Campaign.created_at, Campaign.campaign_id) < after)
    query = query.order_by(Campaign.created_at.desc(), Campaign.campaign_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def active_campaigns(uow: UnitOfWork) -> list[Campaign]:
    query = sa.select(Campaign).where(Campaign.status == "active").order_by(Campaign.created_at)
    return list((await uow.session.execute(query)).scalars())


async def campaign_counts(uow: UnitOfWork, campaign_id: str) -> dict[str, int]:
    query = (
        sa.select(Drop.status, sa.func.count())
        .where(Drop.campaign_id == campaign_id)
        .group_by(Drop.status)
    )
    return {status: int(n) for status, n in (await uow.session.execute(query)).all()}


# -- Drops. -----------------------------------------------------------------------------------


async def claim_drop(uow: UnitOfWork, row: dict[str, Any]) -> bool:
    """Insert the drop of an entitlement unless one exists: the one place that decides which
    of EventSub, sync and reconciliation handles it. On PostgreSQL a concurrent insert of the
    same entitlement waits for the first transaction and then inserts nothing."""
    table: sa.Table = Drop.__table__  # type: ignore[assignment]
    result = await insert_unless_taken(uow, table, row, returning=table.c.id)
    return result.scalar_one_or_none() is not None


async def get_drop(
    uow: UnitOfWork, entitlement_id: str, *, for_update: bool = False
) -> Drop | None:
    query = sa.select(Drop).where(Drop.entitlement_id == entitlement_id)
    if for_update:
        query = _locked(uow, query)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def known_entitlements(uow: UnitOfWork, entitlement_ids: Sequence[str]) -> set[str]:
    if not entitlement_ids:
        return set()
    query = sa.select(Drop.entitlement_id).where(Drop.entitlement_id.in_(list(entitlement_ids)))
    return set((await uow.session.execute(query)).scalars())


async def drops_of_user(
    uow: UnitOfWork, user_id: uuid.UUID, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Drop]:
    query = sa.select(Drop).where(Drop.user_id == user_id)
    if after is not None:
        query = query.where(sa.tuple_(Drop.created_at, Drop.drop_id) < after)
    query = query.order_by(Drop.created_at.desc(), Drop.drop_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


async def drops_by_entitlements(uow: UnitOfWork, entitlement_ids: Sequence[str]) -> list[Drop]:
    if not entitlement_ids:
        return []
    query = sa.select(Drop).where(Drop.entitlement_id.in_(list(entitlement_ids)))
    return list((await uow.session.execute(query.order_by(Drop.created_at))).scalars())


async def pending_for_twitch_user(uow: UnitOfWork, twitch_user_id: str) -> list[str]:
    query = sa.select(Drop.entitlement_id).where(
        Drop.twitch_user_id == twitch_user_id, Drop.status == PENDING_LINK
    )
    return list((await uow.session.execute(query)).scalars())


async def pending_twitch_users(uow: UnitOfWork, *, limit: int) -> list[str]:
    query = (
        sa.select(Drop.twitch_user_id)
        .where(Drop.status == PENDING_LINK)
        .group_by(Drop.twitch_user_id)
        .limit(limit)
    )
    return list((await uow.session.execute(query)).scalars())


async def unfulfilled(uow: UnitOfWork, entitlement_ids: Sequence[str]) -> list[str]:
    """Of `entitlement_ids`, those granted here and not yet FULFILLED at Twitch."""
    if not entitlement_ids:
        return []
    query = sa.select(Drop.entitlement_id).where(
        Drop.entitlement_id.in_(list(entitlement_ids)), Drop.status == GRANTED
    )
    return list((await uow.session.execute(query)).scalars())


async def set_status(
    uow: UnitOfWork,
    entitlement_ids: Sequence[str],
    *,
    status: str,
    expect: str,
    values: dict[str, Any] | None = None,
) -> int:
    if not entitlement_ids:
        return 0
    result = await uow.session.execute(
        sa.update(Drop)
        .where(Drop.entitlement_id.in_(list(entitlement_ids)), Drop.status == expect)
        .values(status=status, **(values or {}))
        .returning(Drop.user_id)
    )
    # Changed in bulk, beside the session: the players' cached drop lists are stale.
    owners = [row.user_id for row in result]
    views.changed(uow, *{drops_owner(user_id) for user_id in owners if user_id is not None})
    return len(owners)


async def count_fulfil_attempt(
    uow: UnitOfWork, entitlement_ids: Sequence[str], error: str | None
) -> None:
    if entitlement_ids:
        await uow.session.execute(
            sa.update(Drop)
            .where(Drop.entitlement_id.in_(list(entitlement_ids)))
            .values(fulfil_attempts=Drop.fulfil_attempts + 1, last_error=error)
        )


async def move_drops(uow: UnitOfWork, source: uuid.UUID, target: uuid.UUID) -> int:
    views.changed(uow, drops_owner(source), drops_owner(target))
    result = await uow.session.execute(
        sa.update(Drop).where(Drop.user_id == source).values(user_id=target)
    )
    return int(result.rowcount or 0)


async def list_unmapped(
    uow: UnitOfWork, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Drop]:
    query = sa.select(Drop).where(Drop.status == "unmapped")
    if after is not None:
        query = query.where(sa.tuple_(Drop.created_at, Drop.drop_id) < after)
    query = query.order_by(Drop.created_at.desc(), Drop.drop_id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())


# -- EventSub subscriptions. ------------------------------------------------------------------


async def upsert_subscription(uow: UnitOfWork, row: dict[str, Any]) -> None:
    found = (
        await uow.session.execute(
            _locked(
                uow,
                sa.select(TwitchSubscription).where(
                    TwitchSubscription.subscription_id == row["subscription_id"]
                ),
            )
        )
    ).scalar_one_or_none()
    if found is None:
        await insert_unless_taken(uow, TwitchSubscription.__table__, row)
        return
    for name, value in row.items():
        if name != "created_at" and value is not None:
            setattr(found, name, value)
    await uow.session.flush()


async def list_subscriptions(uow: UnitOfWork) -> list[TwitchSubscription]:
    query = sa.select(TwitchSubscription).order_by(TwitchSubscription.created_at)
    return list((await uow.session.execute(query)).scalars())
