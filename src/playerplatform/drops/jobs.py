"""Job handlers of the drops domain (all on `webhook_processing`, told apart by kind), and
what it contributes to account links and merges.

- `drops_fulfil`: mark granted entitlements FULFILLED at Twitch (`fulfilment`).
- `drops_link`: grant the drops waiting for a Twitch account just linked.
- `drops_reconcile` (scheduled): pull CLAIMED entitlements of active campaigns (`sync`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playerplatform.drops import grants, repository, sync
from playerplatform.drops.fulfilment import fulfil_drops
from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime
    from playerplatform.users.models import User

__all__ = ["fulfil_drops", "grant_linked", "merge_drops", "on_link", "reconcile"]


async def grant_linked(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
    await grants.grant_linked(uow, rt, str(job.payload["twitch_user_id"]))


async def reconcile(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
    await sync.reconcile(uow, rt)


async def on_link(
    uow: UnitOfWork, rt: Runtime, user: User, provider: str, provider_id: str
) -> None:
    """Link hook: a Twitch account linked to `user` gets its waiting drops (in a job that
    runs once the link commits, so a drop problem never fails the link)."""
    if provider == "twitch":
        await grants.queue_link_grants(uow, provider_id)


async def merge_drops(
    uow: UnitOfWork, rt: Runtime, source: User, target: User
) -> dict[str, Any] | None:
    """Merge hook: the source account's drops follow it."""
    moved = await repository.move_drops(uow, source.id, target.id)
    return {"drops": moved} if moved else None
