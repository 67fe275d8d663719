"""Wire models of player safety: feedback, reports, sanctions, appeals and the queue."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from playerplatform.kit.db import utcnow
from playerplatform.kit.edge import EdgeModel, JsonDocument, Timestamp, clean_line
from playerplatform.kit.pagination import CursorId, CursorKey, CursorText, CursorTime

REPORT_REASONS = (
    "cheating",
    "harassment",
    "hate",
    "spam",
    "inappropriate_name",
    "impersonation",
    "other",
)
ReportReason = Literal[
    "cheating", "harassment", "hate", "spam", "inappropriate_name", "impersonation", "other"
]
TargetType = Literal["player", "ugc", "leaderboard_entry", "message"]
SanctionType = Literal["warning", "mute", "suspension", "ban", "restriction"]
SanctionScope = Literal["all", "leaderboards", "ugc", "social", "name"]
FeedbackCategory = Literal["bug", "suggestion", "praise", "other"]
FeedbackStatus = Literal["new", "triaged", "in_progress", "resolved", "wont_fix", "duplicate"]
QueueType = Literal["ugc_review", "report", "appeal", "feedback"]
MAX_SANCTION_YEARS = 100
MAX_ATTACHMENTS = 5

TargetId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Line = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(clean_line)]
Context = Annotated[dict[str, Any], JsonDocument(max_bytes=8192)]
# A file name, not a path: letters, digits, dot, dash, underscore; no leading dot.
FILENAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")


class TargetIn(EdgeModel):
    type: TargetType
    id: TargetId


class ReportIn(EdgeModel):
    target: TargetIn
    reason: ReportReason
    description: str | None = Field(None, max_length=2000)
    context: Context | None = None


class ReportOut(BaseModel):
    report_id: str
    target: dict[str, str]
    reason: str
    status: str  # open / actioned / dismissed: the outcome, without details
    created_at: dt.datetime


class SanctionIn(EdgeModel):
    canonical_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    type: SanctionType
    scope: SanctionScope = "all"
    reason: ReportReason
    ends_at: Timestamp | None = Field(None, description="RFC 3339, in the future; absent: none.")
    report_ids: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=50
    )
    notes: str | None = Field(None, max_length=2000)
    message: Line | None = Field(None, description="Words for the player beside the reason.")

    @field_validator("ends_at")
    @classmethod
    def _in_future(cls, ends_at: dt.datetime | None) -> dt.datetime | None:
        if ends_at is None:
            return None
        now = utcnow()
        if ends_at <= now:
            raise ValueError("must be in the future")
        if ends_at > now + dt.timedelta(days=365 * MAX_SANCTION_YEARS):
            raise ValueError(f"must be within {MAX_SANCTION_YEARS} years")
        return ends_at

    @model_validator(mode="after")
    def _scope_fits_type(self) -> SanctionIn:
        if self.type == "restriction" and self.scope == "all":
            raise ValueError("a restriction names its scope: leaderboards, ugc, social or name")
        if self.type in ("warning", "suspension", "ban") and self.scope != "all":
            raise ValueError(f"a {self.type} covers the whole account (scope 'all')")
        if self.type == "mute" and self.scope not in ("all", "social"):
            raise ValueError("a mute's scope is 'all' or 'social'")
        if self.type == "suspension" and self.ends_at is None:
            raise ValueError("a suspension needs ends_at")
        return self


class LiftIn(EdgeModel):
    reason: Line


class SanctionOut(BaseModel):
    """What the player sees of a sanction: never who reported them."""

    sanction_id: str
    type: str
    scope: str
    reason: str
    message: str | None = None
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    lifted_at: dt.datetime | None = None
    active: bool
    appealable: bool


class StaffSanctionOut(SanctionOut):
    canonical_id: str
    notes: str | None
    report_ids: list[str]
    imposed_by: str
    lifted_by: str | None
    lift_reason: str | None


class SanctionsOut(BaseModel):
    items: list[SanctionOut]


class GroupDecisionIn(EdgeModel):
    action: Literal["action", "dismiss"]
    notes: str | None = Field(None, max_length=2000)


class GroupOut(BaseModel):
    group_id: str
    status: str
    reporters: int
    reasons: dict[str, int]


class AppealTargetIn(EdgeModel):
    type: Literal["sanction", "ugc"]
    id: TargetId


class AppealIn(EdgeModel):
    target: AppealTargetIn
    message: str = Field(min_length=1, max_length=4000)


class AppealOut(BaseModel):
    appeal_id: str
    target: dict[str, str]
    message: str
    status: str
    notes: str | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None
    # Kept for the UGC appeal routes' readers.
    ugc_id: str | None = None
    appellant: str | None = None


class AppealDecisionIn(EdgeModel):
    action: Literal["grant", "deny"]
    notes: str | None = Field(None, max_length=2000)


class AttachmentIn(EdgeModel):
    filename: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=1)
    content_type: str = Field(min_length=3, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, filename: str) -> str:
        if not FILENAME.match(filename) or ".." in filename:
            raise ValueError("must be a plain file name (letters, digits, . _ -), not a path")
        return filename


class FeedbackIn(EdgeModel):
    category: FeedbackCategory
    message: str = Field(min_length=1, max_length=4000)
    build: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    platform: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    context: Context | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)

    @field_validator("attachments")
    @classmethod
    def _distinct_names(cls, attachments: list[AttachmentIn]) -> list[AttachmentIn]:
        if len({a.filename for a in attachments}) != len(attachments):
            raise ValueError("file names must be distinct")
        return attachments


class AttachmentOut(BaseModel):
    filename: str
    size: int
    content_type: str
    scan_state: str


class FeedbackOut(BaseModel):
    feedback_id: str
    category: str
    message: str
    build: str | None
    platform: str | None
    context: dict[str, Any] | None
    status: str
    reply: str | None
    attachments: list[AttachmentOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class StaffFeedbackOut(FeedbackOut):
    canonical_id: str
    tags: list[str]
    notes: str | None
    duplicate_of: str | None


class UploadOut(BaseModel):
    filename: str
    method: str
    url: str
    headers: dict[str, str]
    expires_at: dt.datetime


class FeedbackCreated(BaseModel):
    feedback: FeedbackOut
    uploads: list[UploadOut]


class FeedbackPatch(EdgeModel):
    status: FeedbackStatus | None = None
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        None, max_length=20
    )
    notes: str | None = Field(None, max_length=4000)
    duplicate_of: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    reply: str | None = Field(None, min_length=1, max_length=4000)


class AttachmentLink(BaseModel):
    filename: str
    url: str


class QueueItemOut(BaseModel):
    item_id: str
    type: str
    status: str
    priority: int
    age_seconds: int
    assignee: str | None
    subject: dict[str, Any]


class QueueItemDetail(QueueItemOut):
    """An item with a preview of the content under review (UGC), when there is one."""

    preview: dict[str, Any] | None


class TimeCursor(CursorKey):
    t: CursorTime
    i: CursorText


class QueueCursor(CursorKey):
    p: CursorId
    t: CursorTime
    i: CursorText
