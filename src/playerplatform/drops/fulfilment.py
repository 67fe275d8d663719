"""Marking granted drops FULFILLED at Twitch (`PATCH /helix/entitlements/drops`).

A fulfilment job names entitlement ids. It reads which of them are still `granted` (without
holding a write lock), asks Twitch in batches of 100, then records the per-id answers:
`SUCCESS` → `fulfilled`; `NOT_FOUND` or `UNAUTHORIZED` → `failed` (Twitch will never accept
them: staff see them in the campaign's numbers); `UPDATE_FAILED` (or an id Twitch did not
mention) → tried again in a follow-up job after a growing delay, up to
`drops_fulfil_max_attempts` rounds, then `failed`. A transport failure raises, so the job
itself retries with backoff. Marking FULFILLED twice is harmless at Twitch, so a job run
twice after a crash changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from playerplatform.drops import repository
from playerplatform.drops.grants import queue_fulfilment
from playerplatform.drops.models import FAILED, FULFILLED, GRANTED
from playerplatform.jobs.registry import JobRun
from playerplatform.kit.db import UnitOfWork, utcnow

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

log = structlog.get_logger("playerplatform.drops")
FINAL_REFUSALS = frozenset({"NOT_FOUND", "UNAUTHORIZED"})


async def fulfil_drops(uow: UnitOfWork, job: JobRun, rt: Runtime) -> None:
    ids = [str(i) for i in job.payload.get("entitlement_ids") or []]
    round_ = int(job.payload.get("round", 1))
    async with rt.db.unit_of_work(write=False) as read:
        pending = await repository.unfulfilled(read, ids)
    if not pending:
        return
    statuses = (await rt.twitch_app.fulfil(pending)).statuses
    done = [i for i in pending if statuses.get(i) == "SUCCESS"]
    refused = [i for i in pending if statuses.get(i) in FINAL_REFUSALS]
    again = [i for i in pending if i not in done and i not in refused]
    now = utcnow()
    await repository.set_status(
        uow, done, status=FULFILLED, expect=GRANTED, values={"fulfilled_at": now}
    )
    for entitlement_id in refused:
        await repository.set_status(
            uow,
            [entitlement_id],
            status=FAILED,
            expect=GRANTED,
            values={"last_error": statuses[entitlement_id]},
        )
    await repository.count_fulfil_attempt(uow, again, "UPDATE_FAILED")
    if refused:
        log.warning("drops_fulfilment_refused", entitlement_ids=refused)
    if not again:
        return
    if round_ >= rt.settings.drops_fulfil_max_attempts:
        await repository.set_status(uow, again, status=FAILED, expect=GRANTED)
        log.error("drops_fulfilment_gave_up", entitlement_ids=again, rounds=round_)
        return
    delay = rt.settings.drops_fulfil_retry_seconds * 2 ** (round_ - 1)
    await queue_fulfilment(uow, again, round_=round_ + 1, delay=delay)
