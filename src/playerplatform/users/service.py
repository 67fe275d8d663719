"""Rules of the users domain: accounts, profiles, the user object."""

from __future__ import annotations

import secrets
import uuid

from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound
from playerplatform.users import repository
from playerplatform.users.models import Profile, User
from playerplatform.users.schemas import IdentityOut, ProfileOut, PublicUserOut, UserOut


def new_canonical_id() -> str:
    """Opaque, URL-safe, not guessable, never an internal id."""
    return "p" + secrets.token_hex(12)


async def create_user(
    uow: UnitOfWork,
    *,
    display_name: str | None = None,
    roles: list[str] | None = None,
    email_verified: bool = False,
) -> User:
    """Create an account with its (possibly empty) profile. Flushes; the edge commits."""
    now = utcnow()
    user = User(
        id=uuid.uuid4(),
        canonical_id=new_canonical_id(),
        status="active",
        roles=roles or ["player"],
        email_verified=email_verified,
        created_at=now,
        updated_at=now,
    )
    profile = Profile(user_id=user.id, display_name=display_name, updated_at=now)
    await repository.insert_user(uow, user=user, profile=profile)
    return user


async def get_user(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    user = await repository.get_user(uow, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def get_by_canonical(uow: UnitOfWork, canonical_id: str) -> User:
    user = await repository.get_user_by_canonical(uow, canonical_id)
    if user is None or user.status == "merged":
        raise NotFound("No such user.")
    return user


def profile_out(profile: Profile | None) -> ProfileOut:
    if profile is None:
        return ProfileOut()
    return ProfileOut(
        display_name=profile.display_name,
        avatar_url=profile.avatar_url,
        locale=profile.locale,
        country=profile.country,
    )


async def user_view(uow: UnitOfWork, user_id: uuid.UUID) -> UserOut:
    """The full user object, as its owner (or staff) sees it."""
    from playerplatform.auth import repository as auth_repository

    pair = await repository.get_user_with_profile(uow, user_id)
    if pair is None:
        raise NotFound("No such user.")
    user, profile = pair
    identities = await auth_repository.list_identities(uow, user_id)
    return UserOut(
        canonical_id=user.canonical_id,
        status=user.status,
        roles=list(user.roles),
        profile=profile_out(profile),
        identities=[
            IdentityOut(provider=i.provider, provider_id=i.provider_id, linked_at=i.linked_at)
            for i in identities
        ],
        email_verified=user.email_verified,
        created_at=user.created_at,
    )


async def public_view(uow: UnitOfWork, canonical_id: str) -> PublicUserOut:
    user = await get_by_canonical(uow, canonical_id)
    profile = await repository.get_profile(uow, user.id)
    return PublicUserOut(
        canonical_id=user.canonical_id,
        roles=list(user.roles),
        profile=profile_out(profile),
        created_at=user.created_at,
    )
