"""The leaderboards domain's part of a player's data export and erasure. Scores stay on the
boards after an erasure, under the pseudonymous account (no name is shown for it)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, column_values
from playerplatform.leaderboards import repository, service
from playerplatform.leaderboards.boards import BoardEntry
from playerplatform.leaderboards.durability import board_of
from playerplatform.leaderboards.models import LeaderboardEntry, Season
from playerplatform.leaderboards.moderation import move_hot_entries_after_commit

if TYPE_CHECKING:
    from playerplatform.contributions import ErasureSubject
    from playerplatform.runtime import Runtime

TABLES = ("leaderboard_entries",)


async def export_leaderboards(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The player's entries: as stored, and for seasons still open as the live boards hold
    them (a score waiting to be written behind is there already)."""
    from playerplatform.users import service as users

    canonical_id = (await users.get_user(uow, user_id)).canonical_id
    found = await uow.session.execute(
        sa.select(Season.season_id, LeaderboardEntry)
        .join(Season, Season.id == LeaderboardEntry.season_pk)
        .where(LeaderboardEntry.user_id == user_id)
        .order_by(LeaderboardEntry.submitted_at)
    )
    entries = {season_id: column_values(entry) for season_id, entry in found}
    for season in await repository.list_seasons(uow, not_closed=True):
        live = await service.entries_of(uow, runtime.leaderboards, season.season_id, [canonical_id])
        for entry in live:
            stored = entries.get(season.season_id, {})
            entries[season.season_id] = {
                **stored,
                "score": entry["score"],
                "rank": entry["rank"],
                "metadata": entry.get("metadata"),
                "submitted_at": entry.get("submitted_at"),
            }
    return [{"season_id": season_id, **entry} for season_id, entry in entries.items()]


async def erase_leaderboards(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """Scores are kept, keyed by the pseudonymous account: stored entries point to it
    already (by user id); the live boards, which name players by canonical id, move the
    player's entries to the pseudonym once the erasure commits."""
    live = runtime.leaderboards
    moves: list[tuple[Season, BoardEntry | None]] = []
    for season in await repository.list_seasons(uow, not_closed=True):
        found = (await live.boards.entries(board_of(season), [subject.canonical_id]))[0]
        if found is not None:
            moves.append((season, found))
    if moves:
        move_hot_entries_after_commit(uow, live, subject.canonical_id, subject.pseudonym, moves)
