"""Per-request authorisation state: is this session still live, is this user still allowed in,
with which roles. Read through the hot store, loaded from the database on a miss, written
through on every change, so a ban or a logout takes effect on the very next request.

Readers fill the cache with SET-if-absent and writers overwrite it after their commit, so a
reader that loaded stale rows before a ban committed can never overwrite the ban.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from playerplatform.auth.models import Session
from playerplatform.kit import views
from playerplatform.kit.db import Database, UnitOfWork, utcnow
from playerplatform.kit.hotstore import UNAVAILABLE, HotStore
from playerplatform.users.models import User

# Short enough that a write-through that failed (hot store briefly down) heals soon.
STATE_TTL = 600.0
# The cached user object is dropped after every change; the TTL bounds how long a reader that
# loaded it just before a change committed (and cached it just after) can keep serving it.
VIEW_TTL = 60.0
SESSION_REVOKED = "revoked"
SESSION_ACTIVE = "active"


Restrictions = tuple[tuple[str, dt.datetime | None], ...]


def restrictions_of(summary: Mapping[str, str | None] | None) -> Restrictions:
    """The account's restriction summary (`User.restrictions`: scope -> end or null) as
    sorted (scope, end) pairs."""
    return tuple(
        sorted(
            (scope, dt.datetime.fromisoformat(until) if until else None)
            for scope, until in (summary or {}).items()
        )
    )


def in_force(restrictions: Restrictions, scope: str, now: dt.datetime | None = None) -> bool:
    """Whether a restriction of `scope` holds at `now`; a timed one ends by itself."""
    for held, until in restrictions:
        if held == scope and (until is None or until > (now or utcnow())):
            return True
    return False


@dataclass(frozen=True, slots=True)
class UserState:
    user_id: uuid.UUID
    status: str
    roles: tuple[str, ...]
    banned_until: dt.datetime | None
    restrictions: Restrictions = ()

    def is_banned(self, now: dt.datetime | None = None) -> bool:
        if self.status != "banned":
            return False
        return self.banned_until is None or self.banned_until > (now or utcnow())

    def encode(self) -> str:
        data: dict[str, object] = {
            "id": str(self.user_id),
            "status": self.status,
            "roles": list(self.roles),
            "until": self.banned_until.isoformat() if self.banned_until else None,
        }
        if self.restrictions:
            data["r"] = {s: u.isoformat() if u else None for s, u in self.restrictions}
        return orjson.dumps(data).decode()

    @classmethod
    def decode(cls, raw: str) -> UserState:
        return _decode_state(raw)

    @classmethod
    def parse(cls, raw: str) -> UserState:
        data = orjson.loads(raw)
        until = data.get("until")
        return cls(
            user_id=uuid.UUID(data["id"]),
            status=data["status"],
            roles=tuple(data["roles"]),
            banned_until=dt.datetime.fromisoformat(until) if until else None,
            restrictions=restrictions_of(data.get("r")),
        )

    @classmethod
    def of(cls, user: User) -> UserState:
        return cls(
            user.id,
            user.status,
            tuple(user.roles),
            user.banned_until,
            restrictions_of(user.restrictions),
        )


@functools.lru_cache(maxsize=65_536)
def _decode_state(raw: str) -> UserState:
    """Every request decodes its caller's state; the same text decodes to the same (frozen)
    state, so each is parsed once."""
    return UserState.parse(raw)


def user_key(canonical_id: str) -> str:
    return f"auth:{{{canonical_id}}}:user"


def session_key(canonical_id: str, sid: str) -> str:
    return f"auth:{{{canonical_id}}}:sess:{sid}"


def profile_owner(canonical_id: str) -> str:
    """The owner of the player's public profile views (`kit.views`)."""
    return f"profile:{canonical_id}"


def view_key(canonical_id: str) -> str:
    """The cached user object (`GET /users/me`), in the same hash slot as the user's state so
    one `mget_near` reads both."""
    return f"auth:{{{canonical_id}}}:view"


def state_keys(canonical_id: str, sid: str | None) -> list[str]:
    """The keys holding a caller's user state and (with `sid`) session status."""
    return [user_key(canonical_id)] + ([session_key(canonical_id, sid)] if sid else [])


