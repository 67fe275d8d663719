"""`playerplatform twitch ...` commands: the EventSub subscriptions Drops need."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import click

from playerplatform.drops.schemas import SubscriptionOut


@click.group(name="twitch")
def group() -> None:
    """Twitch EventSub subscriptions for Drops."""


def _run(work: Callable[..., Awaitable[list[SubscriptionOut]]]) -> list[SubscriptionOut]:
    from playerplatform.kit.settings import Settings
    from playerplatform.runtime import Runtime

    async def run() -> list[SubscriptionOut]:
        runtime = Runtime.build(Settings())
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except Exception as exc:  # shown to the operator, not a stack trace
        raise click.ClickException(str(exc)) from None


def _show(subs: list[SubscriptionOut]) -> None:
    if not subs:
        click.echo("no subscriptions")
    for sub in subs:
        condition = ",".join(f"{k}={v}" for k, v in sorted(sub.condition.items()))
        revoked = f" revoked_at={sub.revoked_at.isoformat()}" if sub.revoked_at else ""
        click.echo(
            f"{sub.subscription_id} {sub.type} v{sub.version} {sub.status} {condition}{revoked}"
        )


@group.command("subscribe")
def subscribe() -> None:
    """Create the EventSub subscriptions the active campaigns need, then list them all."""
    from playerplatform.drops import subscriptions

    _show(_run(subscriptions.subscribe))


@group.command("subscriptions")
def list_subscriptions() -> None:
    """List the EventSub subscriptions with their status."""
    from playerplatform.drops import subscriptions

    _show(_run(subscriptions.subscriptions))
