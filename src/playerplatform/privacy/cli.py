"""`playerplatform export-user ID` and `playerplatform erase-user ID`: a player's data export
or erasure, asked for as the routes ask (the export is built by the job workers and its link
mailed; the erasure runs after `PP_ERASURE_GRACE_DAYS`). Audited with the actor `cli`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import click

ACTOR = "cli"


def _request(kind: str, canonical_id: str) -> Any:
    from playerplatform.kit.settings import Settings
    from playerplatform.privacy import service
    from playerplatform.runtime import Runtime
    from playerplatform.users import service as users

    ask: Callable[..., Awaitable[Any]] = (
        service.request_export if kind == "export" else service.request_erasure
    )

    async def run() -> Any:
        runtime = Runtime.build(Settings())
        try:
            await runtime.objects.start()
            async with runtime.db.unit_of_work() as uow:
                user = await users.find_by_canonical(uow, canonical_id)
                return await ask(uow, runtime, user_id=user.id, actor=ACTOR, client=None)
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except Exception as exc:  # shown to the operator, not a stack trace
        raise click.ClickException(str(exc)) from None


@click.command("export-user")
@click.argument("canonical_id")
def export_user(canonical_id: str) -> None:
    """Export everything the platform holds about a player (a zip; the link is mailed)."""
    out = _request("export", canonical_id)
    click.echo(f"export {out.request_id} {out.status}")


@click.command("erase-user")
@click.argument("canonical_id")
def erase_user(canonical_id: str) -> None:
    """Schedule a player's erasure after the grace period (signing in cancels it)."""
    out = _request("erasure", canonical_id)
    click.echo(f"erasure {out.request_id} {out.status}, runs at {out.erase_at.isoformat()}")
