"""Every query of the auth domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from playerplatform.auth.models import (
    AccountLink,
    EmailToken,
    Identity,
    RefreshToken,
    ServiceAccount,
    Session,
)
from playerplatform.kit.db import UnitOfWork, insert_ignoring_conflicts, new_uuid, utcnow


async def list_identities(uow: UnitOfWork, user_id: uuid.UUID) -> list[Identity]:
    result = await uow.session.execute(
        sa.select(Identity).where(Identity.user_id == user_id).order_by(Identity.linked_at)
    )
    return list(result.scalars())


async def find_identity(uow: UnitOfWork, provider: str, provider_id: str) -> Identity | None:
    result = await uow.session.execute(
        sa.select(Identity).where(
            Identity.provider == provider, Identity.provider_id == provider_id
        )
    )
    return result.scalar_one_or_none()


async def claim_identity(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    provider: str,
    provider_id: str,
    secret_hash: str | None = None,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Identity | None:
    """Insert an identity unless (provider, provider_id) is taken; None when it was."""
    now = now or utcnow()
    identity_id = new_uuid()
    values = {
        "id": identity_id,
        "user_id": user_id,
        "provider": provider,
        "provider_id": provider_id,
        "secret_hash": secret_hash,
        "data": data or {},
        "linked_at": now,
        "last_login_at": now,
    }
    stmt = insert_ignoring_conflicts(uow, Identity.__table__).values(**values)
    result = await uow.session.execute(stmt.returning(Identity.__table__.c.id))
    if result.scalar_one_or_none() is None:
        return None
    identity = Identity(**values)
    return identity


async def touch_identity(uow: UnitOfWork, identity_id: uuid.UUID, data: dict[str, Any]) -> None:
    await uow.session.execute(
        sa.update(Identity)
        .where(Identity.id == identity_id)
        .values(last_login_at=utcnow(), data=data)
    )


async def delete_identity(uow: UnitOfWork, identity_id: uuid.UUID) -> None:
    await uow.session.execute(sa.delete(Identity).where(Identity.id == identity_id))


async def move_identities(uow: UnitOfWork, source: uuid.UUID, target: uuid.UUID) -> list[Identity]:
    moved = await list_identities(uow, source)
    await uow.session.execute(
        sa.update(Identity).where(Identity.user_id == source).values(user_id=target)
    )
    return moved


def add_link_record(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    provider: str,
    provider_id: str,
    action: str,
    other_user_id: uuid.UUID | None = None,
) -> None:
    uow.session.add(
        AccountLink(
            user_id=user_id,
            provider=provider,
            provider_id=provider_id,
            action=action,
            other_user_id=other_user_id,
        )
    )


# Sessions and refresh tokens.


async def add_session(uow: UnitOfWork, session: Session, refresh: RefreshToken) -> None:
    uow.session.add(session)
    await uow.session.flush()
    uow.session.add(refresh)


async def find_refresh_token(
    uow: UnitOfWork, token_hash: str
) -> tuple[RefreshToken, Session] | None:
    query = (
        sa.select(RefreshToken, Session)
        .join(Session, Session.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == token_hash)
    )
    row = (await uow.session.execute(query)).one_or_none()
    return (row[0], row[1]) if row else None


async def mark_refresh_used(uow: UnitOfWork, token_hash: str) -> bool:
    """Spend a refresh token; False when it was already spent (a concurrent or replayed use)."""
    result = await uow.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return bool(result.rowcount)


async def revoke_session(uow: UnitOfWork, session_id: uuid.UUID, reason: str) -> bool:
    result = await uow.session.execute(
        sa.update(Session)
        .where(Session.id == session_id, Session.status == "active")
        .values(status="revoked", revoked_at=utcnow(), revoke_reason=reason)
    )
    return bool(result.rowcount)


async def find_session(uow: UnitOfWork, public_id: str) -> Session | None:
    result = await uow.session.execute(sa.select(Session).where(Session.public_id == public_id))
    return result.scalar_one_or_none()


# One-time email tokens.


async def find_email_token(uow: UnitOfWork, token_hash: str, purpose: str) -> EmailToken | None:
    result = await uow.session.execute(
        sa.select(EmailToken).where(
            EmailToken.token_hash == token_hash, EmailToken.purpose == purpose
        )
    )
    return result.scalar_one_or_none()


async def spend_email_token(uow: UnitOfWork, token_hash: str) -> bool:
    result = await uow.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.token_hash == token_hash, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return bool(result.rowcount)


# Service accounts.


async def find_service_account(uow: UnitOfWork, client_id: str) -> ServiceAccount | None:
    result = await uow.session.execute(
        sa.select(ServiceAccount).where(ServiceAccount.client_id == client_id)
    )
    return result.scalar_one_or_none()


async def find_account(
    uow: UnitOfWork, provider: str, provider_id: str
) -> tuple[Identity, Any, Any, list[Identity]] | None:
    """(the identity, its user, the user's profile, all the user's identities) in one query."""
    from playerplatform.users.models import Profile, User

    owner = (
        sa.select(Identity.user_id)
        .where(Identity.provider == provider, Identity.provider_id == provider_id)
        .scalar_subquery()
    )
    rows = (
        await uow.session.execute(
            sa.select(User, Profile, Identity)
            .join(Profile, Profile.user_id == User.id)
            .join(Identity, Identity.user_id == User.id)
            .where(User.id == owner)
            .order_by(Identity.linked_at)
        )
    ).all()
    for row in rows:
        if row[2].provider == provider and row[2].provider_id == provider_id:
            return row[2], row[0], row[1], [r[2] for r in rows]
    return None


async def account_by_user_id(
    uow: UnitOfWork, user_id: uuid.UUID
) -> tuple[Any, Any, list[Identity]] | None:
    """(user, profile, identities) of one account in one query."""
    from playerplatform.users.models import Profile, User

    rows = (
        await uow.session.execute(
            sa.select(User, Profile, Identity)
            .join(Profile, Profile.user_id == User.id)
            .outerjoin(Identity, Identity.user_id == User.id)
            .where(User.id == user_id)
            .order_by(Identity.linked_at)
        )
    ).all()
    if not rows:
        return None
    return rows[0][0], rows[0][1], [r[2] for r in rows if r[2] is not None]
