"""Rules of the users domain: accounts, profiles, the user object."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import orjson

from playerplatform.auth.state import (
    VIEW_TTL,
    UserState,
    forget_user_view,
    profile_owner,
    view_key,
)
from playerplatform.kit import views
from playerplatform.kit.db import Database, UnitOfWork, new_uuid, utcnow
from playerplatform.kit.edge import json_size
from playerplatform.kit.errors import (
    AccountRestricted,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
)
from playerplatform.kit.hotstore import UNAVAILABLE, HotStore
from playerplatform.kit.textfilter import TextFilter, ensure_acceptable
from playerplatform.kit.views import Views
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
    from playerplatform.auth.deps import Principal
    from playerplatform.auth.models import Identity
    from playerplatform.runtime import Runtime


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
        "restrictions": {},
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


async def profile_locale(uow: UnitOfWork, user_id: uuid.UUID) -> str | None:
    """The locale the player chose for their profile, if any (messages are served in it)."""
    profile = await repository.get_profile(uow, user_id)
    return profile.locale if profile else None


async def lookup_by_canonical(uow: UnitOfWork, canonical_id: str) -> User | None:
    """The account with this canonical id, whatever its status; None when there is none."""
    return await repository.get_user_by_canonical(uow, canonical_id)


async def canonical_ids(uow: UnitOfWork, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The canonical ids of these accounts (internal id -> canonical id), in one query."""
    return await repository.canonical_ids(uow, list(set(user_ids)))


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

    rows = await auth_repository.account_by_user_id(uow, user_id)
    if not rows:
        raise NotFound("No such user.")
    first = rows[0]
    return UserOut(
        canonical_id=first.canonical_id,
        status=first.status,
        roles=list(first.roles),
        profile=ProfileOut(
            display_name=first.display_name,
            avatar_url=first.avatar_url,
            locale=first.locale,
            country=first.country,
        ),
        identities=[
            IdentityOut(provider=r.provider, provider_id=r.provider_id, linked_at=r.linked_at)
            for r in rows
            if r.provider is not None
        ],
        email_verified=first.email_verified,
        created_at=first.created_at,
    )


async def cached_user_view(
    hot: HotStore, db: Database, canonical_id: str, user_id: uuid.UUID
) -> bytes:
    """The user object as JSON: the process's copy of the cached view when there is one,
    else read from the database and kept in the hot store until the user next changes."""
    key = view_key(canonical_id)
    cached = hot.peek_near([key])
    if cached is None:
        try:
            cached = await hot.mget_near([key])
        except UNAVAILABLE:  # the hot store is down: read through, cache nothing
            cached = [None]
    if cached[0] is not None:
        return cached[0].encode()
    async with db.unit_of_work(write=False) as uow:
        view = await user_view(uow, user_id)
    body = orjson.dumps(view.model_dump(mode="json"))
    with contextlib.suppress(*UNAVAILABLE):
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


class CannotBefriendSelf(ValidationFailed):
    code, title = "cannot_befriend_self", "Cannot befriend yourself"


FRIEND_LIST_CAP = 1000


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
        profile=profile_out(profile),
        created_at=user.created_at,
    )


async def public_profile(uow: UnitOfWork, canonical_id: str) -> PublicUserOut:
    """`GET /users/{canonical_id}`: the public shape of a visible account."""
    user = await get_visible(uow, canonical_id)
    return public_out(user, await repository.get_profile(uow, user.id))


async def public_profile_json(uow: UnitOfWork, cache: Views, canonical_id: str) -> bytes:
    """`public_profile`, encoded, from the cached view while it is current (renewed whenever
    the account's profile, status or roles change)."""

    async def load() -> bytes:
        return (await public_profile(uow, canonical_id)).model_dump_json().encode()

    return await cache.read(profile_owner(canonical_id), "public", load)


def friends_owner(user_id: uuid.UUID) -> str:
    """The owner of a player's cached friends list (`kit.views`)."""
    return f"friends:{user_id}"


FRIENDS_VIEW_TTL = 30.0  # friends' names and bans show in the list within this


async def friends_json(uow: UnitOfWork, cache: Views, user_id: uuid.UUID) -> bytes:
    """`list_friends`, encoded, from the cached view: renewed when a friendship of the player
    changes; a friend's new name or ban shows within `FRIENDS_VIEW_TTL`."""

    async def load() -> bytes:
        return (await list_friends(uow, user_id)).model_dump_json().encode()

    return await cache.read(friends_owner(user_id), "list", load, ttl=FRIENDS_VIEW_TTL)


def progression_owner(user_id: uuid.UUID) -> str:
    return f"progression:{user_id}"


async def progression_json(uow: UnitOfWork, cache: Views, user_id: uuid.UUID) -> tuple[int, bytes]:
    """(version, `get_progression` encoded), from the cached view while it is current."""

    async def load() -> bytes:
        found = await get_progression(uow, user_id)
        return b"%d\n%s" % (found.version, found.model_dump_json().encode())

    version, _, body = (await cache.read(progression_owner(user_id), "doc", load)).partition(b"\n")
    return int(version), body


