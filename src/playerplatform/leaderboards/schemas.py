"""Wire models of the leaderboards domain."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from croniter import croniter  # type: ignore[import-untyped,unused-ignore]
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from playerplatform.kit.edge import (
    EdgeModel,
    JsonDocument,
    JsonObject,
    NotNull,
    Timestamp,
    clean_line,
    json_number,
)
from playerplatform.kit.pagination import CursorKey, CursorText, CursorTime
from playerplatform.kit.ratelimit import Quota
from playerplatform.users.schemas import CANONICAL_ID_PATTERN

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


def _exact(value: Any) -> Any:
    """An integer score must be one a double holds exactly: never rounded on the way in."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SCORE:
        raise ValueError(f"must be a finite number within ±{MAX_SCORE:.0f}")
    return value


# A score on the way in: a JSON number (never a string or a boolean), exact, finite, bounded.
Score = Annotated[float, BeforeValidator(_exact), AfterValidator(_finite)]
# A score on the way out: whole numbers as JSON integers, on every route.
ScoreValue = Annotated[float, PlainSerializer(json_number, when_used="json")]
Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(clean_line)]


class SeasonRulesIn(EdgeModel):
    """The `metadata` keys the platform reads; any others are kept for the game."""

    score_min: Score | None = None
    score_max: Score | None = None
    submission_rate: str | None = Field(None, max_length=32, description='e.g. "10/minute"')

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


class RewardLine(EdgeModel):
    sku_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    quantity: int = Field(1, ge=1, le=1000)


class RewardTier(EdgeModel):
    """Ranks `from_rank`..`to_rank` (inclusive) get `attachments` when the season closes."""

    from_rank: int = Field(ge=1, le=10**9)
    to_rank: int = Field(ge=1, le=10**9)
    attachments: list[RewardLine] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> RewardTier:
        if self.to_rank < self.from_rank:
            raise ValueError("to_rank must not be below from_rank")
        return self


class SeasonIn(EdgeModel):
    season_id: str = Field(pattern=SEASON_ID)
    name: Name
    type: SeasonType = "global"
    sort: Sort = "desc"
    operator: Operator = "best"
    reset_rule: ResetRule = "archive"
    start_date: Timestamp | None = None
    end_date: Timestamp | None = None
    recurrence: str | None = Field(None, max_length=64)
    authoritative: bool = False
    metadata: JsonObject = Field(default_factory=dict)
    reward_tiers: list[RewardTier] | None = Field(None, max_length=50)

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


class SeasonPatch(EdgeModel):
    """Only the fields sent change; `end_date` and `recurrence` are cleared by null."""

    name: Annotated[Name | None, NotNull()] = None
    start_date: Annotated[Timestamp | None, NotNull()] = None
    end_date: Timestamp | None = None
    recurrence: str | None = Field(None, max_length=64)
    authoritative: Annotated[bool | None, NotNull()] = None
    metadata: Annotated[JsonObject | None, NotNull()] = None

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
    reward_tiers: list[dict[str, Any]] | None = None


class SeasonCursor(CursorKey):
    t: CursorTime
    i: CursorText


class ScoreIn(EdgeModel):
    score: Score
    # Its size limit is a setting (`PP_LEADERBOARD_METADATA_MAX_BYTES`, 413 above it).
    metadata: Annotated[dict[str, Any], JsonDocument(max_bytes=None)] | None = None
    region: str | None = Field(None, pattern=REGION)
    canonical_id: str | None = Field(None, pattern=CANONICAL_ID_PATTERN)


class ScoreOut(BaseModel):
    rank: int
    score: ScoreValue
    improved: bool


class EntryUser(BaseModel):
    canonical_id: str
    display_name: str | None


class EntryOut(BaseModel):
    rank: int
    user: EntryUser
    score: ScoreValue
    metadata: dict[str, Any] | None
    submitted_at: dt.datetime
    region: str | None = None


class BoardPage(BaseModel):
    items: list[EntryOut]
    total: int


class RemovalIn(EdgeModel):
    reason: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(clean_line)]
