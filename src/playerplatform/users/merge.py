"""What the users domain moves when two accounts merge (a merge hook, run by `auth.links.merge`).

Rules, documented for studios:
- Progression: the account with the higher version number keeps its data; on a tie the
  target's (the caller's) wins. The losing document is kept in the audit row.
- Friends: the union, minus the two merged accounts themselves; an accepted friendship wins
  over a pending request.
- Profile: the target keeps its fields; empty ones are filled from the source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.users.models import Friendship, Profile, Progression, User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

PROFILE_FIELDS = ("display_name", "avatar_url", "locale", "country")


async def merge_users_domain(
    uow: UnitOfWork, _runtime: Runtime, source: User, target: User
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    summary.update(await _merge_progression(uow, source, target))
    summary["friends_moved"] = await _merge_friends(uow, source, target)
    summary["profile_filled"] = await _fill_profile(uow, source, target)
    return summary


async def _merge_progression(uow: UnitOfWork, source: User, target: User) -> dict[str, Any]:
    theirs = await uow.session.get(Progression, source.id)
    if theirs is None or theirs.version == 0:
        return {"progression": "kept"}
    mine = await uow.session.get(Progression, target.id)
    if mine is not None and mine.version >= theirs.version:
        return {"progression": "kept", "discarded_progression": theirs.data}
    discarded = mine.data if mine is not None else None
    if mine is None:
        uow.session.add(
            Progression(
                user_id=target.id, version=theirs.version + 1, data=theirs.data, updated_at=utcnow()
            )
        )
    else:
        # A version jump past both keeps If-Match clients of either account from writing stale data.
        mine.version = theirs.version + 1
        mine.data = theirs.data
        mine.updated_at = utcnow()
    return {"progression": "taken_from_source", "discarded_progression": discarded}


async def _merge_friends(uow: UnitOfWork, source: User, target: User) -> int:
    pair = (source.id, target.id)
    rows = (
        (
            await uow.session.execute(
                sa.select(Friendship).where(
                    sa.or_(Friendship.user_id == source.id, Friendship.friend_id == source.id)
                )
            )
        )
        .scalars()
        .all()
    )
    existing = {
        (r.user_id, r.friend_id): r
        for r in (
            await uow.session.execute(
                sa.select(Friendship).where(
                    sa.or_(Friendship.user_id == target.id, Friendship.friend_id == target.id)
                )
            )
        ).scalars()
    }
    moved = 0
    for row in rows:
        user_id = target.id if row.user_id == source.id else row.user_id
        friend_id = target.id if row.friend_id == source.id else row.friend_id
        status, created_at = row.status, row.created_at
        await uow.session.delete(row)
        if user_id == friend_id or (row.user_id in pair and row.friend_id in pair):
            continue
        current = existing.get((user_id, friend_id))
        if current is not None:
            if current.status != "accepted" and status == "accepted":
                current.status = "accepted"
            continue
        new = Friendship(user_id=user_id, friend_id=friend_id, status=status, created_at=created_at)
        existing[(user_id, friend_id)] = new
        uow.session.add(new)
        moved += 1
    await uow.session.flush()
    return moved


async def _fill_profile(uow: UnitOfWork, source: User, target: User) -> list[str]:
    theirs = await uow.session.get(Profile, source.id)
    mine = await uow.session.get(Profile, target.id)
    if theirs is None or mine is None:
        return []
    filled = []
    for name in PROFILE_FIELDS:
        if getattr(mine, name) is None and getattr(theirs, name) is not None:
            setattr(mine, name, getattr(theirs, name))
            filled.append(name)
    return filled
