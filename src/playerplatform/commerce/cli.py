"""`playerplatform commerce ...` commands."""

from __future__ import annotations

import asyncio

import click


@click.group(name="commerce")
def group() -> None:
    """Commerce operations."""


@group.command("reconcile")
def reconcile() -> None:
    """Poll Steam and Epic for refunds and chargebacks now; print what was found and done."""
    from playerplatform.commerce.reconcile import Report, reconcile_now
    from playerplatform.kit.settings import Settings
    from playerplatform.runtime import Runtime

    async def run() -> Report:
        runtime = Runtime.build(Settings())
        try:
            return await reconcile_now(runtime)
        finally:
            await runtime.close()

    try:
        report = asyncio.run(run())
    except Exception as exc:  # shown to the operator, not a stack trace
        raise click.ClickException(str(exc)) from None
    for line in report.lines():
        click.echo(line)
    if report.errors:
        raise click.ClickException("some providers could not be polled")
