"""Rules of the users domain: accounts, profiles, the user object."""

from __future__ import annotations

import datetime as dt
import math
import secrets
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import orjson

from playerplatform.auth.state import VIEW_TTL, UserState, forget_user_view, view_key
from playerplatform.kit.db import Database, UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import (
    AppError,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ValidationFailed,
)
from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.textfilter import TextFilter, ensure_acceptable
from playerplatform.users import repository
from playerplatform.users.models import Profile, User
from playerplatform.users.schemas import (
    FriendOut,
    FriendshipOut,
    FriendsOut,
    IdentityOut,
    ProfileOut,
    ProfilePatch,
    ProgressionOut,
    PublicUserOut,
    UserOut,
)

if TYPE_CHECKING:
    from playerplatform.auth.models import Identity


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
    user, profile = new_account(
        display_name=display_name, roles=roles, email_verified=email_verified
    )
    await repository.insert_user(uow, user=user, profile=profile)
    return user


def new_account(
    *,
    display_name: str | None = None,
    roles: list[str] | None = None,
    email_verified: bool = False,
) -> tuple[User, Profile]:
    """A new account and its profile, not yet written: `create_user` writes them through the
    session."""
    user, profile = new_account_rows(
        display_name=display_name, roles=roles, email_verified=email_verified
    )
    return User(**user), Profile(**profile)


