"""`Idempotency-Key` for write routes marked (I) in the API contract, usable by any domain.

    key: str | None = Depends(idempotency_key)
    return await idempotent(request, uow, scope=principal.actor_id, key=key,
                            body=payload.model_dump(mode="json"), run=lambda: do_it(...))

Rules (API.md, Conventions): keys are scoped to the caller; a repeat with the same key and
body returns the first status and body with `Idempotent-Replayed: true`; the same key with
another body is 409 `idempotency_conflict`; a repeat while the first is still running waits
for it, then replays, or after `wait` seconds answers 409 `idempotency_in_progress`.

How exactly-once holds:
- The record is a row in the database, written in the *same* transaction as the effects it
  describes: the effects and the stored answer commit together or not at all. A crash before
  the commit leaves neither, so the retry runs again; after the commit the retry replays.
- The row is claimed before the work runs (INSERT ... ON CONFLICT DO NOTHING): on PostgreSQL
  a concurrent claim of the same key waits for the first transaction and then sees its row;
  on SQLite writers are serialised (BEGIN IMMEDIATE) so the second sees the committed row.
- A hot-store lock in front keeps concurrent repeats from each holding a database
  connection while they wait, and a hot-store copy of finished answers serves replays
  without the database. Both are accelerators: losing them loses no guarantee.

Failed requests are not recorded (their writes roll back), so a retry of a failed request
runs again, except errors raised with `commit=True` (state that must stick, e.g. a provider
refusing a payment), whose problem response is recorded and replayed like a success.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import Header
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response

from playerplatform.kit.db import Base, JSONType, UnitOfWork, insert_ignoring_conflicts, utcnow
from playerplatform.kit.errors import PROBLEM_CONTENT_TYPE, AppError, Conflict, ValidationFailed
from playerplatform.kit.hotstore import HotStore

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_CHARS = 128
DEFAULT_TTL_SECONDS = 24 * 3600.0
DEFAULT_WAIT_SECONDS = 5.0
LOCK_SECONDS = 30.0  # a holder that died (commit failed, process killed) blocks the key this long
POLL_SECONDS = 0.02
DONE = "done"


class IdempotencyRecord(Base):
    """One answered request per (caller scope, key), kept at least `DEFAULT_TTL_SECONDS`."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(sa.String(160), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_CHARS), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    response_status: Mapped[int | None] = mapped_column(default=None)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class IdempotencyConflict(Conflict):
    code, title = "idempotency_conflict", "Idempotency key reused with another request"


class IdempotencyInProgress(Conflict):
    code, title = "idempotency_in_progress", "A request with this idempotency key is running"


async def idempotency_key(
    key: str | None = Header(
        None,
        alias=KEY_HEADER,
        description="1-128 printable characters; a repeat replays the first answer.",
    ),
) -> str | None:
    """The request's `Idempotency-Key` header, validated (dependency)."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_CHARS or not all(" " <= c <= "~" for c in key):
        raise ValidationFailed(
            "Idempotency-Key must be 1-128 printable ASCII characters.", field=KEY_HEADER
        )
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same": method, path and the parsed body."""
    raw = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    problem: bool = False

    def response(self, *, replayed: bool) -> Response:
        headers = {REPLAYED_HEADER: "true"} if replayed else {}
        media = PROBLEM_CONTENT_TYPE if self.problem else "application/json"
        return Response(
            orjson.dumps(self.body), status_code=self.status, media_type=media, headers=headers
        )


def _cache_key(scope: str, key: str) -> str:
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:32]
    return f"idem:{{{digest}}}"


def _encode(fp: str, answer: Answer) -> str:
    return orjson.dumps([fp, answer.status, answer.body, answer.problem]).decode()


def _decode(raw: str) -> tuple[str, Answer]:
    fp, status, body, problem = orjson.loads(raw)
    return fp, Answer(status=status, body=body, problem=problem)


async def _stored(uow: UnitOfWork, scope: str, key: str) -> IdempotencyRecord | None:
    result = await uow.session.execute(
        sa.select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    )
    return result.scalar_one_or_none()


