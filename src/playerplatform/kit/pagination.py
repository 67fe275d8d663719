"""Cursor pagination shared by every list route.

A route takes `page: PageParams = Depends(page_params)` (`?limit=` 1-100, default 20, and
`?cursor=`), fetches `page.limit + 1` rows after the decoded cursor in a stable order, and
returns `Page[T]` built with `paginate`. The cursor is opaque to clients: base64url of compact
JSON holding the last row's sort key, validated by a small pydantic model per route, so a
garbled or tampered cursor is a 422 `validation_error`, never a 500.

    class SeenUpTo(BaseModel):
        t: CursorTime
        i: str

    after = decode_cursor(page.cursor, SeenUpTo)
    rows = await repository.list_things(uow, after=after, limit=page.limit + 1)
    return paginate(rows, page.limit, lambda r: SeenUpTo(t=r.created_at, i=r.public_id), to_out)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from playerplatform.kit.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 512

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=BaseModel)


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (naive ones are taken as UTC); ValueError when out of range."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("datetime out of range")


# Sort-key field types for cursor models: values a database can compare, whatever a client
# pastes into the cursor.
CursorTime = Annotated[dt.datetime, AfterValidator(as_utc)]
CursorId = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Page(BaseModel, Generic[T]):
    """One page of a list: `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page."),
    cursor: str | None = Query(
        None, max_length=MAX_CURSOR_CHARS, description="`next_cursor` of the previous page."
    ),
) -> PageParams:
    """The `?limit=&cursor=` pair (dependency)."""
    return PageParams(limit=limit, cursor=cursor or None)


def encode_cursor(key: BaseModel) -> str:
    raw = key.model_dump_json(exclude_none=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, key: type[K]) -> K | None:
    """The sort key a cursor carries, or None for the first page; 422 when it is not one of
    ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return key.model_validate_json(raw)
    except (binascii.Error, ValueError, ValidationError):
        raise ValidationFailed("The cursor is not valid.", field="cursor")


def paginate(
    rows: Sequence[R],
    limit: int,
    key_of: Callable[[R], BaseModel],
    to_item: Callable[[R], T],
) -> Page[T]:
    """Build a page from up to `limit + 1` rows: the extra row only says another page exists."""
    shown = list(rows[:limit])
    next_cursor = encode_cursor(key_of(shown[-1])) if len(rows) > limit and shown else None
    return Page[T](items=[to_item(r) for r in shown], next_cursor=next_cursor)
