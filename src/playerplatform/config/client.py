"""What players and server-side code read: a player's resolved configuration, and one
function for flags (`flag_enabled`). Both read the in-process snapshot (`live`); the facts a
segment needs beyond the access token are read only when a live segment asks for them."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import orjson

from playerplatform.config import repository
from playerplatform.config.resolve import MAX_CACHED_PLAYERS, Resolved, Snapshot, resolve
from playerplatform.config.targeting import UNREAD, PlayerFacts
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound
from playerplatform.kit.http import in_unit_of_work
from playerplatform.users.segments import SegmentFacts

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime

MAX_REMEMBERED_EXPOSURES = 100_000


async def player_facts(
    uow: UnitOfWork | None, runtime: Runtime, principal: Principal, snapshot: Snapshot
) -> PlayerFacts:
    """The caller as segments see it: roles and platforms from the token; country, account
    age and owned SKUs only when a live segment reads them (from cached views)."""
    country: str | None = None
    created_at = UNREAD
    assert principal.user_id is not None
    if snapshot.reads_profile:
        from playerplatform.users import service as users

        view = orjson.loads(
            await users.cached_user_view(
                runtime.hot, runtime.db, principal.subject, principal.user_id
            )
        )
        country = (view.get("profile") or {}).get("country")
        created_at = dt.datetime.fromisoformat(view["created_at"].replace("Z", "+00:00"))
    owned: set[str] = set()
    if snapshot.skus:
        from playerplatform.commerce import wallet

        assert uow is not None, "ownership is read in a unit of work"
        for sku in snapshot.skus:
            try:
                if await wallet.check_ownership(
                    uow, runtime.hot, runtime.settings, principal.user_id, principal.subject, sku
                ):
                    owned.add(sku)
            except NotFound:  # a segment may name a SKU that is gone: nobody owns it
                continue
    return PlayerFacts(
        canonical_id=principal.subject,
        segment=SegmentFacts(
            country=country,
            platforms=frozenset(principal.claims.get("providers") or ()),
            created_at=created_at,
            roles=principal.roles,
        ),
        owned=frozenset(owned),
    )


async def client_config(runtime: Runtime, principal: Principal) -> Resolved:
    """The caller's `{"version", "values", "flags", "experiments"}` and its ETag; the first
    variant an experiment serves a player is recorded once (`experiment_exposures`). A
    player's answer is kept with the snapshot while it can only change with the time (see
    `Snapshot.token_only`): a repeated read then resolves and records nothing."""
    snapshot = await runtime.config.current()
    key = _player_key(principal) if snapshot.token_only else None
    if key is not None:
        kept = snapshot.by_player.get(key)
        if kept is not None and time.time() < kept[1]:
            return kept[0]
    now = utcnow()
    if snapshot.skus:  # ownership is read through commerce, in a unit of work of its own
        async with runtime.db.unit_of_work(write=False) as uow:
            facts = await player_facts(uow, runtime, principal, snapshot)
    else:
        facts = await player_facts(None, runtime, principal, snapshot)
    answer = resolve(snapshot, facts, now)
    if answer.assignments:
        await _record_exposures(runtime, principal, answer.assignments)
    if key is not None:
        if len(snapshot.by_player) >= MAX_CACHED_PLAYERS:
            snapshot.by_player.clear()
        snapshot.by_player[key] = (answer, snapshot.next_change(now))
    return answer


def _player_key(principal: Principal) -> tuple[object, ...]:
    """What a token-only answer depends on (see `Snapshot.token_only`)."""
    return (principal.subject, principal.roles, tuple(principal.claims.get("providers") or ()))


async def _record_exposures(
    runtime: Runtime, principal: Principal, assignments: tuple[tuple[str, str], ...]
) -> None:
    """Write the exposures this process has not written yet (the table keeps the first)."""
    remembered = runtime.config.exposed
    new = tuple(a for a in assignments if (a[0], principal.subject) not in remembered)
    if not new:
        return
    user_id = principal.user_id
    assert user_id is not None

    async def write(uow: UnitOfWork) -> None:
        await repository.record_exposures(uow, user_id, new)

    await in_unit_of_work(runtime.db, write)
    if len(remembered) > MAX_REMEMBERED_EXPOSURES:
        remembered.clear()
    remembered.update((name, principal.subject) for name, _ in new)


async def flag_enabled(runtime: Runtime, name: str, principal: Principal | None = None) -> bool:
    """Whether flag `name` is on for this caller (or, without one, for everyone): the one way
    server-side code reads a flag. An unknown flag is off."""
    snapshot = await runtime.config.current()
    flag = snapshot.flags.get(name)
    if flag is None or not flag.enabled:
        return False
    if principal is None or principal.user_id is None:
        return flag.on_for(None)
    async with runtime.db.unit_of_work(write=False) as uow:
        facts = await player_facts(uow, runtime, principal, snapshot)
    return flag.on_for(facts)
