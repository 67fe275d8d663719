"""Cached views: the encoded answer of a read that games make on every screen (a wallet, a
catalog page, a public profile), kept in the hot store and copied into every API process.

Each view belongs to an owner (a player's wallet, the catalog, an item) and is stored with the
owner's current *generation*, a random token. Whatever changes what the owner's views show
calls `changed(uow, owner)` in its unit of work; after the unit commits, the owner gets a new
generation (`Views.after_commit`, hooked to every unit of work of the database by the
composition root), and every view stored under an older one is stale from then on, in every
process. Reading a view is two
keys of the owner's hash slot (`view:{owner}:gen` and `view:{owner}:<name>`), both normally
served from the process's own copy (`kit.hotstore.near`): no round trip at all.

Why a generation and not a delete: a reader that loaded the database just before a change
committed would otherwise store its stale answer just after the writer's delete, and keep
serving it. Here the reader tags what it stores with the generation it saw *before* loading;
the writer's new generation comes after its commit, so a stale answer always carries an old
tag. What is not covered: a process that dies between a commit and the new generation, or a
hot store that does not answer then, leaves the views of that owner stale until they expire
(`ttl`, minutes). While the hot store is down, views are read through to the database.

With read replicas (`kit.replicas`), a view may be loaded from a replica that has not yet
replayed the change behind the owner's current generation; stored, that stale answer would
carry the new tag. So each generation also names the primary's WAL position after the commit
that made it (`<position>.<random>`), and a view loaded from a replica is stored only when
the replica had (at its last check) replayed at least that far; otherwise it is answered but
not kept, and a later reader stores it once the replica has caught up.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from playerplatform.kit.db import UnitOfWork, UnitSession
from playerplatform.kit.hotstore import UNAVAILABLE, HotStore
from playerplatform.kit.replicas import reading_from

PREFIX = "view:"  # tracked by the near cache (`Runtime`)
_UNTIL = "@"  # in a stored view's tag: the moment it goes stale (generations have no "@")
DEFAULT_TTL = 300.0


def _generation_key(owner: str) -> str:
    return f"{PREFIX}{{{owner}}}:gen"


def view_key(owner: str, name: str) -> str:
    """Where the view `name` of `owner` is stored (tests and tools look)."""
    return f"{PREFIX}{{{owner}}}:{name}"


class Views:
    """Read-through cache of encoded views, invalidated by owner (see the module docstring)."""

    def __init__(
        self,
        hot: HotStore,
        *,
        ttl: float = DEFAULT_TTL,
        primary_position: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.hot = hot
        self.ttl = ttl
        # With read replicas: the primary's WAL position, named in each new generation.
        self.primary_position = primary_position

    async def read(
        self,
        owner: str,
        name: str,
        load: Callable[[], Awaitable[bytes]],
        *,
        ttl: float | None = None,
    ) -> bytes:
        """The view `name` of `owner`: the stored one when it is of the owner's current
        generation, else `load()`'s, stored for the next reader for `ttl` seconds at most (a
        view that shows counters nobody renews a generation for, say, bounds their lag)."""

        async def timed() -> tuple[bytes, float | None]:
            return await load(), None

        return await self.read_until(owner, name, timed, ttl=ttl)

    async def read_until(
        self,
        owner: str,
        name: str,
        load: Callable[[], Awaitable[tuple[bytes, float | None]]],
        *,
        ttl: float | None = None,
    ) -> bytes:
        """As `read`, for a view that also goes stale at a moment no write marks (a season
        starting): `load()` answers the body and that moment (epoch seconds, or None), and
        the stored view is served only before it, in every process."""
        keys = [_generation_key(owner), view_key(owner, name)]
        try:
            values = self.hot.peek_near(keys)
            if values is None:
                values = await self.hot.mget_near(keys)
            generation, stored = values
            if generation is not None and stored is not None:
                tag, _, body = stored.partition("\n")
                tag, _, until = tag.partition(_UNTIL)
                if tag == generation and (not until or time.time() < float(until)):
                    return body.encode()
            if generation is None:
                generation = await self._start_generation(owner)
        except UNAVAILABLE:
            return (await load())[0]  # the hot store is down: read through, store nothing
        body_bytes, until_at = await load()
        replica = reading_from.get()
        if replica is not None and replica.replayed < _position(generation):
            return body_bytes  # maybe older than the generation says: answered, not kept
        tag = generation if until_at is None else f"{generation}{_UNTIL}{until_at!r}"
        with contextlib.suppress(*UNAVAILABLE):
            await self.hot.set(keys[1], f"{tag}\n{body_bytes.decode()}", ttl=ttl or self.ttl)
        return body_bytes

    async def after_commit(self, uow: UnitOfWork) -> None:
        """Renew the generation of every owner `uow` changed (it has committed)."""
        owners: set[str] | None = uow.info.pop(_PENDING, None)
        if not owners:
            return
        token = await self._new_token()
        if len(owners) == 1:
            await self.hot.set(_generation_key(next(iter(owners))), token, ttl=2 * self.ttl)
            return
        # One round trip for all of them (a friendship renews both players' lists).
        generations = {_generation_key(owner): token for owner in sorted(owners)}
        await self.hot.set_many(generations, ttl=2 * self.ttl)

    async def renew(self, owner: str) -> None:
        """A new generation for `owner` now (for changes made outside a unit of work)."""
        await self.hot.set(_generation_key(owner), await self._new_token(), ttl=2 * self.ttl)

    async def _new_token(self) -> str:
        if self.primary_position is None:
            return _token()
        return f"{await self.primary_position():x}.{_token()}"

    async def _start_generation(self, owner: str) -> str:
        token = _token()
        if await self.hot.set_if_absent(_generation_key(owner), token, ttl=2 * self.ttl):
            return token
        current = (await self.hot.mget([_generation_key(owner)]))[0]
        return current if current is not None else token


_PENDING = "views.changed"


def changed(uow: UnitOfWork, *owners: str) -> None:
    """Every view of these owners is stale once `uow` commits."""
    pending: set[str] | None = uow.info.get(_PENDING)
    if pending is None:
        pending = uow.info[_PENDING] = set()
    pending.update(owners)


@event.listens_for(UnitSession, "after_flush")
def _owners_of_flushed(session: Session, _flush: UOWTransaction) -> None:
    """Mapped objects whose class names the owner of the views that show them
    (`views_owner(self) -> str`) make those views stale when they are added, changed or
    deleted through the session, wherever in the code that happens. Statements that write
    such rows without the session (bulk UPDATEs, INSERT ... ON CONFLICT) call `changed`."""
    unit = session.info.get("unit")
    if unit is None:
        return
    owners = {
        obj.views_owner()
        for group in (session.new, session.dirty, session.deleted)
        for obj in group
        if hasattr(obj, "views_owner")
    }
    if owners:
        changed(unit, *owners)


def _token() -> str:
    return secrets.token_hex(6)


def _position(generation: str) -> int:
    """The WAL position a generation names (0: none, made without replicas)."""
    head, dot, _ = generation.partition(".")
    return int(head, 16) if dot else 0
