"""Every query of the users domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from playerplatform.kit.db import UnitOfWork, insert_unless_taken, upsert_row
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


async def other_staff_exists(uow: UnitOfWork, canonical_id: str) -> bool:
    # The role list is JSON in both stores; its text names each role in quotes.
    roles = sa.cast(User.roles, sa.String)
    query = (
        sa.select(User.id)
        .where(
            User.canonical_id != canonical_id,
            User.status == "active",
            sa.or_(roles.like('%"moderator"%'), roles.like('%"admin"%')),
        )
        .limit(1)
    )
    return (await uow.session.execute(query)).first() is not None


async def get_profile(uow: UnitOfWork, user_id: uuid.UUID) -> Profile | None:
    return await uow.session.get(Profile, user_id)


async def canonical_ids(uow: UnitOfWork, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await uow.session.execute(
        sa.select(User.id, User.canonical_id).where(User.id.in_(user_ids))
    )
    return {r[0]: r[1] for r in rows}


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


PROFILE_FIELDS = ("display_name", "avatar_url", "locale", "country")


async def upsert_profile(
    uow: UnitOfWork, user_id: uuid.UUID, changes: dict[str, str | None], now: dt.datetime
) -> None:
    """Set the `changes` of a player's profile in one statement, creating the profile (other
    fields empty) when the account has none."""
    changed = tuple(c for c in PROFILE_FIELDS if c in changes)
    values = {c: changes.get(c) for c in PROFILE_FIELDS}
    table: sa.Table = Profile.__table__  # type: ignore[assignment]
    row = {"user_id": user_id, **values, "updated_at": now}
    await upsert_row(uow, table, row, conflict=("user_id",), update=(*changed, "updated_at"))


async def insert_profile(uow: UnitOfWork, profile: Profile) -> None:
    uow.session.add(profile)
    await uow.session.flush()


# Progression: optimistic concurrency on `version`, enforced by the database.


async def get_progression(uow: UnitOfWork, user_id: uuid.UUID) -> Progression | None:
    query = sa.select(Progression).where(Progression.user_id == user_id)
    return (await uow.session.execute(query)).scalar_one_or_none()


async def insert_first_progression(
    uow: UnitOfWork, user_id: uuid.UUID, data: dict[str, Any], now: dt.datetime
) -> bool:
    """Create version 1; False when a row already exists (another writer won)."""
    table: sa.Table = Progression.__table__  # type: ignore[assignment]
    row = {"user_id": user_id, "version": 1, "data": data, "updated_at": now}
    return (
        await insert_unless_taken(uow, table, row, returning=table.c.version)
    ).first() is not None


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


# A friend request's two players: who they are, whether others may see them, and the
# public profile, each row locked in id order (as `lock_users`) so two requests between the
# same players queue instead of deadlocking. Columns only, no mapped objects.
_PAIR = (
    sa.select(
        User.id,
        User.canonical_id,
        User.status,
        User.banned_until,
        User.created_at,
        Profile.display_name,
        Profile.avatar_url,
        Profile.locale,
        Profile.country,
    )
    .outerjoin(Profile, Profile.user_id == User.id)
    .where(sa.or_(User.id == sa.bindparam("me"), User.canonical_id == sa.bindparam("other")))
    .order_by(User.id)
)
_PAIR_LOCKED = _PAIR.with_for_update(of=User)


async def lock_pair(uow: UnitOfWork, me: uuid.UUID, other: str) -> list[sa.Row[Any]]:
    """The rows of the account `me` and of the account with canonical id `other` (one row
    when they are the same, or when `other` is unknown), locked on PostgreSQL."""
    query = _PAIR_LOCKED if uow.dialect == "postgresql" else _PAIR
    return list((await uow.session.execute(query, {"me": me, "other": other})).all())


_BOTH_WAYS = sa.select(
    Friendship.user_id, Friendship.status, Friendship.created_at, Friendship.updated_at
).where(
    sa.or_(
        sa.and_(Friendship.user_id == sa.bindparam("a"), Friendship.friend_id == sa.bindparam("b")),
        sa.and_(Friendship.user_id == sa.bindparam("b"), Friendship.friend_id == sa.bindparam("a")),
    )
)


async def friendships_between(
    uow: UnitOfWork, a: uuid.UUID, b: uuid.UUID
) -> dict[uuid.UUID, sa.Row[Any]]:
    """The rows between `a` and `b` in one query, by the id of the player each points from
    (columns `status`, `created_at`, `updated_at`)."""
    rows = await uow.session.execute(_BOTH_WAYS, {"a": a, "b": b})
    return {row.user_id: row for row in rows}


_ACCEPT: dict[str, sa.TextClause] = {}


async def accept_friendship(uow: UnitOfWork, a: uuid.UUID, b: uuid.UUID, now: dt.datetime) -> None:
    """Both rows between `a` and `b` made `accepted` (created where missing), in one
    statement built once as text (SQLAlchemy does not cache ON CONFLICT statements)."""
    statement = _ACCEPT.get(uow.dialect)
    if statement is None:
        table: sa.Table = Friendship.__table__  # type: ignore[assignment]
        statement = sa.text(
            f"INSERT INTO {table.name} (user_id, friend_id, status, created_at, updated_at)"  # noqa: S608
            " VALUES (:a, :b, 'accepted', :now, :now), (:b, :a, 'accepted', :now, :now)"
            " ON CONFLICT (user_id, friend_id) DO UPDATE"
            " SET status = excluded.status, updated_at = excluded.updated_at"
        ).bindparams(
            sa.bindparam("a", type_=table.c.user_id.type),
            sa.bindparam("b", type_=table.c.user_id.type),
            sa.bindparam("now", type_=table.c.updated_at.type),
        )
        _ACCEPT[uow.dialect] = statement
    await uow.session.execute(statement, {"a": a, "b": b, "now": now})


_REQUEST = sa.insert(Friendship).values(
    user_id=sa.bindparam("a"),
    friend_id=sa.bindparam("b"),
    status="pending",
    created_at=sa.bindparam("now"),
    updated_at=sa.bindparam("now"),
)


async def insert_friend_request(
    uow: UnitOfWork, a: uuid.UUID, b: uuid.UUID, now: dt.datetime
) -> None:
    """A `pending` row from `a` to `b` (none exists: the caller holds both players' locks)."""
    await uow.session.execute(_REQUEST, {"a": a, "b": b, "now": now})


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
