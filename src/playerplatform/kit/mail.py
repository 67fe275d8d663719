"""Mailer port. The dev mailbox stores mail in the database (listable by admins, shown in
the console) instead of sending it; it writes in the caller's unit of work, so a mail exists
exactly when the change that caused it committed."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template
from typing import Protocol

from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.mail_models import DevMail
from playerplatform.kit.settings import Settings


@dataclass(frozen=True, slots=True)
class MailMessage:
    to: str
    subject: str
    template: str
    body_text: str


TEMPLATES: dict[str, tuple[str, str]] = {
    "verify_email": (
        "Verify your email address",
        "Hello,\n\nConfirm this address for your account with the token below, or open the"
        " link.\n\nToken: $token\nLink: $link\n\nThe token expires in $hours hours. If you did"
        " not sign up, ignore this mail.\n",
    ),
    "password_reset": (
        "Reset your password",
        "Hello,\n\nSomebody asked to reset the password of this account. Use the token below,"
        " or open the link.\n\nToken: $token\nLink: $link\n\nThe token expires in $hours hours."
        " If it was not you, ignore this mail: your password stays as it is.\n",
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


def create_mailer(settings: Settings) -> Mailer:
    return DevMailbox()
