"""`playerplatform leaderboards ...` commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import click

PROGRESS_EVERY = 50_000


def _progress(season_id: str, verb: str) -> Callable[[int], None]:
    shown = [0]

    def report(done: int) -> None:
        if done - shown[0] >= PROGRESS_EVERY:
            shown[0] = done
            click.echo(f"  {season_id}: {verb} {done:,} entries ...", err=True)

    return report


async def _live_seasons(runtime: Any, season_ids: tuple[str, ...]) -> list[Any]:
    from playerplatform.leaderboards import repository

    async with runtime.db.unit_of_work(write=False) as uow:
        seasons = await repository.list_seasons(uow, not_closed=True)
    if season_ids:
        seasons = [s for s in seasons if s.season_id in season_ids]
        missing = set(season_ids) - {s.season_id for s in seasons}
        if missing:
            raise click.ClickException(f"No live season: {', '.join(sorted(missing))}")
    return seasons


EMBEDDED_REFUSAL = (
    "The embedded shape keeps its leaderboards in the server process's own memory, which a "
    "separate command cannot reach. The server rebuilds them from the database when it starts; "
    "to check or rebuild from here, run with PP_REDIS_URL (the production shape)."
)


async def _shared_hot_store_runtime() -> Any:
    """The CLI's runtime, refused when its hot store would be a private, empty one."""
    from playerplatform.cli import _runtime
    from playerplatform.kit.settings import Settings

    if not Settings().redis_url:
        raise click.ClickException(EMBEDDED_REFUSAL)
    return await _runtime()


def _trouble(drift: Any) -> str:
    if drift.stuck:
        return "STUCK"
    differs = drift.only_in_database or drift.only_in_hot or drift.different
    return "PARKED" if drift.parked and not differs and drift.loaded else "DRIFT"


@click.group(name="leaderboards")
def group() -> None:
    """Leaderboards operations."""


@group.command()
@click.option("--season", "season_ids", multiple=True, help="Only this season (repeatable).")
def check(season_ids: tuple[str, ...]) -> None:
    """Compare the hot store with the database and report drift (exit status 1 on drift)."""
    from playerplatform.leaderboards.durability import check_board

    async def run() -> bool:
        runtime = await _shared_hot_store_runtime()
        clean = True
        try:
            for season in await _live_seasons(runtime, season_ids):
                drift = await check_board(
                    runtime.db,
                    runtime.hot,
                    runtime.leaderboards.boards,
                    season,
                    progress=_progress(season.season_id, "compared"),
                )
                clean = clean and drift.clean
                state = "ok" if drift.clean else _trouble(drift)
                click.echo(
                    f"{season.season_id}: {state} database={drift.database} hot={drift.hot}"
                    f" waiting={drift.waiting} loaded={'yes' if drift.loaded else 'no'}"
                    f" only_in_database={len(drift.only_in_database)}"
                    f" only_in_hot={len(drift.only_in_hot)} different={len(drift.different)}"
                    f" parked={len(drift.parked)}{' closing' if drift.closing else ''}"
                )
                if drift.stuck:
                    click.echo(f"  stuck: {drift.stuck}")
                for label, ids in (
                    ("only in database", drift.only_in_database),
                    ("only in hot store", drift.only_in_hot),
                    ("different", drift.different),
                    ("parked (see `playerplatform parked list`)", drift.parked),
                ):
                    if ids:
                        click.echo(
                            f"  {label}: {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}"
                        )
        finally:
            await runtime.close()
        return clean

    if not asyncio.run(run()):
        sys.exit(1)


@group.command()
@click.option("--season", "season_ids", multiple=True, help="Only this season (repeatable).")
def rebuild(season_ids: tuple[str, ...]) -> None:
    """Rebuild live boards in the hot store from the database (scores still waiting to be
    written are written first; submissions wait meanwhile)."""
    from playerplatform.leaderboards.durability import rebuild_now

    async def run() -> None:
        runtime = await _shared_hot_store_runtime()
        try:
            for season in await _live_seasons(runtime, season_ids):
                click.echo(f"{season.season_id}: rebuilding ...")
                loaded = await rebuild_now(
                    runtime.db,
                    runtime.hot,
                    runtime.leaderboards.boards,
                    season.season_id,
                    batch=runtime.settings.leaderboard_flush_batch,
                    progress=_progress(season.season_id, "loaded"),
                )
                click.echo(f"{season.season_id}: {loaded} entries loaded")
        finally:
            await runtime.close()

    asyncio.run(run())


@group.command(name="resume-close")
@click.option("--season", "season_id", required=True, help="The season stuck in `closing`.")
def resume_close(season_id: str) -> None:
    """Resume a season close that stopped (its job dead, or never enqueued): the season
    worker runs again and picks up where the committed state says it is."""
    from playerplatform.cli import _runtime
    from playerplatform.leaderboards.seasons import resume_close as resume

    async def run() -> str:
        runtime = await _runtime()
        try:
            async with runtime.db.unit_of_work() as uow:
                return await resume(uow, season_id)
        finally:
            await runtime.close()

    outcome = asyncio.run(run())
    if outcome in ("missing", "closed", "open"):
        raise click.ClickException(f"{season_id}: nothing to resume ({outcome})")
    click.echo(f"{season_id}: close {outcome}")
