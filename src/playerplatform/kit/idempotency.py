"""`Idempotency-Key` for write routes marked (I) in the API contract, usable by any domain.

    key: str | None = Depends(idempotency_key)
    return await idempotent(request, uow, scope=principal.actor_id, key=key,
                            body=payload.model_dump(mode="json"), run=lambda: do_it(...))

Rules: keys are scoped to the caller; a repeat with the same key and
body returns the first status and body with `Idempotent-Replayed: true`; the same key with
another body is 409 `idempotency_conflict`; a repeat while the first is still running waits
for it, then replays, or after `wait` seconds answers 409 `idempotency_in_progress` (when the
database shows the first still running; a hot-store lock left behind by a request that could
not release it, the hot store being down as it ended, holds a repeat `wait` seconds at most).

How exactly-once holds:
- The record is a row in the database, written in the *same* transaction as the effects it
  describes: the effects and the stored answer commit together or not at all. A crash before
  the commit leaves neither, so the retry runs again; after the commit the retry replays.
- The row is claimed before the work runs (INSERT ... ON CONFLICT DO NOTHING): on PostgreSQL
  a concurrent claim of the same key waits for the first transaction and then sees its row;
  on SQLite writers are serialised (BEGIN IMMEDIATE) so the second sees the committed row.
- A hot-store key in front keeps concurrent repeats from each holding a database
  connection while they wait: a lock while the first request runs, replaced by a copy of its
  answer once it committed, which serves replays without the database. It is an
  accelerator: losing it loses no guarantee, and a lock still held after `wait` (its
  holder gone while the hot store was unreachable) sends the repeat to the database claim.

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

from playerplatform.kit.db import Base, JSONType, UnitOfWork, utcnow
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
RUNNING = "running:"  # a cached answer is JSON, so never starts with this


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
        max_length=MAX_KEY_CHARS,
        pattern=r"^[\x20-\x7e]+$",
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
    uow.require_transaction()
    hot: HotStore = request.app.state.runtime.hot
    fp = fingerprint(request.method, request.url.path, body)
    cache_key = _cache_key(scope, key)
    # One key holds both the lock and the answer: `RUNNING` while the first request runs,
    # the answer once it committed. A key seen for the first time (nearly every request) costs
    # one round trip before and one after; a repeat finds the answer (or waits for it).
    running = RUNNING + secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not await hot.set_if_absent(cache_key, running, ttl=LOCK_SECONDS):
        cached = await hot.get(cache_key)
        if cached is not None and not cached.startswith(RUNNING):
            return _replay(fp, *_decode(cached))
        if time.monotonic() >= deadline:
            # The holder may be gone with its lock left behind (the hot store was unreachable
            # when it ended): the database decides, as it always does (`_claim_and_run`).
            break
        if cached is not None:
            await asyncio.sleep(POLL_SECONDS)

    async def unlock() -> None:
        await hot.delete_if_equals(cache_key, running)

    try:
        return await _claim_and_run(uow, hot, scope, key, fp, cache_key, run, ttl)
    except BaseException:
        await unlock()
        raise


_CLAIM_COLUMNS = (
    "scope",
    "key",
    "fingerprint",
    "status",
    "response_status",
    "response_body",
    "created_at",
    "expires_at",
)
_claims: dict[str, sa.TextClause] = {}


def _claim_statement(dialect: str) -> sa.TextClause:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING key for a record, as text built once per
    dialect: SQLAlchemy does not cache statements holding ON CONFLICT, and compiling the
    claim on every keyed write cost more than running it."""
    statement = _claims.get(dialect)
    if statement is None:
        table: sa.Table = IdempotencyRecord.__table__  # type: ignore[assignment]
        binds = [sa.bindparam(c, type_=table.c[c].type) for c in _CLAIM_COLUMNS]
        columns = ", ".join(_CLAIM_COLUMNS)
        values = ", ".join(f":{c}" for c in _CLAIM_COLUMNS)
        statement = sa.text(
            f"INSERT INTO {table.name} ({columns}) VALUES ({values})"  # noqa: S608
            " ON CONFLICT DO NOTHING RETURNING key"
        ).bindparams(*binds)
        _claims[dialect] = statement
    return statement


# Built once: building an UPDATE costs about as much CPU as running it.
_RECORD_ANSWER = (
    sa.update(IdempotencyRecord)
    .where(
        IdempotencyRecord.scope == sa.bindparam("b_scope"),
        IdempotencyRecord.key == sa.bindparam("b_key"),
    )
    .values(
        status=DONE,
        response_status=sa.bindparam("b_status"),
        response_body=sa.bindparam(
            "b_body", type_=IdempotencyRecord.__table__.c.response_body.type
        ),
    )
)


async def _claim_and_run(
    uow: UnitOfWork,
    hot: HotStore,
    scope: str,
    key: str,
    fp: str,
    cache_key: str,
    run: Callable[[], Awaitable[tuple[int, Any]]],
    ttl: float,
) -> Response:
    now = utcnow()
    claimed = (
        await uow.session.execute(
            _claim_statement(uow.dialect),
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
        await hot.set(cache_key, _encode(record.fingerprint, answer), ttl=ttl)  # and unlocks
        return _replay(fp, record.fingerprint, answer)
    try:
        status, out = await run()
        answer = Answer(status, out)
    except AppError as exc:
        if not exc.commit:
            raise
        answer = Answer(exc.status, _problem_body(exc), problem=True)
    await uow.session.execute(
        _RECORD_ANSWER,
        {"b_scope": scope, "b_key": key, "b_status": answer.status, "b_body": answer.body},
    )

    async def remember() -> None:
        await hot.set(cache_key, _encode(fp, answer), ttl=ttl)  # the answer replaces the lock

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
