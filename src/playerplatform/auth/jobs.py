"""Job handlers of the auth domain."""

from __future__ import annotations

from typing import TYPE_CHECKING

from playerplatform.auth import email as email_auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import ClientInfo

if TYPE_CHECKING:
    from playerplatform.jobs.registry import JobRun
    from playerplatform.runtime import Runtime


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
