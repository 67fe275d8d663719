"""`leaderboard_update` jobs: writing scores behind and closing seasons. Both are enqueued by
the flusher's tick (`live.LiveBoards.tick`), closes also by the admin route. Every handler is
idempotent (see `durability`, `seasons`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork
from playerplatform.leaderboards import durability, repository, seasons

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.leaderboards")
QUEUE = "leaderboard_update"


async def write_scores_behind(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Write a season's dirty hot entries to the database."""
    season = await repository.get_season(uow, str(job.payload.get("season_id", "")))
    if season is None:
        return
    written = await durability.flush_season(
        uow, runtime.leaderboards.boards, season, batch=runtime.settings.leaderboard_flush_batch
    )
    flushing = durability.board_of(season).flushing

    async def done() -> None:
        await runtime.hot.delete(flushing)  # the next tick may enqueue the next batch

    uow.after_commit(done)
    if written:
        log.info("leaderboard_scores_written", season_id=season.season_id, entries=written)


async def close_season(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Close one season (refuse scores, freeze ranks, free keys, open the next one)."""
    season_id = str(job.payload.get("season_id", ""))
    outcome = await seasons.close_season(
        uow,
        runtime.leaderboards,
        season_id,
        batch=runtime.settings.leaderboard_flush_batch,
        rt=runtime,
    )
    log.info("leaderboard_season_close", season_id=season_id, outcome=outcome)
