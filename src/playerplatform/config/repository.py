"""Every query of the config domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from playerplatform.config.models import (
    ConfigState,
    ConfigVersion,
    Experiment,
    ExperimentExposure,
    FeatureFlag,
)
from playerplatform.kit.db import UnitOfWork, insert_ignoring_conflicts, insert_unless_taken, utcnow

STATE_ROW = 1


async def state_version(uow: UnitOfWork) -> int:
    found = await uow.session.execute(
        sa.select(ConfigState.version).where(ConfigState.id == STATE_ROW)
    )
    return found.scalar_one_or_none() or 0


async def take_next_state_version(uow: UnitOfWork) -> int:
    """The next change number; holds the state row's lock until commit, so changes to the
    live configuration happen one after another."""
    updated = await uow.session.execute(
        sa.update(ConfigState)
        .where(ConfigState.id == STATE_ROW)
        .values(version=ConfigState.version + 1, updated_at=utcnow())
        .returning(ConfigState.version)
    )
    version = updated.scalar_one_or_none()
    if version is not None:
        return int(version)
    row = {"id": STATE_ROW, "version": 0, "updated_at": utcnow()}
    await insert_unless_taken(uow, ConfigState.__table__, row)
    return await take_next_state_version(uow)


async def latest_version(uow: UnitOfWork) -> ConfigVersion | None:
    found = await uow.session.execute(
        sa.select(ConfigVersion).order_by(ConfigVersion.version.desc()).limit(1)
    )
    return found.scalar_one_or_none()


async def get_version(uow: UnitOfWork, version: int) -> ConfigVersion | None:
    return await uow.session.get(ConfigVersion, version)


async def add_version(uow: UnitOfWork, row: ConfigVersion) -> None:
    uow.session.add(row)
    await uow.session.flush()


async def list_versions(
    uow: UnitOfWork, *, before: int | None, limit: int
) -> Sequence[ConfigVersion]:
    query = sa.select(ConfigVersion).order_by(ConfigVersion.version.desc()).limit(limit)
    if before is not None:
        query = query.where(ConfigVersion.version < before)
    return (await uow.session.execute(query)).scalars().all()


async def all_flags(uow: UnitOfWork) -> Sequence[FeatureFlag]:
    found = await uow.session.execute(sa.select(FeatureFlag).order_by(FeatureFlag.name))
    return found.scalars().all()


async def get_flag(uow: UnitOfWork, name: str) -> FeatureFlag | None:
    return await uow.session.get(FeatureFlag, name)


async def delete_flag(uow: UnitOfWork, flag: FeatureFlag) -> None:
    await uow.session.delete(flag)
    await uow.session.flush()


async def all_experiments(uow: UnitOfWork) -> Sequence[Experiment]:
    found = await uow.session.execute(sa.select(Experiment).order_by(Experiment.name))
    return found.scalars().all()


async def get_experiment(uow: UnitOfWork, name: str) -> Experiment | None:
    return await uow.session.get(Experiment, name)


async def add(uow: UnitOfWork, row: Any) -> None:
    uow.session.add(row)
    await uow.session.flush()


async def record_exposures(
    uow: UnitOfWork, user_id: uuid.UUID, assignments: Sequence[tuple[str, str]]
) -> None:
    """The first variant each experiment served this player; later ones change nothing."""
    now = utcnow()
    rows = [
        {"experiment": name, "user_id": user_id, "variant": variant, "exposed_at": now}
        for name, variant in assignments
    ]
    await uow.session.execute(insert_ignoring_conflicts(uow, ExperimentExposure.__table__), rows)


async def exposures(
    uow: UnitOfWork, experiment: str, *, after: uuid.UUID | None, limit: int
) -> Sequence[ExperimentExposure]:
    query = (
        sa.select(ExperimentExposure)
        .where(ExperimentExposure.experiment == experiment)
        .order_by(ExperimentExposure.user_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(ExperimentExposure.user_id > after)
    return (await uow.session.execute(query)).scalars().all()


async def exposures_of(uow: UnitOfWork, user_id: uuid.UUID) -> Sequence[ExperimentExposure]:
    found = await uow.session.execute(
        sa.select(ExperimentExposure)
        .where(ExperimentExposure.user_id == user_id)
        .order_by(ExperimentExposure.experiment)
    )
    return found.scalars().all()


def as_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
