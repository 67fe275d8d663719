"""Commerce job handlers and periodic work.

- `grant_entitlement`: grant a SKU to a player outside a request (drops, tools). Payload
  `{canonical_id, sku_id, quantity?, reason, source?}`; the grant keys derive from the job's
  key (enqueue it with a key made of the provider's id, e.g. `twitch:<entitlement id>`), so a
  redelivered or re-enqueued job grants nothing twice.
- `revoke_entitlement`: a reported reversal (`{provider, provider_order_id, status,
  itemids}`, key = provider ids and status) or one entitlement (`{entitlement_id, reason}`).
- `revoke_entitlement` kind `reconcile` (every minute): poll Steam and Epic for reversals.
- `revoke_entitlement` kind `purge_idempotency` (hourly): drop expired Idempotency-Key rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from playerplatform.commerce import reconcile, repository
from playerplatform.commerce.wallet import grant_parts, parts_of, revoke_where
from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.idempotency import purge_expired

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.commerce")
REVOCATION_REASONS = frozenset({"refund", "ban", "manual"})


async def grant_entitlement(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    from playerplatform.users import service as users

    payload = job.payload
    user = await users.get_by_canonical(uow, str(payload["canonical_id"]))
    sku = await repository.get_sku(uow, str(payload["sku_id"]))
    if sku is None:
        raise LookupError(f"unknown SKU {payload['sku_id']!r}")
    quantity = max(1, int(payload.get("quantity", 1)))
    await grant_parts(
        uow,
        runtime.hot,
        runtime.settings,
        user_id=user.id,
        parts=await parts_of(uow, sku, quantity),
        key_prefix=f"job:{job.key or job.public_id}",
        source=str(payload.get("source", "job"))[:16],
        reason=str(payload.get("reason", "job grant")),
    )


async def revoke_entitlement(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    payload = job.payload
    if "provider_order_id" in payload:
        await reconcile.apply(uow, runtime, reconcile.Reversal.of(payload))
        return
    reason = str(payload.get("reason", "manual"))
    await revoke_where(
        uow,
        runtime.hot,
        runtime.settings,
        where=repository.entitlement_by_public_id(str(payload["entitlement_id"])),
        reason=reason if reason in REVOCATION_REASONS else "manual",
    )


async def reconcile_refunds(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    report = await reconcile.poll(runtime)  # network first, then the one short write
    await reconcile.record(uow, report)
    if report.errors:  # the other provider's findings still commit; the next tick retries
        log.warning("commerce_reconcile_failed", errors=report.errors)


async def purge_idempotency(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    await purge_expired(uow)
