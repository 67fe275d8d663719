"""`notification_send` jobs: mail `mail.OutboxMailer` queued (kind `email`), inbox messages
delivered to players' other channels (kind `notify`), scheduled broadcasts fired and old
realtime events pruned."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from playerplatform.jobs.registry import JobRun
from playerplatform.jobs.repository import replace_payload
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.mail import DevMailbox, MailMessage
from playerplatform.messaging import broadcasts, channels, repository
from playerplatform.messaging.mail import MAIL_KIND, OutboxMailer

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def deliver_mail(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Send a queued mail. Idempotent as far as SMTP allows: a job already done is never
    run again, and the Message-ID derived from the job lets receivers drop the duplicate a
    crash between sending and committing could cause."""
    payload = job.payload
    if payload.get("sent"):
        return
    message = MailMessage(
        to=str(payload["to"]),
        subject=str(payload["subject"]),
        template=str(payload.get("template", "")),
        body_text=str(payload["body_text"]),
    )
    mailer = runtime.mailer
    if isinstance(mailer, OutboxMailer):
        smtp = mailer.smtp
        domain = smtp.mail_from.rpartition("@")[2].rstrip(">") or "localhost"
        await smtp.deliver(message, message_id=f"<{job.public_id}@{domain}>")
    else:  # the SMTP URL was removed since: keep the mail visible in the dev mailbox
        await DevMailbox().send(uow, message)
    # The body may carry a one-time token: do not keep it once delivered.
    await replace_payload(
        uow,
        job.id,
        {"kind": MAIL_KIND, "to": message.to, "template": message.template, "sent": True},
    )


async def deliver_notification(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Deliver an inbox message to the player's other channels, by their preferences for
    its kind: a mail to a verified address, a push to each registered device. Devices the
    push service reports dead are forgotten. Push is sent before the first write (the
    handler's slow I/O comes first), and each device is tried with backoff on its own."""
    allowed = job.payload.get("channels", ["email", "push"])
    await channels.deliver(uow, runtime, str(job.payload.get("message_id", "")), allowed)


async def fire_broadcasts(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Mark the scheduled broadcasts whose time came as sent (once, whichever scheduler)."""
    await broadcasts.fire_due_broadcasts(uow, runtime)


async def prune_events(uow: UnitOfWork, job: JobRun, runtime: Runtime) -> None:
    """Forget realtime events older than the replay window."""
    hours = runtime.settings.realtime_event_retention_hours
    await repository.prune_events(uow, utcnow() - dt.timedelta(hours=hours))