def _replay(fp: str, stored_fp: str, answer: Answer) -> Response:
    if stored_fp != fp:
        raise IdempotencyConflict(
            "This Idempotency-Key was used with a different request; use a new key."
        )
    return answer.response(replayed=True)


async def idempotent(
    request: Request,
    uow: UnitOfWork,
    *,
    scope: str,
    key: str | None,
    body: Any,
    run: Callable[[], Awaitable[tuple[int, Any]]],
    ttl: float = DEFAULT_TTL_SECONDS,
    wait: float = DEFAULT_WAIT_SECONDS,
) -> Response:
    """Run `run()` (returning status and a JSON-able body) at most once per (`scope`, `key`)
    and answer with its response, or replay the stored one. Without a key, just runs."""
    if key is None:
        status, out = await run()
        return Answer(status, out).response(replayed=False)
    hot: HotStore = request.app.state.runtime.hot
    fp = fingerprint(request.method, request.url.path, body)
    cache_key = _cache_key(scope, key)
    cached = await hot.get(cache_key)
    if cached is not None:
        return _replay(fp, *_decode(cached))
    token = secrets.token_hex(8)
    lock_key = cache_key + ":lock"
    deadline = time.monotonic() + wait
    while not await hot.set_if_absent(lock_key, token, ttl=LOCK_SECONDS):
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress("The first request with this key is still running.")
        await asyncio.sleep(POLL_SECONDS)
        cached = await hot.get(cache_key)
        if cached is not None:
            return _replay(fp, *_decode(cached))

    async def unlock() -> None:
        await hot.delete_if_equals(lock_key, token)

    try:
        return await _claim_and_run(uow, hot, scope, key, fp, cache_key, run, ttl, unlock)
    except BaseException:
        await unlock()
        raise


async def _claim_and_run(
    uow: UnitOfWork,
    hot: HotStore,
    scope: str,
    key: str,
    fp: str,
    cache_key: str,
    run: Callable[[], Awaitable[tuple[int, Any]]],
    ttl: float,
    unlock: Callable[[], Awaitable[None]],
) -> Response:
    now = utcnow()
    claim = insert_ignoring_conflicts(uow, IdempotencyRecord.__table__).returning(
        IdempotencyRecord.key
    )
    claimed = (
        await uow.session.execute(
            claim,
            {
                "scope": scope,
                "key": key,
                "fingerprint": fp,
                "status": "running",
                "response_status": None,
                "response_body": None,
                "created_at": now,
                "expires_at": now + dt.timedelta(seconds=ttl),
            },
        )
    ).first()
    if claimed is None:
        record = await _stored(uow, scope, key)
        if record is None or record.status != DONE or record.response_status is None:
            raise IdempotencyInProgress("The first request with this key is still running.")
        answer = Answer(record.response_status, dict(record.response_body or {}))
        answer = Answer(answer.status, answer.body, problem=answer.status >= 400)
        await hot.set(cache_key, _encode(record.fingerprint, answer), ttl=ttl)
        await unlock()
        return _replay(fp, record.fingerprint, answer)
    try:
        status, out = await run()
        answer = Answer(status, out)
    except AppError as exc:
        if not exc.commit:
            raise
        answer = Answer(exc.status, _problem_body(exc), problem=True)
    await uow.session.execute(
        sa.update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status=DONE, response_status=answer.status, response_body=answer.body)
    )

    async def remember() -> None:
        await hot.set(cache_key, _encode(fp, answer), ttl=ttl)
        await unlock()

    uow.after_commit(remember)
    if answer.problem:
        # Committed with the state it describes; the route's edge commits on status < 400 only.
        await uow.commit()
    return answer.response(replayed=False)


def _problem_body(exc: AppError) -> dict[str, Any]:
    return {
        "type": f"https://player-platform.dev/problems/{exc.code}",
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "code": exc.code,
        **exc.extra,
    }


async def purge_expired(uow: UnitOfWork, *, now: dt.datetime | None = None) -> int:
    """Delete records past their keep-until time; returns how many."""
    result = await uow.session.execute(
        sa.delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)
