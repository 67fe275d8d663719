"""Job handlers of the auth domain."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import structlog

from playerplatform.auth import email as email_auth
from playerplatform.auth import repository
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.http import ClientInfo

if TYPE_CHECKING:
    from playerplatform.jobs.registry import JobRun
    from playerplatform.runtime import Runtime

log = structlog.get_logger(__name__)

PRUNE_KIND = "prune_sign_ins"
PRUNE_BATCH = 10_000  # rows of each table per run: no run holds a long transaction


async def send_password_reset(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """A password-reset request, queued by `POST /auth/email/password-reset`: mail a token
    when the address has an account. A second delivery of the job mails a second token,
    which is harmless (the first reset spends both)."""
    payload = job.payload
    client = ClientInfo(
        ip=str(payload.get("ip") or "unknown"),
        user_agent=payload.get("user_agent"),
        request_id=payload.get("request_id"),
    )
    await email_auth.send_password_reset(uow, runtime, str(payload["email"]), client)


async def prune_sign_ins(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Sign-ins leave rows behind: every refresh adds a token, every sign-in a session.
    Sessions that ended (revoked or expired) more than `PP_SESSION_RETENTION_DAYS` ago go with
    their tokens, as do refresh and mailed tokens that expired that long ago (a token past its
    expiry opens nothing; until then a used one still revokes its session when replayed). A
    bounded batch of each per run; a backlog drains over the following runs."""
    before = utcnow() - dt.timedelta(days=runtime.settings.session_retention_days)
    sessions = await repository.delete_ended_sessions(uow, before=before, limit=PRUNE_BATCH)
    refresh = await repository.delete_expired_refresh_tokens(uow, before=before, limit=PRUNE_BATCH)
    mailed = await repository.delete_expired_email_tokens(uow, before=before, limit=PRUNE_BATCH)
    if sessions or refresh or mailed:
        log.info(
            "sign_ins_pruned",
            sessions=sessions,
            refresh_tokens=refresh,
            email_tokens=mailed,
            batch=PRUNE_BATCH,
        )
