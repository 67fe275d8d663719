"""The mailer port, and what delivers mail:

- `Mailer`: `send(uow, message)` sends a message once the caller's unit of work commits.
- `DevMailbox` (no `PP_SMTP_URL`): the mailer that stores mail in `dev_mails` in the caller's
  unit of work (listable by admins, shown in the console) instead of sending it.
- `SmtpSender` (`PP_SMTP_URL=smtp://user:pass@host:587`): hands one message to an SMTP
  server. With SMTP, the mailer is the messaging domain's (`messaging.mail.OutboxMailer`):
  `send` writes a job in the caller's unit of work and the job delivers through this sender,
  so a mail goes out exactly when its cause committed and a server that is down only delays it.

TLS by scheme or port: `smtps://` or port 465 is implicit TLS; port 587 requires STARTTLS;
otherwise STARTTLS is used when the server offers it. `?starttls=false` turns it off.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from string import Template
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail_models import DevMail
from playerplatform.kit.settings import Settings


@dataclass(frozen=True, slots=True)
class MailMessage:
    to: str
    subject: str
    template: str
    body_text: str


@dataclass(frozen=True, slots=True)
class MailTemplate:
    """A mail's subject and body text, with `$name` placeholders `render` fills."""

    name: str
    subject: str
    body: str

    def render(self, to: str, **context: object) -> MailMessage:
        return MailMessage(
            to=to,
            subject=self.subject,
            template=self.name,
            body_text=Template(self.body).safe_substitute({k: str(v) for k, v in context.items()}),
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


class SmtpSender:
    """Delivers messages to one SMTP server, from `mail_from`."""

    def __init__(self, target: SmtpTarget, *, mail_from: str, timeout: float) -> None:
        self.target = target
        self.mail_from = mail_from
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSender | None:
        """The sender `PP_SMTP_URL` names; None without one (mail goes to the dev mailbox)."""
        if settings.smtp_url is None:
            return None
        return cls(
            SmtpTarget.parse(settings.smtp_url.get_secret_value()),
            mail_from=settings.mail_from,
            timeout=settings.smtp_timeout_seconds,
        )

    async def deliver(self, message: MailMessage, *, message_id: str) -> None:
        """Hand one message to the SMTP server (raises when it refuses or is unreachable)."""
        mail = EmailMessage()
        mail["From"] = self.mail_from
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
