"""Staff read queries that span domains' tables (search, the dev mailbox). Read only: every
change goes through the owning domain's service."""

from __future__ import annotations

import uuid
from collections import defaultdict

import sqlalchemy as sa

from playerplatform.admin.schemas import MailCursor, UserCursor
from playerplatform.auth.models import Identity
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail_models import DevMail
from playerplatform.users.models import Profile, User


def _matching(q: str, device: str) -> sa.ColumnElement[bool]:
    """Canonical id (exact or prefix), email (any case), any provider id (exact), a device id
    (by `device`, its stored hash), display name (substring, any case)."""
    folded = q.lower()
    by_identity = sa.select(Identity.user_id).where(
        sa.or_(
            Identity.provider_id == q,
            sa.and_(Identity.provider == "email", sa.func.lower(Identity.provider_id) == folded),
            sa.and_(Identity.provider == "device", Identity.provider_id == device),
        )
    )
    return sa.or_(
        User.canonical_id.startswith(q, autoescape=True),
        User.id.in_(by_identity),
        sa.func.lower(Profile.display_name).contains(folded, autoescape=True),
    )


async def search_users(
    uow: UnitOfWork,
    q: str | None,
    *,
    device: str = "",
    status: str | None = None,
    after: UserCursor | None,
    limit: int,
) -> list[tuple[User, Profile | None]]:
    """Newest accounts first, optionally matching `q` (`device`: `q` as a device's hash) and
    in `status`."""
    query = sa.select(User, Profile).outerjoin(Profile, Profile.user_id == User.id)
    if q:
        query = query.where(_matching(q, device))
    if status:
        query = query.where(User.status == status)
    if after is not None:
        query = query.where(
            sa.or_(
                User.created_at < after.t,
                sa.and_(User.created_at == after.t, User.canonical_id < after.c),
            )
        )
    query = query.order_by(User.created_at.desc(), User.canonical_id.desc()).limit(limit)
    return [(row[0], row[1]) for row in await uow.session.execute(query)]


async def identities_of(
    uow: UnitOfWork, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Identity]]:
    """Identities of many accounts in one query."""
    out: dict[uuid.UUID, list[Identity]] = defaultdict(list)
    if not user_ids:
        return out
    result = await uow.session.execute(
        sa.select(Identity).where(Identity.user_id.in_(user_ids)).order_by(Identity.linked_at)
    )
    for identity in result.scalars():
        out[identity.user_id].append(identity)
    return out


async def list_mail(
    uow: UnitOfWork, to: str | None, *, after: MailCursor | None, limit: int
) -> list[DevMail]:
    """The dev mailbox, newest first, optionally for one address (any case)."""
    query = sa.select(DevMail)
    if to:
        query = query.where(sa.func.lower(DevMail.to_address) == to.strip().lower())
    if after is not None:
        query = query.where(
            sa.or_(
                DevMail.created_at < after.t,
                sa.and_(DevMail.created_at == after.t, DevMail.id < after.i),
            )
        )
    query = query.order_by(DevMail.created_at.desc(), DevMail.id.desc()).limit(limit)
    return list((await uow.session.execute(query)).scalars())
