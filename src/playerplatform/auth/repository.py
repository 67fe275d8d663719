"""Every query of the auth domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.auth.models import (
    AccountLink,
    EmailToken,
    Identity,
    RefreshToken,
    SecondFactor,
    ServiceAccount,
    Session,
)
from playerplatform.kit.db import (
    UnitOfWork,
    insert_unless_taken,
    new_uuid,
    utcnow,
)


async def list_identities(uow: UnitOfWork, user_id: uuid.UUID) -> list[Identity]:
    result = await uow.session.execute(
        sa.select(Identity).where(Identity.user_id == user_id).order_by(Identity.linked_at)
    )
    return list(result.scalars())


def users_linked_to(providers: Sequence[str]) -> sa.Select[Any]:
    return sa.select(Identity.user_id).where(Identity.provider.in_(list(providers)))


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
    table: sa.Table = Identity.__table__  # type: ignore[assignment]
    result = await insert_unless_taken(uow, table, values, returning=table.c.id)
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


async def previous_holders(uow: UnitOfWork, provider: str, provider_id: str) -> list[uuid.UUID]:
    """The accounts an identity was unlinked (or dropped) from, oldest first."""
    result = await uow.session.execute(
        sa.select(AccountLink.user_id)
        .where(
            AccountLink.provider == provider,
            AccountLink.provider_id == provider_id,
            AccountLink.action.in_(("unlink", "drop")),
        )
        .group_by(AccountLink.user_id)
        .order_by(sa.func.min(AccountLink.created_at))
    )
    return list(result.scalars())


# Sessions and refresh tokens.

PRUNE_STATEMENT_ROWS = 500  # ids per DELETE: well inside SQLite's bound on parameters


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


async def delete_ended_sessions(uow: UnitOfWork, *, before: dt.datetime, limit: int) -> int:
    """Delete up to `limit` sessions that were revoked or expired before `before`, with their
    refresh tokens; how many sessions went."""
    ended = sa.select(Session.id).where(
        sa.or_(Session.revoked_at < before, Session.expires_at < before)
    )
    ids = list((await uow.session.execute(ended.limit(limit))).scalars())
    for start in range(0, len(ids), PRUNE_STATEMENT_ROWS):
        chunk = ids[start : start + PRUNE_STATEMENT_ROWS]
        await uow.session.execute(sa.delete(RefreshToken).where(RefreshToken.session_id.in_(chunk)))
        await uow.session.execute(sa.delete(Session).where(Session.id.in_(chunk)))
    return len(ids)


async def delete_expired_refresh_tokens(uow: UnitOfWork, *, before: dt.datetime, limit: int) -> int:
    """Delete up to `limit` refresh tokens (used or not) that expired before `before`."""
    expired = (
        sa.select(RefreshToken.token_hash).where(RefreshToken.expires_at < before).limit(limit)
    )
    result = await uow.session.execute(
        sa.delete(RefreshToken).where(RefreshToken.token_hash.in_(expired.scalar_subquery()))
    )
    return int(result.rowcount)


async def delete_expired_email_tokens(uow: UnitOfWork, *, before: dt.datetime, limit: int) -> int:
    """Delete up to `limit` mailed tokens (used or not) that expired before `before`."""
    expired = sa.select(EmailToken.token_hash).where(EmailToken.expires_at < before).limit(limit)
    result = await uow.session.execute(
        sa.delete(EmailToken).where(EmailToken.token_hash.in_(expired.scalar_subquery()))
    )
    return int(result.rowcount)


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


async def spend_email_tokens_of(uow: UnitOfWork, user_id: uuid.UUID, purpose: str) -> int:
    """Spend every unused `purpose` token of one account (a reset or a verification makes
    the others of its kind worthless). Returns how many there were."""
    result = await uow.session.execute(
        sa.update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return int(result.rowcount or 0)


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


# (the identity, its user, the user's profile, all the user's identities)
Account = tuple[Identity, Any, Any, list[Identity]]


_FIND_ACCOUNT: sa.Select[Any] | None = None


def _find_account() -> sa.Select[Any]:
    """`find_account`'s query, built once: building it (its comparisons, its coercions) cost
    as much as running it."""
    global _FIND_ACCOUNT
    if _FIND_ACCOUNT is None:
        from playerplatform.users.models import Profile, User

        owner = (
            sa.select(Identity.user_id)
            .where(
                Identity.provider == sa.bindparam("provider"),
                Identity.provider_id == sa.bindparam("provider_id"),
            )
            .scalar_subquery()
        )
        _FIND_ACCOUNT = (
            sa.select(User, Profile, Identity)
            .join(Profile, Profile.user_id == User.id)
            .join(Identity, Identity.user_id == User.id)
            .where(User.id == owner)
            .order_by(Identity.linked_at)
        )
    return _FIND_ACCOUNT


async def find_account(uow: UnitOfWork, provider: str, provider_id: str) -> Account | None:
    """(the identity, its user, the user's profile, all the user's identities) in one query."""
    rows = (
        await uow.session.execute(
            _find_account(), {"provider": provider, "provider_id": provider_id}
        )
    ).all()
    for row in rows:
        if row[2].provider == provider and row[2].provider_id == provider_id:
            return row[2], row[0], row[1], [r[2] for r in rows]
    return None


_ACCOUNT_VIEW: sa.Select[Any] | None = None


def _account_view() -> sa.Select[Any]:
    """The columns of the user object (users/me), its profile and identities, built once:
    rows of plain columns, not mapped objects (no identity map, no object to build)."""
    global _ACCOUNT_VIEW
    if _ACCOUNT_VIEW is None:
        from playerplatform.users.models import Profile, User

        _ACCOUNT_VIEW = (
            sa.select(
                User.canonical_id,
                User.status,
                User.roles,
                User.email_verified,
                User.created_at,
                Profile.display_name,
                Profile.avatar_url,
                Profile.locale,
                Profile.country,
                Identity.provider,
                Identity.provider_id,
                Identity.linked_at,
            )
            .join(Profile, Profile.user_id == User.id)
            .outerjoin(Identity, Identity.user_id == User.id)
            .where(User.id == sa.bindparam("user_id"))
            .order_by(Identity.linked_at)
        )
    return _ACCOUNT_VIEW


async def account_by_user_id(uow: UnitOfWork, user_id: uuid.UUID) -> list[sa.Row[Any]]:
    """The user object's columns in one query: one row per identity (oldest link first), or
    one row with null identity columns when there is none; no row when there is no account.
    Each row has the columns of the user (`canonical_id`, `status`, `roles`, `email_verified`,
    `created_at`), of its profile and of one identity (`provider`, `provider_id`,
    `linked_at`)."""
    return list((await uow.session.execute(_account_view(), {"user_id": user_id})).all())


# Second factors.


async def find_second_factor(uow: UnitOfWork, user_id: uuid.UUID) -> SecondFactor | None:
    result = await uow.session.execute(
        sa.select(SecondFactor).where(SecondFactor.user_id == user_id)
    )
    return result.scalar_one_or_none()


async def start_second_factor(uow: UnitOfWork, user_id: uuid.UUID, secret: str) -> None:
    """A new pending factor for the account, replacing a pending one."""
    await uow.session.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == user_id))
    uow.session.add(SecondFactor(user_id=user_id, secret=secret, last_step=0))
    await uow.session.flush()


async def confirm_second_factor(uow: UnitOfWork, user_id: uuid.UUID, step: int) -> None:
    await uow.session.execute(
        sa.update(SecondFactor)
        .where(SecondFactor.user_id == user_id)
        .values(confirmed_at=utcnow(), last_step=step)
    )


async def spend_second_factor_step(uow: UnitOfWork, user_id: uuid.UUID, step: int) -> bool:
    """Record `step` as used; False when it, or a later one, was used already (a replay,
    or two sign-ins racing with one code)."""
    result = await uow.session.execute(
        sa.update(SecondFactor)
        .where(SecondFactor.user_id == user_id, SecondFactor.last_step < step)
        .values(last_step=step)
    )
    return bool(result.rowcount)


async def delete_second_factor(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    await uow.session.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == user_id))
