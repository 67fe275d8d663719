"""Wire models of the live configuration API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from playerplatform.kit.edge import EdgeModel, JsonDocument, NotNull, Timestamp, clean_line
from playerplatform.kit.pagination import CursorId, CursorKey
from playerplatform.users.segments import Segment

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
MAX_KEYS = 1000
MAX_OVERRIDES = 100
MAX_DOCUMENT_BYTES = 1_048_576

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(clean_line)]
Values = Annotated[dict[Key, Any], Field(max_length=MAX_KEYS), JsonDocument(MAX_DOCUMENT_BYTES)]
JsonSchema = Annotated[dict[str, Any], JsonDocument()]


class OverrideIn(EdgeModel):
    """Values for the players a segment matches (see the resolution order)."""

    segment: Segment
    values: Values


class ConfigIn(EdgeModel):
    """The whole config document. `values` replaces the current values; `schemas` and
    `overrides`, when given, replace the current ones, and stay as they are when left out."""

    values: Values
    schemas: Annotated[dict[Key, JsonSchema], Field(max_length=MAX_KEYS), NotNull()] | None = None
    overrides: Annotated[list[OverrideIn], Field(max_length=MAX_OVERRIDES), NotNull()] | None = None
    reason: Reason | None = None


class RollbackIn(EdgeModel):
    version: int = Field(ge=1, le=2**31 - 1, description="The version to bring back.")
    reason: Reason | None = None


class OverrideOut(BaseModel):
    segment: dict[str, Any]
    values: dict[str, Any]


class ConfigOut(BaseModel):
    version: int
    values: dict[str, Any]
    schemas: dict[str, Any]
    overrides: list[OverrideOut]
    author: str | None
    reason: str | None
    created_at: dt.datetime | None


class Change(BaseModel):
    """One key's change between a version and the one before it."""

    key: str
    op: str = Field(description="added, changed or removed")
    old: Any = None
    new: Any = None


class HistoryItem(BaseModel):
    version: int
    author: str
    reason: str | None
    created_at: dt.datetime
    diff: list[Change]
    rolled_back_to: int | None = None


class HistoryCursor(CursorKey):
    v: CursorId


class FlagIn(EdgeModel):
    enabled: bool
    rollout_percent: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)
    segment: Segment | None = None
    description: Annotated[str, Field(max_length=500)] | None = None


class FlagOut(BaseModel):
    name: str
    enabled: bool
    rollout_percent: float | None
    segment: dict[str, Any] | None
    description: str | None
    updated_by: str
    updated_at: dt.datetime


class VariantIn(EdgeModel):
    name: str = Field(pattern=NAME_PATTERN)
    weight: int = Field(ge=0, le=1_000_000)
    values: Values = Field(default_factory=dict)


class ExperimentIn(EdgeModel):
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=20)]
    segment: Segment | None = None
    starts_at: Timestamp
    ends_at: Timestamp

    @model_validator(mode="after")
    def _check(self) -> ExperimentIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        if sum(v.weight for v in self.variants) <= 0:
            raise ValueError("the variants' weights must add up to more than 0")
        return self


class VariantOut(BaseModel):
    name: str
    weight: int
    values: dict[str, Any]


class ExperimentOut(BaseModel):
    name: str
    variants: list[VariantOut]
    segment: dict[str, Any] | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime


class ClientConfigOut(BaseModel):
    """The caller's resolved configuration (see docs/config.md for the resolution order)."""

    version: int
    values: dict[str, Any]
    flags: dict[str, bool]
    experiments: dict[str, str]