def new_account_rows(
    *,
    display_name: str | None = None,
    roles: list[str] | None = None,
    email_verified: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every column of a new account's row and of its profile's: the one definition of a new
    account, for `new_account` and for the sign-in hot path, which writes rows as they are."""
    now = utcnow()
    user_id = new_uuid()
    user = {
        "id": user_id,
        "canonical_id": new_canonical_id(),
        "status": "active",
        "roles": roles or ["player"],
        "email_verified": email_verified,
        "banned_until": None,
        "ban_reason": None,
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
    }
    profile = {
        "user_id": user_id,
        "display_name": display_name,
        "avatar_url": None,
        "locale": None,
        "country": None,
        "updated_at": now,
    }
    return user, profile


async def get_user(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    user = await repository.get_user(uow, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def lookup_user(uow: UnitOfWork, user_id: uuid.UUID) -> User | None:
    """The account with this internal id, whatever its status; None when there is none."""
    return await repository.get_user(uow, user_id)


async def lookup_by_canonical(uow: UnitOfWork, canonical_id: str) -> User | None:
    """The account with this canonical id, whatever its status; None when there is none."""
    return await repository.get_user_by_canonical(uow, canonical_id)


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

    account = await auth_repository.account_by_user_id(uow, user_id)
    if account is None:
        raise NotFound("No such user.")
    user, profile, identities = account
    return user_out(user, profile, identities)


async def cached_user_view(hot: HotStore, db: Database, user_id: uuid.UUID) -> bytes:
    """The user object as JSON, read from the database and kept in the hot store (under the
    key `authenticate` reads with the session state) until the user next changes."""
    async with db.unit_of_work(write=False) as uow:
        view = await user_view(uow, user_id)
    body = orjson.dumps(view.model_dump(mode="json"))
    await hot.set_if_absent(view_key(view.canonical_id), body.decode(), ttl=VIEW_TTL)
    return body


def user_out(user: User, profile: Profile | None, identities: Iterable[Identity]) -> UserOut:
    """The user object from rows already loaded (lists build many at once)."""
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


class PreconditionRequired(AppError):
    status, code, title = 428, "precondition_required", "Precondition required"


class CannotBefriendSelf(ValidationFailed):
    code, title = "cannot_befriend_self", "Cannot befriend yourself"


FRIEND_LIST_CAP = 1000
PROGRESSION_MAX_DEPTH = 64


def is_banned(user: User, now: dt.datetime | None = None) -> bool:
    """A ban is in force while status is `banned` and `banned_until` (if set) is ahead; a timed
    ban that has run out no longer counts (same rule as the auth state)."""
    return UserState.of(user).is_banned(now)


async def find_by_canonical(uow: UnitOfWork, canonical_id: str) -> User:
    """Any account by canonical id, merged ones included (staff tools); 404 when unknown."""
    user = await repository.get_user_by_canonical(uow, canonical_id)
    if user is None:
        raise NotFound("No such user.")
    return user


async def get_visible(uow: UnitOfWork, canonical_id: str) -> User:
    """An account other players may see: unknown, merged and banned accounts are all 404, so a
    ban is not disclosed to other players and the three cases cannot be told apart."""
    user = await get_by_canonical(uow, canonical_id)
    if is_banned(user):
        raise NotFound("No such user.")
    return user


async def display_cards(
    uow: UnitOfWork, canonical_ids: list[str]
) -> dict[str, tuple[str | None, bool]]:
    """Display name and whether other players may see the account (not banned, not merged),
    for many accounts in one query; unknown ids are left out."""
    now = utcnow()
    return {
        user.canonical_id: (
            profile.display_name if profile else None,
            user.status != "merged" and not is_banned(user, now),
        )
        for user, profile in await repository.get_users_by_canonical_ids(uow, canonical_ids)
    }


def public_out(user: User, profile: Profile | None) -> PublicUserOut:
    return PublicUserOut(
        canonical_id=user.canonical_id,
        roles=list(user.roles),
        profile=profile_out(profile),
        created_at=user.created_at,
    )


async def public_profile(uow: UnitOfWork, canonical_id: str) -> PublicUserOut:
    """`GET /users/{canonical_id}`: the public shape of a visible account."""
    user = await get_visible(uow, canonical_id)
    return public_out(user, await repository.get_profile(uow, user.id))


async def update_profile(
    uow: UnitOfWork, hot: HotStore, user_id: uuid.UUID, patch: ProfilePatch, checker: TextFilter
) -> UserOut:
    """Apply the sent profile fields (null clears one); display names pass the text filter
    before anything is written."""
    changes = patch.changes()
    name = changes.get("display_name")
    if name is not None:
        await ensure_acceptable(checker, name, field="display_name")
    if changes:
        now = utcnow()
        profile = await repository.get_profile(uow, user_id)
        if profile is None:
            profile = Profile(user_id=user_id, updated_at=now)
            await repository.insert_profile(uow, profile)
        await repository.update_profile(uow, profile, changes, now)
    view = await user_view(uow, user_id)
    if changes:
        forget_user_view(uow, hot, view.canonical_id)
    return view


async def get_progression(uow: UnitOfWork, user_id: uuid.UUID) -> ProgressionOut:
    """The player's saved progression; a player who never saved has version 0 and `{}`."""
    row = await repository.get_progression(uow, user_id)
    if row is None:
        return ProgressionOut(version=0, data={}, updated_at=None)
    return ProgressionOut(version=row.version, data=row.data, updated_at=row.updated_at)


def parse_if_match(header: str | None) -> int:
    """The version an `If-Match` header names (`3` or `"3"`); 428 when absent, 412 when it
    names no version we could hold."""
    if header is None or not header.strip():
        raise PreconditionRequired("Send If-Match with the version you last read.")
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value.isdigit() or len(value) > 18:
        raise PreconditionFailed("If-Match does not name the current version.")
    return int(value)


def _encoded_size(data: dict[str, Any]) -> int:
    """Bytes of `data` as compact JSON; 422 for what cannot be stored and served back as the
    same JSON (NaN, integers beyond 64 bits, lone surrogates, absurd nesting)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, level = stack.pop()
        if level > PROGRESSION_MAX_DEPTH:
            raise ValidationFailed(
                f"Nesting deeper than {PROGRESSION_MAX_DEPTH} levels.", field="data"
            )
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValidationFailed("NaN and Infinity are not JSON.", field="data")
    try:
        return len(orjson.dumps(data))
    except orjson.JSONEncodeError as exc:
        raise ValidationFailed(f"Data cannot be stored as JSON: {exc}.", field="data")


async def save_progression(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    *,
    if_match: str | None,
    data: dict[str, Any],
    max_bytes: int,
) -> ProgressionOut:
    """Replace the progression if the caller read the current version. Exactly one of any
    number of concurrent writers holding the same version wins; the others get 412."""
    expected = parse_if_match(if_match)
    if _encoded_size(data) > max_bytes:
        raise PayloadTooLarge(f"Progression data is limited to {max_bytes} bytes.")
    now = utcnow()
    new_version: int | None = None
    if expected == 0 and await repository.insert_first_progression(uow, user_id, data, now):
        new_version = 1
    if new_version is None:
        new_version = await repository.update_progression_if_version(
            uow, user_id, expected, data, now
        )
    if new_version is None:
        raise PreconditionFailed("The progression changed since you read it; read it again.")
    return ProgressionOut(version=new_version, data=data, updated_at=now)


async def list_friends(uow: UnitOfWork, user_id: uuid.UUID) -> FriendsOut:
    """Friends, requests to the caller, and the caller's requests; banned and merged accounts
    are left out, as they are from public profiles."""
    lists: dict[str, list[FriendOut]] = {"friend": [], "incoming": [], "outgoing": []}
    now = utcnow()
    for kind, row, other, profile in await repository.list_friend_rows(
        uow, user_id, limit=FRIEND_LIST_CAP
    ):
        if is_banned(other, now):
            continue
        since = row.updated_at if kind == "friend" else row.created_at
        lists[kind].append(FriendOut(**public_out(other, profile).model_dump(), since=since))
    return FriendsOut(
        friends=lists["friend"], incoming=lists["incoming"], outgoing=lists["outgoing"]
    )


async def befriend(uow: UnitOfWork, user_id: uuid.UUID, canonical_id: str) -> FriendshipOut:
    """Send a friend request, or accept the one the other player already sent. Repeating it
    changes nothing."""
    other = await get_visible(uow, canonical_id)
    if other.id == user_id:
        raise CannotBefriendSelf("You cannot befriend yourself.", field="canonical_id")
    await repository.lock_users(uow, [user_id, other.id])
    mine = await repository.get_friendship(uow, user_id, other.id)
    theirs = await repository.get_friendship(uow, other.id, user_id)
    now = utcnow()
    status: Literal["pending", "accepted"]
    if mine is not None and mine.status == "accepted":
        status, since = "accepted", mine.updated_at
    elif theirs is not None:
        await repository.save_friendship(uow, other.id, user_id, "accepted", now)
        await repository.save_friendship(uow, user_id, other.id, "accepted", now)
        status, since = "accepted", now
    elif mine is not None:
        status, since = "pending", mine.created_at
    else:
        await repository.save_friendship(uow, user_id, other.id, "pending", now)
        status, since = "pending", now
    user = public_out(other, await repository.get_profile(uow, other.id))
    return FriendshipOut(user=user, status=status, since=since)


async def unfriend(uow: UnitOfWork, user_id: uuid.UUID, canonical_id: str) -> None:
    """Remove a friend, decline their request or cancel ours; 404 when there was nothing.
    Works on banned accounts too, so a player can always drop one."""
    other = await get_by_canonical(uow, canonical_id)
    await repository.lock_users(uow, [user_id, other.id])
    if await repository.delete_friendship_pair(uow, user_id, other.id) == 0:
        raise NotFound("There is no friendship or request with this player.")


# Staff actions on an account. The admin domain decides who may do what; these only change
# the row (locked first, so concurrent staff actions on one account queue).

ROLE_ORDER = ("player", "moderator", "admin")


async def lock_account(uow: UnitOfWork, canonical_id: str) -> User:
    """A live (not merged) account, locked for update; 404 otherwise."""
    user = await get_by_canonical(uow, canonical_id)
    locked = await repository.get_user(uow, user.id, for_update=True)
    if locked is None or locked.status == "merged":
        raise NotFound("No such user.")
    return locked


async def apply_ban(uow: UnitOfWork, user: User, *, reason: str, until: dt.datetime | None) -> None:
    """Mark the account banned until `until` (None: permanently)."""
    user.status, user.ban_reason, user.banned_until = "banned", reason, until
    user.updated_at = utcnow()
    await uow.session.flush()


async def lift_ban(uow: UnitOfWork, user: User) -> None:
    """Make the account active again and forget the ban's reason and end."""
    user.status, user.ban_reason, user.banned_until = "active", None, None
    user.updated_at = utcnow()
    await uow.session.flush()


async def assign_roles(uow: UnitOfWork, user: User, roles: Iterable[str]) -> list[str]:
    """Set the account's roles; `player` is always kept. Returns them in rank order."""
    wanted = set(roles) | {"player"}
    user.roles = [r for r in ROLE_ORDER if r in wanted]
    user.updated_at = utcnow()
    await uow.session.flush()
    return list(user.roles)
