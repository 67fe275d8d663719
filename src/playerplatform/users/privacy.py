"""The users domain's part of a player's data export and erasure: the account, its profile,
progression and friends. Erasure keeps the account row, which the rows the studio must keep
(orders, ledger, audit) point to, under the pseudonym: its canonical id becomes the
pseudonym, its status `erased`, and nothing personal stays on it."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.auth.state import forget_user_view
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.users.models import Friendship, Profile, Progression, User
from playerplatform.users.service import friends_owner, progression_owner

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("users", "profiles", "progressions", "friendships")
ERASED = "erased"


async def export_users(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID) -> dict[str, Any]:
    user = await uow.session.get(User, user_id)
    assert user is not None
    profile = await uow.session.get(Profile, user_id)
    progression = await uow.session.get(Progression, user_id)
    friends = await uow.session.execute(
        sa.select(User.canonical_id, Friendship.status, Friendship.created_at)
        .join(User, User.id == Friendship.friend_id)
        .where(Friendship.user_id == user_id)
        .order_by(Friendship.created_at)
    )
    requests = await uow.session.execute(
        sa.select(User.canonical_id, Friendship.created_at)
        .join(User, User.id == Friendship.user_id)
        .where(Friendship.friend_id == user_id, Friendship.status == "pending")
    )
    return {
        "account": {
            "canonical_id": user.canonical_id,
            "status": user.status,
            "roles": user.roles,
            "email_verified": user.email_verified,
            "created_at": user.created_at,
            "banned_until": user.banned_until,
            "ban_reason": user.ban_reason,
        },
        "profile": {
            "display_name": profile.display_name if profile else None,
            "avatar_url": profile.avatar_url if profile else None,
            "locale": profile.locale if profile else None,
            "country": profile.country if profile else None,
        },
        "progression": {
            "version": progression.version if progression else 0,
            "data": progression.data if progression else {},
            "updated_at": progression.updated_at if progression else None,
        },
        "friends": [{"canonical_id": r[0], "status": r[1], "since": r[2]} for r in friends],
        "friend_requests_received": [{"canonical_id": r[0], "at": r[1]} for r in requests],
    }


async def erase_users(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """Profile emptied, progression and friendships deleted, the account renamed to the
    pseudonym and marked erased."""
    friend_ids = (
        await uow.session.execute(
            sa.select(Friendship.friend_id).where(Friendship.user_id == subject.user_id)
        )
    ).scalars()
    for friend_id in set(friend_ids):
        views.changed(uow, friends_owner(friend_id))
    await uow.session.execute(
        sa.delete(Friendship).where(
            sa.or_(Friendship.user_id == subject.user_id, Friendship.friend_id == subject.user_id)
        )
    )
    await uow.session.execute(sa.delete(Progression).where(Progression.user_id == subject.user_id))
    views.changed(uow, progression_owner(subject.user_id))
    await uow.session.execute(
        sa.update(Profile)
        .where(Profile.user_id == subject.user_id)
        .values(display_name=None, avatar_url=None, locale=None, country=None, updated_at=utcnow())
    )
    await uow.session.execute(
        sa.update(User)
        .where(User.id == subject.user_id)
        .values(
            canonical_id=subject.pseudonym,
            status=ERASED,
            roles=["player"],
            email_verified=False,
            ban_reason=None,
            updated_at=utcnow(),
        )
    )
    forget_user_view(uow, runtime.hot, subject.canonical_id)
    forget_user_view(uow, runtime.hot, subject.pseudonym)


async def display_name(uow: UnitOfWork, user_id: uuid.UUID) -> str | None:
    profile = await uow.session.get(Profile, user_id)
    return profile.display_name if profile else None