class AuthState:
    def __init__(self, hot: HotStore, db: Database) -> None:
        self.hot = hot
        self.db = db

    async def lookup(
        self, canonical_id: str, sid: str | None, *, extra_keys: Sequence[str] = ()
    ) -> tuple[UserState | None, str | None, list[str | None]]:
        """(user state, session status, extra values) for a token's `sub` and `sid`; the
        states are None when unknown. `extra_keys` (keys in the user's hash slot) are read
        with them. Served from the process's copies of these keys while they are current
        (`HotStore.mget_near`), from the hot store, or on a miss from the database."""
        base = state_keys(canonical_id, sid)
        try:
            cached = await self.hot.mget_near([*base, *extra_keys])
        except UNAVAILABLE:  # the hot store is down: the database decides
            cached = [None] * (len(base) + len(extra_keys))
        state, status = await self.resolve(canonical_id, sid, cached[0], cached[1] if sid else None)
        return state, status, cached[len(base) :]

    async def resolve(
        self, canonical_id: str, sid: str | None, user_raw: str | None, session_raw: str | None
    ) -> tuple[UserState | None, str | None]:
        """The states behind the values read at `state_keys`: decoded when both were there,
        else loaded from the database (and cached)."""
        if user_raw is not None and (sid is None or session_raw is not None):
            return UserState.decode(user_raw), session_raw
        return await self._load(canonical_id, sid)

    async def _load(
        self, canonical_id: str, sid: str | None
    ) -> tuple[UserState | None, str | None]:
        async with self.db.unit_of_work(write=False) as uow:
            # The session before the user (each read sees the latest commit): a ban revokes
            # the sessions in its own commit, so a session read as revoked by it comes with
            # the user read as banned, never as a session that merely ended.
            row = None
            if sid is not None:
                row = (
                    await uow.session.execute(
                        sa.select(Session.status, Session.expires_at, Session.user_id).where(
                            Session.public_id == sid
                        )
                    )
                ).one_or_none()
            user = (
                await uow.session.execute(sa.select(User).where(User.canonical_id == canonical_id))
            ).scalar_one_or_none()
            if user is None:
                return None, None
            state = UserState.of(user)
            status = None
            if sid is not None:
                live = row is not None and row.user_id == user.id and row.status == "active"
                status = (
                    SESSION_ACTIVE
                    if row is not None and live and row.expires_at > utcnow()
                    else SESSION_REVOKED
                )
        with contextlib.suppress(*UNAVAILABLE):  # the hot store is down: the database decided
            await self.hot.set_if_absent(user_key(canonical_id), state.encode(), ttl=STATE_TTL)
            if sid is not None and status is not None:
                await self.hot.set_if_absent(session_key(canonical_id, sid), status, ttl=STATE_TTL)
        return state, status


_PENDING_STATE = "auth.state"  # `uow.info`: canonical id -> the state values to publish at commit


def _publish_after_commit(
    uow: UnitOfWork, hot: HotStore, canonical_id: str, values: Mapping[str, str]
) -> None:
    """After `uow` commits, write `values` (the user's state and session statuses) with every
    other value the unit publishes for the user, in one write: a reader sees all of the unit's
    changes or none, so a ban never reads as the sessions it revoked, in any process. The user
    state goes first, so even where the keys are written one after another (a Redis Cluster)
    a reader in between sees the ban before the sessions it ended."""
    pending: dict[str, dict[str, str]] | None = uow.info.get(_PENDING_STATE)
    if pending is None:
        pending = uow.info[_PENDING_STATE] = {}

        async def publish() -> None:
            for cid, changed in uow.info.pop(_PENDING_STATE, {}).items():
                user = user_key(cid)
                ordered = dict(sorted(changed.items(), key=lambda item: item[0] != user))
                await hot.set_many(ordered, ttl=STATE_TTL)
                if user in changed:  # the cached user object shows the state
                    await hot.delete(view_key(cid))

        uow.after_commit(publish)
    pending.setdefault(canonical_id, {}).update(values)


def publish_user_state(uow: UnitOfWork, hot: HotStore, canonical_id: str, state: UserState) -> None:
    """After `uow` commits, publish the user's new status and roles to every API process
    (and drop the cached user object, which shows both)."""
    _publish_after_commit(uow, hot, canonical_id, {user_key(canonical_id): state.encode()})
    views.changed(uow, profile_owner(canonical_id))


def forget_user_view(uow: UnitOfWork, hot: HotStore, canonical_id: str) -> None:
    """After `uow` commits, drop the cached user object: its profile, identities or email
    state changed. The next `GET /users/me` reads it again from the database."""

    async def forget() -> None:
        await hot.delete(view_key(canonical_id))

    uow.after_commit(forget)
    views.changed(uow, profile_owner(canonical_id))


def publish_session_status(
    uow: UnitOfWork, hot: HotStore, canonical_id: str, sids: list[str], status: str
) -> None:
    """After `uow` commits, publish these sessions' status to every API process."""
    if sids:
        statuses = {session_key(canonical_id, sid): status for sid in sids}
        _publish_after_commit(uow, hot, canonical_id, statuses)


def publish_login(
    uow: UnitOfWork, hot: HotStore, canonical_id: str, sid: str, state: UserState
) -> None:
    """After `uow` commits, publish a new session and its user's state in one round trip."""

    async def publish() -> None:
        await publish_session(hot, canonical_id, sid, state)

    uow.after_commit(publish)


async def publish_session(hot: HotStore, canonical_id: str, sid: str, state: UserState) -> None:
    """Publish a committed new session and its user's state in one round trip."""
    await hot.set_many(
        {user_key(canonical_id): state.encode(), session_key(canonical_id, sid): SESSION_ACTIVE},
        ttl=STATE_TTL,
    )


async def account_restricted(hot: HotStore, db: Database, canonical_id: str, scope: str) -> bool:
    """Whether the account is held back from `scope` now, read the way each request reads
    its caller's state (for work done on a player's behalf, e.g. a game server's score)."""
    state, _, _ = await AuthState(hot, db).lookup(canonical_id, None)
    return state is not None and in_force(state.restrictions, scope)
