"""Wire models of the leaderboards domain."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from croniter import croniter  # type: ignore[import-untyped,unused-ignore]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from playerplatform.kit.pagination import CursorTime
from playerplatform.kit.ratelimit import Quota

SEASON_ID = r"^[A-Za-z0-9_-]{1,64}$"
REGION = r"^[A-Za-z0-9_-]{1,32}$"
SeasonType = Literal["global", "friends", "regional"]
Sort = Literal["desc", "asc"]
Operator = Literal["best", "latest", "increment"]
ResetRule = Literal["none", "archive", "clear"]
RECURRENCES = ("daily", "weekly", "monthly")
RESERVED_IDS = frozenset({"seasons"})  # `/leaderboards/seasons` is the list
MAX_SCORE = 2.0**53  # integers are exact up to here; see docs/leaderboards.md


def _finite(value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or abs(value) > MAX_SCORE):
        raise ValueError(f"must be a finite number within ±{MAX_SCORE:.0f}")
    return value


class SeasonRulesIn(BaseModel):
    """The `metadata` keys the platform reads; any others are kept for the game."""

    score_min: float | None = None
    score_max: float | None = None
    submission_rate: str | None = Field(None, max_length=32, description='e.g. "10/minute"')

    _bounds = field_validator("score_min", "score_max")(_finite)

    @field_validator("submission_rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Quota.parse(value)
            except ValueError as exc:
                raise ValueError("must use `limits` syntax, e.g. 10/minute") from exc
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SeasonRulesIn:
        low, high = self.score_min, self.score_max
        if low is not None and high is not None and low > high:
            raise ValueError("score_min must not exceed score_max")
        return self


def _platform_rules(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate the metadata keys the platform reads; the rest belongs to the game."""
    if value is not None:
        SeasonRulesIn.model_validate(
            {k: value[k] for k in ("score_min", "score_max", "submission_rate") if k in value}
        )
    return value


def _recurrence(value: str | None) -> str | None:
    if value is not None and value not in RECURRENCES and not croniter.is_valid(value):
        raise ValueError("must be daily, weekly, monthly or a cron expression")
    return value


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("must carry a time zone (RFC 3339)")
    return value.astimezone(dt.UTC) if value is not None else None


class SeasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    season_id: str = Field(pattern=SEASON_ID)
    name: str = Field(min_length=1, max_length=128)
    type: SeasonType = "global"
    sort: Sort = "desc"
    operator: Operator = "best"
    reset_rule: ResetRule = "archive"
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    recurrence: str | None = Field(None, max_length=64)
    authoritative: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)

    _dates = field_validator("start_date", "end_date")(_aware)
    _recurs = field_validator("recurrence")(_recurrence)

    @field_validator("season_id")
    @classmethod
    def _not_a_route(cls, value: str) -> str:
        if value in RESERVED_IDS:
            raise ValueError(f"{value!r} is reserved")
        return value

    _rules = field_validator("metadata")(_platform_rules)

    @model_validator(mode="after")
    def _window(self) -> SeasonIn:
        if self.start_date and self.end_date and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        if self.recurrence and self.end_date is None:
            raise ValueError("a recurring season needs an end_date")
        return self


class SeasonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=128)
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    recurrence: str | None = Field(None, max_length=64)
    authoritative: bool | None = None
    metadata: dict[str, Any] | None = None

    _dates = field_validator("start_date", "end_date")(_aware)
    _recurs = field_validator("recurrence")(_recurrence)
    _rules = field_validator("metadata")(_platform_rules)


class SeasonOut(BaseModel):
    season_id: str
    name: str
    type: str
    start_date: dt.datetime
    end_date: dt.datetime | None
    reset_rule: str
    sort: str
    operator: str
    is_active: bool
    metadata: dict[str, Any]
    recurrence: str | None
    authoritative: bool
    state: str


class SeasonCursor(BaseModel):
    t: CursorTime
    i: str = Field(max_length=64)


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float
    metadata: dict[str, Any] | None = None
    region: str | None = Field(None, pattern=REGION)
    canonical_id: str | None = Field(None, min_length=1, max_length=64)

    _score = field_validator("score")(_finite)


class ScoreOut(BaseModel):
    rank: int
    score: float
    improved: bool


class EntryUser(BaseModel):
    canonical_id: str
    display_name: str | None


class EntryOut(BaseModel):
    rank: int
    user: EntryUser
    score: float
    metadata: dict[str, Any] | None
    submitted_at: dt.datetime
    region: str | None = None


class BoardPage(BaseModel):
    items: list[EntryOut]
    total: int


class RemovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
