"""Feature flags and experiments: staff set them, every change audited and made live in every
process like a config change."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from playerplatform.audit import service as audit
from playerplatform.config import repository, validation
from playerplatform.config.models import Experiment, FeatureFlag
from playerplatform.config.schemas import (
    ExperimentIn,
    ExperimentOut,
    FlagIn,
    FlagOut,
    VariantOut,
)
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound
from playerplatform.kit.http import ClientInfo

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.config.live import LiveConfig

EXPORT_BATCH = 1000


def flag_out(flag: FeatureFlag) -> FlagOut:
    return FlagOut(
        name=flag.name,
        enabled=flag.enabled,
        rollout_percent=flag.rollout_percent,
        segment=flag.segment,
        description=flag.description,
        updated_by=flag.updated_by,
        updated_at=flag.updated_at,
    )


async def list_flags(uow: UnitOfWork) -> list[FlagOut]:
    return [flag_out(f) for f in await repository.all_flags(uow)]


async def get_flag(uow: UnitOfWork, name: str) -> FlagOut:
    flag = await repository.get_flag(uow, name)
    if flag is None:
        raise NotFound(f"No flag '{name}'.")
    return flag_out(flag)


async def put_flag(
    uow: UnitOfWork,
    live: LiveConfig,
    *,
    actor: Principal,
    name: str,
    body: FlagIn,
    client: ClientInfo,
) -> FlagOut:
    """Create or replace a flag. `enabled: false` is the kill switch: off for everyone."""
    await repository.take_next_state_version(uow)
    flag = await repository.get_flag(uow, name)
    old = flag_out(flag).model_dump(mode="json") if flag else None
    if flag is None:
        flag = FeatureFlag(name=name)
    flag.enabled = body.enabled
    flag.rollout_percent = body.rollout_percent
    flag.segment = body.segment.model_dump(mode="json", exclude_none=True) if body.segment else None
    flag.description = body.description
    flag.updated_by = actor.actor_id
    flag.updated_at = utcnow()
    await repository.add(uow, flag)
    out = flag_out(flag)
    await audit.record(
        uow,
        action="flag.update",
        resource_type="flag",
        actor=actor,
        resource_id=name,
        old=old,
        new=out.model_dump(mode="json"),
        client=client,
    )
    uow.after_commit(live.changed)
    return out


async def delete_flag(
    uow: UnitOfWork, live: LiveConfig, *, actor: Principal, name: str, client: ClientInfo
) -> None:
    await repository.take_next_state_version(uow)
    flag = await repository.get_flag(uow, name)
    if flag is None:
        raise NotFound(f"No flag '{name}'.")
    old = flag_out(flag).model_dump(mode="json")
    await repository.delete_flag(uow, flag)
    await audit.record(
        uow,
        action="flag.delete",
        resource_type="flag",
        actor=actor,
        resource_id=name,
        old=old,
        client=client,
    )
    uow.after_commit(live.changed)


def experiment_out(row: Experiment) -> ExperimentOut:
    return ExperimentOut(
        name=row.name,
        variants=[VariantOut(**v) for v in row.variants],
        segment=row.segment,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


async def list_experiments(uow: UnitOfWork) -> list[ExperimentOut]:
    return [experiment_out(e) for e in await repository.all_experiments(uow)]


async def get_experiment(uow: UnitOfWork, name: str) -> ExperimentOut:
    row = await repository.get_experiment(uow, name)
    if row is None:
        raise NotFound(f"No experiment '{name}'.")
    return experiment_out(row)


async def put_experiment(
    uow: UnitOfWork,
    live: LiveConfig,
    *,
    actor: Principal,
    name: str,
    body: ExperimentIn,
    client: ClientInfo,
) -> ExperimentOut:
    """Create or replace an experiment; its variants' values must match the config schemas.
    Changing the weights of a running experiment moves players between variants (their
    recorded exposure keeps the first one)."""
    await repository.take_next_state_version(uow)
    latest = await repository.latest_version(uow)
    validators = validation.compile_schemas(latest.schemas if latest else {})
    validation.check_values(
        validators, [(f"variants.{i}.values", v.values) for i, v in enumerate(body.variants)]
    )
    row = await repository.get_experiment(uow, name)
    old = experiment_out(row).model_dump(mode="json") if row else None
    if row is None:
        row = Experiment(name=name)
    row.variants = [v.model_dump(mode="json") for v in body.variants]
    row.segment = body.segment.model_dump(mode="json", exclude_none=True) if body.segment else None
    row.starts_at = body.starts_at
    row.ends_at = body.ends_at
    row.updated_by = actor.actor_id
    row.updated_at = utcnow()
    await repository.add(uow, row)
    out = experiment_out(row)
    await audit.record(
        uow,
        action="experiment.update",
        resource_type="experiment",
        actor=actor,
        resource_id=name,
        old=old,
        new=out.model_dump(mode="json"),
        client=client,
    )
    uow.after_commit(live.changed)
    return out


async def exposures_csv(uow: UnitOfWork, name: str) -> bytes:
    """Every recorded exposure of the experiment as CSV: `experiment, canonical_id, variant,
    exposed_at`, for the studio's analytics."""
    from playerplatform.users import service as users

    if await repository.get_experiment(uow, name) is None:
        raise NotFound(f"No experiment '{name}'.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["experiment", "canonical_id", "variant", "exposed_at"])
    after = None
    while True:
        rows = await repository.exposures(uow, name, after=after, limit=EXPORT_BATCH)
        if not rows:
            break
        cards = await users.canonical_ids(uow, [r.user_id for r in rows])
        for row in rows:
            writer.writerow(
                [name, cards.get(row.user_id, ""), row.variant, repository.as_time(row.exposed_at)]
            )
        after = rows[-1].user_id
    return out.getvalue().encode()
