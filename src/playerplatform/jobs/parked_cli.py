"""`playerplatform parked ...`: what batch jobs set aside instead of failing their batch."""

from __future__ import annotations

import asyncio
import uuid

import click


@click.group(name="parked")
def group() -> None:
    """Items batch jobs parked (rows the database refused), and giving up on them."""


@group.command(name="list")
@click.option("--source", help="Only this job's items (e.g. leaderboards.write_behind).")
@click.option("--scope", help="Only items of this scope (e.g. a season id).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def list_items(source: str | None, scope: str | None, limit: int) -> None:
    """Open parked items, oldest first (exit status 1 when there is any)."""
    from playerplatform.cli import _runtime
    from playerplatform.jobs import parked

    async def run() -> int:
        runtime = await _runtime()
        try:
            async with runtime.db.unit_of_work(write=False) as uow:
                items = await parked.open_items(uow, source=source, scope=scope, limit=limit)
        finally:
            await runtime.close()
        for item in items:
            click.echo(
                f"{item.id} {item.source} {item.key} attempts={item.attempts}"
                f" since={item.parked_at.isoformat()} error={item.error}"
            )
        click.echo(f"{len(items)} parked")
        return len(items)

    if asyncio.run(run()):
        raise SystemExit(1)


@group.command()
@click.argument("item_id", type=click.UUID)
def discard(item_id: uuid.UUID) -> None:
    """Give up on one parked item (it stays listed as resolved: `discarded`)."""
    from playerplatform.cli import _runtime
    from playerplatform.jobs import parked

    async def run() -> bool:
        runtime = await _runtime()
        try:
            async with runtime.db.unit_of_work() as uow:
                return await parked.discard(uow, item_id)
        finally:
            await runtime.close()

    if not asyncio.run(run()):
        raise click.ClickException(f"No open parked item {item_id}")
    click.echo(f"{item_id} discarded")
