"""Every query of the users domain."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork
from playerplatform.users.models import Profile, User


async def insert_user(uow: UnitOfWork, *, user: User, profile: Profile) -> None:
    uow.session.add(user)
    uow.session.add(profile)
    await uow.session.flush()


async def get_user(uow: UnitOfWork, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
    query = sa.select(User).where(User.id == user_id)
    if for_update and uow.dialect == "postgresql":
        query = query.with_for_update()
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_user_by_canonical(uow: UnitOfWork, canonical_id: str) -> User | None:
    query = sa.select(User).where(User.canonical_id == canonical_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def get_profile(uow: UnitOfWork, user_id: uuid.UUID) -> Profile | None:
    return await uow.session.get(Profile, user_id)


async def get_user_with_profile(uow: UnitOfWork, user_id: uuid.UUID) -> tuple[User, Profile] | None:
    row = (
        await uow.session.execute(
            sa.select(User, Profile)
            .join(Profile, Profile.user_id == User.id)
            .where(User.id == user_id)
        )
    ).one_or_none()
    return (row[0], row[1]) if row else None


async def get_users_by_canonical_ids(
    uow: UnitOfWork, canonical_ids: list[str]
) -> list[tuple[User, Profile]]:
    if not canonical_ids:
        return []
    rows = await uow.session.execute(
        sa.select(User, Profile)
        .join(Profile, Profile.user_id == User.id)
        .where(User.canonical_id.in_(canonical_ids))
    )
    return [(r[0], r[1]) for r in rows]