async def update_profile(
    uow: UnitOfWork, hot: HotStore, principal: Principal, patch: ProfilePatch, checker: TextFilter
) -> UserOut:
    """Apply the sent profile fields (null clears one); display names pass the text filter
    before anything is written. The change is one statement (an upsert of the profile), so
    the route runs it in autocommit; the answer is read after it."""
    assert principal.user_id is not None
    changes = patch.changes()
    name = changes.get("display_name")
    if "display_name" in changes and principal.restricted("name"):
        # The caller's restrictions come from the auth state, as every sanction's scope does:
        # a sanction is published to it when it commits.
        raise AccountRestricted(
            "A sanction on your account locks your display name.",
            extra={"scope": "name"},
        )
    if name is not None:
        await ensure_acceptable(checker, name, field="display_name")
    if changes:
        await repository.upsert_profile(uow, principal.user_id, changes, utcnow())
        forget_user_view(uow, hot, principal.subject)
    return await user_view(uow, principal.user_id)


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
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise PreconditionFailed("If-Match does not name the current version.")
    return int(value)


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
    # `data` is a JSON document under the edge rule (`ProgressionIn`): its size is all left.
    if json_size(data) > max_bytes:
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
    views.changed(uow, progression_owner(user_id))
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


async def befriend(
    uow: UnitOfWork, rt: Runtime, user_id: uuid.UUID, canonical_id: str
) -> FriendshipOut:
    """Send a friend request, or accept the one the other player already sent. Repeating it
    changes nothing (and renews no cached list). The other player is told (a `social`
    message) of a new request or of their request accepted.

    Both players' rows are read and locked in one query, the rows between them in another,
    and a change is one statement: columns only, no mapped objects."""
    rows = await repository.lock_pair(uow, user_id, canonical_id)
    me = next((r for r in rows if r.id == user_id), None)
    other = next((r for r in rows if r.canonical_id == canonical_id), None)
    now = utcnow()
    if (
        other is None
        or other.status == "merged"
        or UserState(other.id, other.status, (), other.banned_until).is_banned(now)
    ):
        raise NotFound("No such user.")
    if other.id == user_id:
        raise CannotBefriendSelf("You cannot befriend yourself.", field="canonical_id")
    assert me is not None  # the caller's own account: the principal was let in on it
    between = await repository.friendships_between(uow, user_id, other.id)
    mine, theirs = between.get(user_id), between.get(other.id)
    status: Literal["pending", "accepted"]
    if mine is not None and mine.status == "accepted":
        status, since = "accepted", mine.updated_at
    elif theirs is not None:
        await repository.accept_friendship(uow, other.id, user_id, now)
        status, since = "accepted", now
        await _tell_friend(uow, rt, me, other.id, accepted=True)
        views.changed(uow, friends_owner(user_id), friends_owner(other.id))
    elif mine is not None:
        status, since = "pending", mine.created_at
    else:
        await repository.insert_friend_request(uow, user_id, other.id, now)
        status, since = "pending", now
        await _tell_friend(uow, rt, me, other.id, accepted=False)
        views.changed(uow, friends_owner(user_id), friends_owner(other.id))
    user = PublicUserOut(
        canonical_id=other.canonical_id,
        profile=ProfileOut(
            display_name=other.display_name,
            avatar_url=other.avatar_url,
            locale=other.locale,
            country=other.country,
        ),
        created_at=other.created_at,
    )
    return FriendshipOut(user=user, status=status, since=since)


async def _tell_friend(
    uow: UnitOfWork, rt: Runtime, sender: Any, to: uuid.UUID, *, accepted: bool
) -> None:
    """Tell `to` of `sender`'s request or acceptance (`sender`: a row of `lock_pair`)."""
    name = sender.display_name or sender.canonical_id
    await rt.notify(
        uow,
        rt,
        to,
        "social",
        title="Friend request accepted" if accepted else "New friend request",
        body=f"{name} accepted your friend request."
        if accepted
        else f"{name} wants to be your friend.",
        data={"canonical_id": sender.canonical_id, "status": "accepted" if accepted else "pending"},
        event="friend_request",
    )


async def unfriend(uow: UnitOfWork, user_id: uuid.UUID, canonical_id: str) -> None:
    """Remove a friend, decline their request or cancel ours; 404 when there was nothing.
    Works on banned accounts too, so a player can always drop one."""
    other = await get_by_canonical(uow, canonical_id)
    await repository.lock_users(uow, [user_id, other.id])
    if await repository.delete_friendship_pair(uow, user_id, other.id) == 0:
        raise NotFound("There is no friendship or request with this player.")
    views.changed(uow, friends_owner(user_id), friends_owner(other.id))


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


async def set_restrictions(
    uow: UnitOfWork, user: User, restrictions: dict[str, dt.datetime | None]
) -> None:
    """Record what the account's sanctions hold back now (scope -> end, None: until lifted);
    the auth state carries it to every request once published."""
    user.restrictions = {
        scope: until.isoformat() if until else None for scope, until in sorted(restrictions.items())
    }
    user.updated_at = utcnow()
    await uow.session.flush()


async def reset_display_name(uow: UnitOfWork, hot: HotStore, user: User) -> str | None:
    """Clear the account's display name (a name restriction); returns the name it had."""
    profile = await repository.get_profile(uow, user.id)
    if profile is None or profile.display_name is None:
        return None
    old = profile.display_name
    await repository.update_profile(uow, profile, {"display_name": None}, utcnow())
    forget_user_view(uow, hot, user.canonical_id)
    return old


async def other_staff_exists(uow: UnitOfWork, canonical_id: str) -> bool:
    """Whether an active account other than `canonical_id` holds a staff role."""
    return await repository.other_staff_exists(uow, canonical_id)


async def assign_roles(uow: UnitOfWork, user: User, roles: Iterable[str]) -> list[str]:
    """Set the account's roles; `player` is always kept. Returns them in rank order."""
    wanted = set(roles) | {"player"}
    user.roles = [r for r in ROLE_ORDER if r in wanted]
    user.updated_at = utcnow()
    await uow.session.flush()
    return list(user.roles)
