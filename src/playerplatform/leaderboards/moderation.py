"""Fair play after the fact: a moderator removing an entry, and accounts merging.

A removal is written to the database at once (audited, `removed_at` set) and then applied to
the hot board, where the entry stays marked removed so later submissions are refused; the
write-behind never touches a removed row, so a removed score stays removed.

Merging two accounts keeps, per season, the better of the two entries (the season's order,
then the earlier achievement) under the surviving account.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from playerplatform.audit import service as audit
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.boards import BoardEntry, Submission
from playerplatform.leaderboards.durability import board_entry, board_of, entry_values
from playerplatform.leaderboards.live import LiveBoards
from playerplatform.leaderboards.models import CLOSED, LeaderboardEntry, Season
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime


async def remove_entry(
    uow: UnitOfWork,
    live: LiveBoards,
    season_id: str,
    canonical_id: str,
    *,
    reason: str,
    actor: Principal,
    client: ClientInfo,
) -> None:
    """Remove a player's entry from a season (audited); 404 when there is none."""
    rules = await live.season(season_id)
    ids = await repository.user_ids(uow, [canonical_id])
    if canonical_id not in ids:
        raise NotFound("No such player.")
    stored = await repository.get_entry(uow, rules.pk, ids[canonical_id])
    hot = None
    if rules.state != CLOSED:
        hot = (await live.boards.entries(rules.board, [canonical_id]))[0]
    if hot is None and stored is None:
        raise NotFound("The player has no entry in this season.")
    if stored is not None and stored.removed_at is not None:
        return  # removed already: nothing changes, nothing to audit
    entry = hot or board_entry(stored, canonical_id)  # type: ignore[arg-type]
    now = utcnow()
    await repository.mark_removed(
        uow, rules.pk, ids[canonical_id], values=entry_values(entry), reason=reason, now=now
    )
    await audit.record(
        uow,
        action="leaderboard.entry_remove",
        resource_type="leaderboard_entry",
        resource_id=f"{season_id}/{canonical_id}",
        actor=actor,
        subjects=[canonical_id],
        old={"score": entry.score, "rank": stored.rank if stored else None},
        new={"removed": True, "reason": reason},
        client=client,
    )
    if rules.state != CLOSED:
        board, at = rules.board, int(now.timestamp() * 1_000_000)

        async def apply() -> None:
            await live.boards.remove(board, canonical_id, at=at)

        uow.after_commit(apply)


def _wins(season: Season, a: BoardEntry, b: BoardEntry) -> bool:
    """Does `a` rank ahead of `b`?"""
    if a.score != b.score:
        return a.score > b.score if season.sort == "desc" else a.score < b.score
    return a.at <= b.at


async def merge_leaderboards(
    uow: UnitOfWork, runtime: Runtime, source: User, target: User
) -> dict[str, Any]:
    """Merge hook: per season, the better entry of the two accounts survives under the
    target. Live seasons are merged in the hot store too, after the merge commits."""
    live: LiveBoards | None = runtime.leaderboards
    mine = {e.season_pk: e for e in await repository.entries_of_user(uow, target.id)}
    theirs = {e.season_pk: e for e in await repository.entries_of_user(uow, source.id)}
    seasons = await repository.seasons_by_pk(uow, list({*mine, *theirs}))
    if live is not None:  # entries still only in the hot store count too
        seasons.update({s.id: s for s in await repository.list_seasons(uow, not_closed=True)})
    moved, kept = 0, 0
    hot_moves: list[tuple[Season, BoardEntry | None]] = []
    for pk, season in seasons.items():
        src = _entry(theirs.get(pk), source.canonical_id)
        dst = _entry(mine.get(pk), target.canonical_id)
        if live is not None and season.state != CLOSED:
            found = await live.boards.entries(
                board_of(season), [source.canonical_id, target.canonical_id]
            )
            src, dst = found[0] or src, found[1] or dst
        if src is None or src.removed:
            if pk in theirs:
                await repository.delete_entry(uow, theirs[pk].id)
            continue
        if dst is not None and (dst.removed or _wins(season, dst, src)):
            if pk in theirs:
                await repository.delete_entry(uow, theirs[pk].id)
            kept += 1
            hot_moves.append((season, None))
            continue
        if pk in mine:
            await repository.delete_entry(uow, mine[pk].id)
        if pk in theirs:
            await _reassign(uow, theirs[pk], target.id, src)
        moved += 1
        hot_moves.append((season, src))
    if live is not None and hot_moves:
        move_hot_entries_after_commit(
            uow, live, source.canonical_id, target.canonical_id, hot_moves
        )
    return {"entries_moved": moved, "entries_kept": kept}


def _entry(row: LeaderboardEntry | None, canonical_id: str) -> BoardEntry | None:
    return board_entry(row, canonical_id) if row is not None else None


async def _reassign(
    uow: UnitOfWork, row: LeaderboardEntry, user_id: uuid.UUID, src: BoardEntry
) -> None:
    await uow.session.flush()
    row.user_id = user_id
    for name, value in entry_values(src).items():
        setattr(row, "meta" if name == "metadata" else name, value)
    row.updated_at = utcnow()
    await uow.session.flush()


def move_hot_entries_after_commit(
    uow: UnitOfWork,
    live: LiveBoards,
    source_id: str,
    target_id: str,
    moves: list[tuple[Season, BoardEntry | None]],
) -> None:
    """After `uow` commits, live boards hold each winner under `target_id` (none: nothing
    moves) and nothing under `source_id` (a merge, an erasure's rename)."""

    async def apply() -> None:
        for season, winner in moves:
            if season.state == CLOSED:
                continue
            board = board_of(season)
            if winner is not None:
                await live.boards.submit(
                    board,
                    Submission(
                        target_id, winner.score, winner.at, "latest", winner.region, winner.metadata
                    ),
                )
            await live.boards.remove(board, source_id, at=winner.at if winner else 0)

    uow.after_commit(apply)
