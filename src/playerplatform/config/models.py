"""Tables of the config domain: the change counter, versions of the config document, feature
flags, experiments, and the exposures recorded once per player and experiment."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from playerplatform.kit.db import Base, JSONType, utcnow


class ConfigState(Base):
    """One row: the number of every change to config, flags or experiments. Each change
    takes it (`UPDATE ... SET version = version + 1`), so changes are serialised and a
    process knows from this number alone whether its copy is current."""

    __tablename__ = "config_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConfigVersion(Base):
    """A whole config document as one change left it: values, their schemas and the
    per-segment overrides. Never updated; a rollback is a new version copying an old one."""

    __tablename__ = "config_versions"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)
    schemas: Mapped[dict[str, Any]] = mapped_column(JSONType)
    overrides: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    diff: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    author: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    rolled_back_to: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class FeatureFlag(Base):
    __tablename__ = "feature_flags"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    rollout_percent: Mapped[float | None] = mapped_column(default=None)
    segment: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    description: Mapped[str | None] = mapped_column(sa.String(500), default=None)
    updated_by: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    __tablename__ = "experiments"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    segment: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(sa.String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ExperimentExposure(Base):
    """The variant a player was first served in an experiment, for the studio's analytics."""

    __tablename__ = "experiment_exposures"

    experiment: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    variant: Mapped[str] = mapped_column(sa.String(64))
    exposed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
