"""Streamed exports of a filtered feedback view: CSV or JSON lines, read a page at a time in
a read-only unit of work of their own, so an export of any size holds no request open on
the database longer than one page and never loads the whole view."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.responses import StreamingResponse

from playerplatform.safety import feedback

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

COLUMNS = (
    "feedback_id",
    "category",
    "status",
    "message",
    "build",
    "platform",
    "tags",
    "duplicate_of",
    "created_at",
)


def _csv_line(values: list[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue().encode()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    text = "" if value is None else str(value)
    # A cell starting like a formula is quoted, so a spreadsheet shows it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def export_stream(runtime: Runtime, fmt: str, **filters: str | None) -> StreamingResponse:
    async def rows() -> AsyncIterator[bytes]:
        if fmt == "csv":
            yield _csv_line(list(COLUMNS))
        async with runtime.db.unit_of_work(write=False) as uow:
            async for row in feedback.export_rows(uow, **filters):
                if fmt == "csv":
                    yield _csv_line([_cell(row[c]) for c in COLUMNS])
                else:
                    yield orjson.dumps(row) + b"\n"

    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    name = f"feedback.{'csv' if fmt == 'csv' else 'jsonl'}"
    return StreamingResponse(
        rows(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
