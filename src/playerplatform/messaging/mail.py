"""The mailer that delivers through the job outbox when SMTP is configured.

`OutboxMailer.send` writes a `notification_send` job (kind `email`) in the caller's unit of
work; the job's handler (`messaging.jobs.deliver_mail`) hands the message to the SMTP server.
A mail goes out exactly when the change that caused it committed, and an SMTP server that is
down only delays it (the job retries with backoff). Without `PP_SMTP_URL` the mailer is the
dev mailbox (`kit.mail.DevMailbox`).
"""

from __future__ import annotations

from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail import DevMailbox, Mailer, MailMessage, SmtpSender
from playerplatform.kit.settings import Settings

MAIL_QUEUE = "notification_send"
MAIL_KIND = "email"


class OutboxMailer:
    """The mailer with SMTP: a job per message, delivered by `smtp` once its cause commits."""

    def __init__(self, smtp: SmtpSender) -> None:
        self.smtp = smtp

    async def send(self, uow: UnitOfWork, message: MailMessage) -> None:
        await enqueue(
            uow,
            MAIL_QUEUE,
            {
                "kind": MAIL_KIND,
                "to": message.to,
                "subject": message.subject,
                "template": message.template,
                "body_text": message.body_text,
            },
        )


def create_mailer(settings: Settings) -> Mailer:
    """Through the outbox to SMTP when `PP_SMTP_URL` is set, else the dev mailbox."""
    smtp = SmtpSender.from_settings(settings)
    return DevMailbox() if smtp is None else OutboxMailer(smtp)
