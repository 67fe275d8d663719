"""Wire models of the ugc domain."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from playerplatform.kit.edge import EdgeModel, JsonDocument, clean_line
from playerplatform.kit.pagination import CursorKey, CursorNumber, CursorText, CursorTime
from playerplatform.ugc.policy import filename_problem
from playerplatform.users.schemas import PublicUserOut

UgcType = Literal["map", "mod", "image", "video", "text", "bundle"]
Visibility = Literal["public", "private", "unlisted"]
Status = Literal[
    "draft", "uploaded", "scanning", "pending_review", "published", "flagged", "removed"
]
Sort = Literal["newest", "top_rated", "most_downloaded", "hot"]
ReportReason = Literal["spam", "offensive", "malware", "copyright", "cheating", "other"]
TAG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
TAG = re.compile(TAG_PATTERN)
SHA256 = r"^[0-9a-fA-F]{64}$"
CONTENT_TYPE = r"^[a-z]+/[a-z0-9.+-]{1,100}$"
MAX_TAGS = 10
METADATA_MAX_KEYS = 32
METADATA_MAX_BYTES = 4096


def _tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    tags: list[str] = []
    for raw in value:
        tag = raw.strip().lower()
        if not TAG.match(tag):
            raise ValueError(
                "tags are 1-32 lowercase letters, digits, '-' or '_', starting with a letter"
                " or digit"
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


def _metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and (len(value) > METADATA_MAX_KEYS or any(len(k) > 64 for k in value)):
        raise ValueError(f"metadata is limited to {METADATA_MAX_KEYS} keys of 64 characters")
    return value


Metadata = Annotated[
    dict[str, Any], JsonDocument(max_bytes=METADATA_MAX_BYTES), AfterValidator(_metadata)
]
# An item's name, on creation and on every change: visible text on one line.
Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(clean_line)]


class FileIn(EdgeModel):
    filename: str = Field(min_length=1, max_length=120)
    size: int = Field(ge=1, le=2**53)
    content_type: str = Field(pattern=CONTENT_TYPE)
    sha256: str = Field(pattern=SHA256)

    @field_validator("filename")
    @classmethod
    def _plain_filename(cls, value: str) -> str:
        problem = filename_problem(value)
        if problem:
            raise ValueError(f"the file name {problem}")
        return value

    @field_validator("sha256")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UgcCreate(EdgeModel):
    type: UgcType
    name: Name
    description: str = Field("", max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    metadata: Metadata = Field(default_factory=dict)
    visibility: Visibility = "public"
    file: FileIn

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str] | None) -> list[str] | None:
        return _tags(value)


class UgcPatch(EdgeModel):
    name: Name | None = None
    description: str | None = Field(None, max_length=5000)
    tags: list[str] | None = Field(None, max_length=50)
    metadata: Metadata | None = None
    visibility: Visibility | None = None

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str] | None) -> list[str] | None:
        return _tags(value)

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}


class RatingOut(BaseModel):
    average: float
    count: int


class UgcOut(BaseModel):
    ugc_id: str
    creator: PublicUserOut
    type: str
    name: str
    description: str
    tags: list[str]
    metadata: dict[str, Any]
    status: str
    visibility: str
    checksum: str
    size: int
    content_type: str
    filename: str
    downloads_count: int
    rating: RatingOut
    created_at: dt.datetime
    published_at: dt.datetime | None
    # For the creator and moderators only (None for everyone else).
    status_reason: str | None = None
    status_note: str | None = None
    scan: str | None = None  # pending / clean / infected / unscanned / unsafe


class UploadOut(BaseModel):
    url: str
    method: str
    headers: dict[str, str]
    expires_at: dt.datetime


class DraftOut(BaseModel):
    ugc: UgcOut
    upload: UploadOut


class RatingIn(EdgeModel):
    value: int = Field(ge=1, le=5)


class MyRatingOut(BaseModel):
    ugc_id: str
    value: int
    rating: RatingOut


class ReportIn(EdgeModel):
    reason: ReportReason
    description: str | None = Field(None, max_length=2000)


class ReportOut(BaseModel):
    report_id: str
    ugc_id: str
    reporter: str | None = None  # the reporter's canonical id, for moderators
    reason: str
    description: str | None
    status: str
    # For moderators: what the report counts towards hiding the item (1: a mature, verified
    # reporter with no history).
    weight: float | None = None
    notes: str | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None


class AppealIn(EdgeModel):
    message: str = Field(min_length=1, max_length=4000)


class AppealOut(BaseModel):
    appeal_id: str
    ugc_id: str
    appellant: str
    message: str
    status: str
    notes: str | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None


class ItemDecisionIn(EdgeModel):
    action: Literal["approve", "reject", "remove", "restore"]
    notes: str | None = Field(None, max_length=2000)


class ReportDecisionIn(EdgeModel):
    action: Literal["uphold", "dismiss"]
    notes: str | None = Field(None, max_length=2000)


class AppealDecisionIn(EdgeModel):
    action: Literal["grant", "deny"]
    notes: str | None = Field(None, max_length=2000)


# Cursors (opaque to clients, validated on the way in).


class TimeCursor(CursorKey):
    t: CursorTime
    i: CursorText


class ValueCursor(CursorKey):
    v: CursorNumber
    i: CursorText


class OffsetCursor(CursorKey):
    o: int = Field(ge=0, le=10_000)
