"""Every query of the privacy domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork
from playerplatform.privacy.models import PrivacyRequest


async def add(uow: UnitOfWork, row: PrivacyRequest) -> None:
    uow.session.add(row)
    await uow.session.flush()


async def get(
    uow: UnitOfWork, public_id: str, *, for_update: bool = False
) -> PrivacyRequest | None:
    query = sa.select(PrivacyRequest).where(PrivacyRequest.public_id == public_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def open_erasure(uow: UnitOfWork, user_id: uuid.UUID) -> PrivacyRequest | None:
    found = await uow.session.execute(
        sa.select(PrivacyRequest).where(
            PrivacyRequest.user_id == user_id,
            PrivacyRequest.kind == "erasure",
            PrivacyRequest.status == "scheduled",
        )
    )
    return found.scalars().first()


async def of_user(uow: UnitOfWork, user_id: uuid.UUID) -> Sequence[PrivacyRequest]:
    found = await uow.session.execute(
        sa.select(PrivacyRequest)
        .where(PrivacyRequest.user_id == user_id)
        .order_by(PrivacyRequest.created_at.desc())
    )
    return found.scalars().all()


async def recent(
    uow: UnitOfWork, *, kind: str | None, status: str | None, limit: int
) -> Sequence[PrivacyRequest]:
    query = sa.select(PrivacyRequest).order_by(PrivacyRequest.created_at.desc()).limit(limit)
    if kind is not None:
        query = query.where(PrivacyRequest.kind == kind)
    if status is not None:
        query = query.where(PrivacyRequest.status == status)
    return (await uow.session.execute(query)).scalars().all()
