"""Every query of the users domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from playerplatform.kit.db import UnitOfWork
from playerplatform.users.models import Friendship, Profile, Progression, User


async def insert_user(uow: UnitOfWork, *, user: User, profile: Profile) -> None:
    # No ORM relationships between tables: flush in foreign-key order explicitly.
    uow.session.add(user)
    await uow.session.flush()
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


async def lock_users(uow: UnitOfWork, user_ids: list[uuid.UUID]) -> list[User]:
    """Load and (on PostgreSQL) lock these users in id order, so two transactions touching
    the same pair queue instead of deadlocking. SQLite writers are serialised already."""
    query = sa.select(User).where(User.id.in_(user_ids)).order_by(User.id)
    if uow.dialect == "postgresql":
        query = query.with_for_update()
    return list((await uow.session.execute(query)).scalars())


async def update_profile(
    uow: UnitOfWork, profile: Profile, changes: dict[str, str | None], now: dt.datetime
) -> None:
    for name, value in changes.items():
        setattr(profile, name, value)
    profile.updated_at = now
    await uow.session.flush()


async def insert_profile(uow: UnitOfWork, profile: Profile) -> None:
    uow.session.add(profile)
    await uow.session.flush()


# Progression: optimistic concurrency on `version`, enforced by the database.


async def get_progression(uow: UnitOfWork, user_id: uuid.UUID) -> Progression | None:
    query = sa.select(Progression).where(Progression.user_id == user_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


def _insert(uow: UnitOfWork) -> Any:
    return pg_insert if uow.dialect == "postgresql" else sqlite_insert


async def insert_first_progression(
    uow: UnitOfWork, user_id: uuid.UUID, data: dict[str, Any], now: dt.datetime
) -> bool:
    """Create version 1; False when a row already exists (another writer won)."""
    statement = (
        _insert(uow)(Progression)
        .values(user_id=user_id, version=1, data=data, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Progression.user_id])
        .returning(Progression.version)
    )
    return (await uow.session.execute(statement)).first() is not None


async def update_progression_if_version(
    uow: UnitOfWork, user_id: uuid.UUID, expected: int, data: dict[str, Any], now: dt.datetime
) -> int | None:
    """Write `data` as version `expected + 1` only if the stored version is `expected`;
    the new version, or None when it was not."""
    statement = (
        sa.update(Progression)
        .where(Progression.user_id == user_id, Progression.version == expected)
        .values(version=expected + 1, data=data, updated_at=now)
        .returning(Progression.version)
        .execution_options(synchronize_session=False)
    )
    row = (await uow.session.execute(statement)).first()
    return int(row[0]) if row is not None else None


# Friends: one directed row per side (see models.Friendship).


async def get_friendship(
    uow: UnitOfWork, user_id: uuid.UUID, friend_id: uuid.UUID
) -> Friendship | None:
    return await uow.session.get(Friendship, (user_id, friend_id))


async def save_friendship(
    uow: UnitOfWork, user_id: uuid.UUID, friend_id: uuid.UUID, status: str, now: dt.datetime
) -> Friendship:
    row = await get_friendship(uow, user_id, friend_id)
    if row is None:
        row = Friendship(
            user_id=user_id, friend_id=friend_id, status=status, created_at=now, updated_at=now
        )
        uow.session.add(row)
    else:
        row.status, row.updated_at = status, now
    await uow.session.flush()
    return row


async def delete_friendship_pair(uow: UnitOfWork, a: uuid.UUID, b: uuid.UUID) -> int:
    """Delete both directions between `a` and `b`; how many rows went."""
    result = await uow.session.execute(
        sa.delete(Friendship)
        .where(
            sa.or_(
                sa.and_(Friendship.user_id == a, Friendship.friend_id == b),
                sa.and_(Friendship.user_id == b, Friendship.friend_id == a),
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_friend_rows(
    uow: UnitOfWork, user_id: uuid.UUID, *, limit: int
) -> list[tuple[str, Friendship, User, Profile]]:
    """(`friend`/`outgoing`/`incoming`, row, other user, other profile) for `user_id`, oldest
    first, skipping merged accounts."""
    other = aliased(User)
    mine = (
        sa.select(Friendship, other, Profile)
        .join(other, other.id == Friendship.friend_id)
        .join(Profile, Profile.user_id == other.id)
        .where(Friendship.user_id == user_id, other.status != "merged")
        .order_by(Friendship.updated_at, other.canonical_id)
        .limit(limit)
    )
    theirs = (
        sa.select(Friendship, other, Profile)
        .join(other, other.id == Friendship.user_id)
        .join(Profile, Profile.user_id == other.id)
        .where(
            Friendship.friend_id == user_id,
            Friendship.status == "pending",
            other.status != "merged",
        )
        .order_by(Friendship.created_at, other.canonical_id)
        .limit(limit)
    )
    out: list[tuple[str, Friendship, User, Profile]] = []
    for row in await uow.session.execute(mine):
        kind = "friend" if row[0].status == "accepted" else "outgoing"
        out.append((kind, row[0], row[1], row[2]))
    for row in await uow.session.execute(theirs):
        out.append(("incoming", row[0], row[1], row[2]))
    return out


async def delete_user(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Remove an account written moments ago in this unit (its profile goes with it)."""
    await uow.session.execute(sa.delete(Profile).where(Profile.user_id == user_id))
    await uow.session.execute(sa.delete(User).where(User.id == user_id))
