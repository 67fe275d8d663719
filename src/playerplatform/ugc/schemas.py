"""Wire models of the ugc domain."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from playerplatform.kit.pagination import CursorTime
from playerplatform.ugc.policy import filename_problem
from playerplatform.users.schemas import PublicUserOut

UgcType = Literal["map", "mod", "image", "video", "text", "bundle"]
Visibility = Literal["public", "private", "unlisted"]
Status = Literal[
    "draft", "uploaded", "scanning", "pending_review", "published", "flagged", "removed"
]
Sort = Literal["newest", "top_rated", "most_downloaded", "hot"]
ReportReason = Literal["spam", "offensive", "malware", "copyright", "cheating", "other"]
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
SHA256 = r"^[0-9a-fA-F]{64}$"
CONTENT_TYPE = r"^[a-z]+/[a-z0-9.+-]{1,100}$"
MAX_TAGS = 10
METADATA_MAX_KEYS = 32


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
    if value is not None and (
        len(value) > METADATA_MAX_KEYS or len(repr(value)) > 4096 or any(len(k) > 64 for k in value)
    ):
        raise ValueError(f"metadata is limited to {METADATA_MAX_KEYS} keys and 4 KB")
    return value


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


class UgcCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: UgcType
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)
    visibility: Visibility = "public"
    file: FileIn

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str] | None) -> list[str] | None:
        return _tags(value)

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _metadata(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ord(c) < 32 for c in value):
            raise ValueError("the name must be visible text on one line")
        return value


class UgcPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    tags: list[str] | None = Field(None, max_length=50)
    metadata: dict[str, Any] | None = None
    visibility: Visibility | None = None

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str] | None) -> list[str] | None:
        return _tags(value)

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _metadata(value)

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


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=1, le=5, strict=True)


class MyRatingOut(BaseModel):
    ugc_id: str
    value: int
    rating: RatingOut


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReportReason
    description: str | None = Field(None, max_length=2000)


class ReportOut(BaseModel):
    report_id: str
    ugc_id: str
    reporter: str | None = None  # the reporter's canonical id, for moderators
    reason: str
    description: str | None
    status: str
    notes: str | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


class ItemDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "reject", "remove", "restore"]
    notes: str | None = Field(None, max_length=2000)


class ReportDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["uphold", "dismiss"]
    notes: str | None = Field(None, max_length=2000)


class AppealDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["grant", "deny"]
    notes: str | None = Field(None, max_length=2000)


# Cursors (opaque to clients, validated on the way in).


class TimeCursor(BaseModel):
    t: CursorTime
    i: str = Field(max_length=32)


class ValueCursor(BaseModel):
    v: float = Field(allow_inf_nan=False)
    i: str = Field(max_length=32)


class OffsetCursor(BaseModel):
    o: int = Field(ge=0, le=10_000)
