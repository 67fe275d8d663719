"""Cursor pagination shared by every list route.

A route takes `page: PageParams = Depends(page_params)` (`?limit=` 1-100, default 20, and
`?cursor=`), fetches `page.limit + 1` rows after the decoded cursor in a stable order, and
returns `Page[T]` built with `paginate`. The cursor is opaque to clients: base64url of compact
JSON holding the last row's sort key. It is not signed: it holds nothing a client could gain
by forging, so it is decoded and fully validated instead, by a small `CursorKey` model per
route whose fields are bounded types a database can compare (`CursorTime`, `CursorId`,
`CursorText`, `CursorNumber`). A garbled, tampered or absurd cursor (`{"v": 1e308}`, a time
without its zone, a NUL) is a 422 `validation_error` naming `cursor`, never a 500.

    class SeenUpTo(CursorKey):
        t: CursorTime
        i: CursorText

    after = decode_cursor(page.cursor, SeenUpTo)
    rows = await repository.list_things(uow, after=after, limit=page.limit + 1)
    return paginate(rows, page.limit, lambda r: SeenUpTo(t=r.created_at, i=r.public_id), to_out)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field, ValidationError

from playerplatform.kit.edge import SAFE_INTEGER, EdgeModel, Timestamp
from playerplatform.kit.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 512

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound="CursorKey")


class CursorKey(EdgeModel):
    """Base of the models cursors carry: strict, closed, text-checked (see `EdgeModel`)."""


# Sort-key field types for cursor models: values a database can compare, whatever a client
# pastes into the cursor.
CursorTime = Timestamp  # an RFC 3339 string with its zone
CursorId = Annotated[int, Field(ge=0, le=2**63 - 1)]
CursorNumber = Annotated[float, Field(ge=-SAFE_INTEGER, le=SAFE_INTEGER, allow_inf_nan=False)]


CursorText = Annotated[str, Field(min_length=1, max_length=64)]  # an id


class Page(BaseModel, Generic[T]):
    """One page of a list: `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None

    def view_name(self, prefix: str) -> str:
        """The name of this page among an owner's cached views (`kit.views`): `prefix` says
        what the list holds (its filters), then the limit and the cursor."""
        return f"{prefix}:{self.limit}:{self.cursor or ''}"


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page."),
    cursor: str | None = Query(
        None, max_length=MAX_CURSOR_CHARS, description="`next_cursor` of the previous page."
    ),
) -> PageParams:
    """The `?limit=&cursor=` pair (dependency)."""
    return PageParams(limit=limit, cursor=cursor or None)


def encode_cursor(key: CursorKey) -> str:
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
    key_of: Callable[[R], CursorKey],
    to_item: Callable[[R], T],
) -> Page[T]:
    """Build a page from up to `limit + 1` rows: the extra row only says another page exists."""
    shown = list(rows[:limit])
    next_cursor = encode_cursor(key_of(shown[-1])) if len(rows) > limit and shown else None
    return Page[T](items=[to_item(r) for r in shown], next_cursor=next_cursor)
