"""Mailer port, two adapters:

- `DevMailbox` (no `PP_SMTP_URL`): mail is stored in `dev_mails` in the caller's unit of work
  (listable by admins, shown in the console) instead of being sent.
- `SmtpMailer` (`PP_SMTP_URL=smtp://user:pass@host:587`): `send` enqueues a
  `notification_send` job (kind `email`) in the caller's unit of work, and the job handler
  delivers it over SMTP. A mail goes out exactly when the change that caused it committed,
  and an SMTP server that is down only delays it (the job retries with backoff).

TLS by scheme or port: `smtps://` or port 465 is implicit TLS; port 587 requires STARTTLS;
otherwise STARTTLS is used when the server offers it. `?starttls=false` turns it off.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from string import Template
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from playerplatform.jobs.registry import JobRun, job_handler
from playerplatform.jobs.repository import replace_payload
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail_models import DevMail
from playerplatform.kit.settings import Settings

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

MAIL_QUEUE = "notification_send"
MAIL_KIND = "email"


@dataclass(frozen=True, slots=True)
class MailMessage:
    to: str
    subject: str
    template: str
    body_text: str


TEMPLATES: dict[str, tuple[str, str]] = {
    "verify_email": (
        "Verify your email address",
        "Hello,\n\nConfirm this address for your account: open the link below, or enter the"
        " token where you signed up.\n\n$link\n\nToken: $token\n\nThe link expires in $hours"
        " hours. If you did not sign up, ignore this mail; nothing will happen.\n",
    ),
    "password_reset": (
        "Reset your password",
        "Hello,\n\nSomebody asked to reset the password of this account. To choose a new one,"
        " open the link below, or enter the token in the game.\n\n$link\n\nToken: $token\n\n"
        "The link expires in $hours hours. If it was not you, ignore this mail: your password"
        " stays as it is.\n",
    ),
}


def render(template: str, to: str, **context: object) -> MailMessage:
    subject, body = TEMPLATES[template]
    return MailMessage(
        to=to,
        subject=subject,
        template=template,
        body_text=Template(body).safe_substitute({k: str(v) for k, v in context.items()}),
    )


class Mailer(Protocol):
    async def send(self, uow: UnitOfWork, message: MailMessage) -> None:
        """Send `message` once the unit of work commits (never for a rolled-back one)."""
        ...


class DevMailbox:
    async def send(self, uow: UnitOfWork, message: MailMessage) -> None:
        uow.session.add(
            DevMail(
                to_address=message.to,
                subject=message.subject,
                template=message.template,
                body_text=message.body_text,
            )
        )


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # None: when the server offers it

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PP_SMTP_URL must look like smtp://user:pass@host:port")
        implicit = parts.scheme == "smtps" or parts.port == 465
        port = parts.port or (465 if implicit else 587)
        query = parse_qs(parts.query)
        start_tls: bool | None = None
        if implicit or query.get("starttls", [""])[0].lower() in ("false", "0", "no"):
            start_tls = False
        elif port == 587:
            start_tls = True
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit,
            start_tls=start_tls,
        )


class SmtpMailer:
    def __init__(self, target: SmtpTarget, *, sender: str, timeout: float) -> None:
        self.target = target
        self.sender = sender
        self.timeout = timeout

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

    async def deliver(self, message: MailMessage, *, message_id: str) -> None:
        """Hand one message to the SMTP server (raises when it refuses or is unreachable)."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = email.utils.formatdate(usegmt=True)
        mail["Message-ID"] = message_id
        mail.set_content(message.body_text)
        target = self.target
        await aiosmtplib.send(
            mail,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=target.start_tls,
            timeout=self.timeout,
        )


def create_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is None:
        return DevMailbox()
    return SmtpMailer(
        SmtpTarget.parse(settings.smtp_url.get_secret_value()),
        sender=settings.mail_from,
        timeout=settings.smtp_timeout_seconds,
    )


@job_handler(MAIL_QUEUE, kind=MAIL_KIND)
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
    if isinstance(mailer, SmtpMailer):
        domain = mailer.sender.rpartition("@")[2].rstrip(">") or "localhost"
        await mailer.deliver(message, message_id=f"<{job.public_id}@{domain}>")
    else:  # the SMTP URL was removed since: keep the mail visible in the dev mailbox
        await DevMailbox().send(uow, message)
    # The body may carry a one-time token: do not keep it once delivered.
    await replace_payload(
        uow,
        job.id,
        {"kind": MAIL_KIND, "to": message.to, "template": message.template, "sent": True},
    )
