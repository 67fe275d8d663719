"""Parked items: how a batch job isolates a bad row (a poison message) instead of failing,
and retrying forever, for every row in its batch.

A batch job writes its rows in one statement inside a savepoint. When that fails, it writes
them one by one, each in a savepoint of its own (`write_isolating`): the good ones are saved
with the batch and each row that fails is parked here, in the job's own transaction, with the
error, and is not retried by the job. An operator sees what is parked (`playerplatform parked
list`, and per season in `playerplatform leaderboards check`), and either fixes the cause (a
later good write of the same key resolves the item: `resolve`) or discards it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from playerplatform.jobs import metrics
from playerplatform.jobs import parked_repository as repository
from playerplatform.jobs.models import ParkedItem
from playerplatform.kit.db import UnitOfWork, utcnow

log = structlog.get_logger("playerplatform.jobs")
ERROR_LIMIT = 2000
ITEM_LIMIT = 20_000

T = TypeVar("T")


@dataclass(frozen=True)
class Rejected:
    """A row the job set aside: its key, the row itself, and why."""

    key: str
    item: Any
    error: str


def storable(text: str) -> str:
    """`text` with what no column can hold (NULs, lone surrogates) written as escapes."""
    text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe(exc: BaseException) -> str:
    """An error as stored: without bytes the database refuses, bounded."""
    return storable(f"{type(exc).__name__}: {exc}")[:ERROR_LIMIT]


def _as_text(item: Any) -> str:
    # ASCII-escaped JSON: NULs and lone surrogates become `\u` escapes any column can hold.
    return json.dumps(item, ensure_ascii=True, default=repr, sort_keys=True)[:ITEM_LIMIT]


async def park(uow: UnitOfWork, source: str, scope: str, rejected: Sequence[Rejected]) -> None:
    """Record `rejected` rows of `source` (in the caller's transaction) and log each."""
    now = utcnow()
    scope = storable(scope)[:128]
    for row in rejected:
        key = storable(row.key)[:255]
        await repository.upsert(
            uow,
            source=source,
            scope=scope,
            key=key,
            item=_as_text(row.item),
            error=storable(row.error),
            now=now,
        )
        log.warning("item_parked", source=source, scope=scope, key=key, error=row.error)
    if rejected:
        metrics.PARKED.labels(source).inc(len(rejected))


async def write_isolating(
    uow: UnitOfWork,
    rows: Sequence[T],
    write: Callable[[Sequence[T]], Awaitable[None]],
    key: Callable[[T], str],
) -> list[Rejected]:
    """Write `rows` with `write` in one savepoint; when that fails, row by row, each in a
    savepoint of its own. Returns the rows that failed alone (written: all the others)."""
    if not rows:
        return []
    try:
        async with uow.session.begin_nested():
            await write(rows)
        return []
    except Exception as exc:  # one bad row fails the statement: find which
        log.info("batch_isolating", rows=len(rows), error=describe(exc))
    rejected: list[Rejected] = []
    for row in rows:
        try:
            async with uow.session.begin_nested():
                await write([row])
        except Exception as exc:
            rejected.append(Rejected(key(row), row, describe(exc)))
    return rejected


async def resolve(uow: UnitOfWork, source: str, keys: Sequence[str], resolution: str) -> int:
    """Mark the open items of `source` under `keys` resolved (a later write of the same key
    went through); returns how many were open."""
    return await repository.resolve(
        uow, source=source, keys=keys, resolution=resolution, now=utcnow()
    )


async def discard(uow: UnitOfWork, item_id: uuid.UUID) -> bool:
    """Give up on one open item (an operator's decision); False when none is open by that id."""
    return await repository.resolve_by_id(uow, item_id, resolution="discarded", now=utcnow())


async def open_items(
    uow: UnitOfWork, *, source: str | None = None, scope: str | None = None, limit: int = 100
) -> list[ParkedItem]:
    """Items still parked, oldest first."""
    return await repository.open_items(uow, source=source, scope=scope, limit=limit)


async def count_open(uow: UnitOfWork, source: str, scope: str) -> int:
    return await repository.count_open(uow, source=source, scope=scope)
