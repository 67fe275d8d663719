"""Mail over SMTP, end to end through the job runner: a real SMTP server (aiosmtpd on a
loopback port) receives what the platform sends, only once its cause committed, and gets
it late rather than never when it was down."""

from __future__ import annotations

import asyncio
import email
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from playerplatform.auth.email import RESET_MAIL
from playerplatform.jobs.models import Job
from playerplatform.kit import migrate
from playerplatform.kit.mail import SmtpTarget
from playerplatform.kit.settings import Settings
from playerplatform.messaging.mail import OutboxMailer
from playerplatform.runtime import Runtime
from tests.conftest import asgi_client, fresh_database, running_app
from tests.jobs.support import MODES, job_settings, wait_for
from tests.support.servers import free_port

# Mail jobs only: other domains' scheduled work may queue jobs in the same database.
# The mail jobs (the queue also carries the inbox's delivery and its scheduled upkeep).
MAIL_JOBS = Job.__table__.select().where(
    Job.queue == "notification_send", Job.payload["kind"].as_string() == "email"
)

SMTP_USER, SMTP_PASSWORD = "platform", "smtp-secret-42"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def smtp_server(inbox: Inbox, port: int) -> Controller:
    return Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port: int) -> Iterator[Inbox]:
    box = Inbox()
    controller = smtp_server(box, smtp_port)
    controller.start()
    yield box
    controller.stop()


@asynccontextmanager
async def mail_platform(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    mode: str,
    broker_url: str,
    smtp_port: int,
) -> AsyncIterator[tuple[Any, Runtime]]:
    """An app with SMTP mail over a database of its own (no other app's worker competes for
    its mail jobs), plus a worker process's job system in the broker shape."""
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        settings = make_settings(
            database_url=url,
            smtp_url=f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{smtp_port}",
            mail_from="Castle Quest <no-reply@castle.test>",
            **job_settings(mode, broker_url),
        )
        async with running_app(settings) as (app, runtime):
            if mode == "rabbitmq":
                await runtime.jobs.close()  # the app relays; a worker runs the jobs
                from playerplatform.jobs.system import JobSystem

                worker = JobSystem(settings, runtime.db, job_registry=runtime.wiring.jobs)
                await worker.run_worker(runtime)
                try:
                    yield app, runtime
                finally:
                    await worker.close()
            else:
                yield app, runtime


@pytest.mark.parametrize("mode", MODES)
async def test_verification_mail_is_delivered_after_the_registration_commits(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    mode: str,
    broker_url: str,
    smtp_port: int,
    inbox: Inbox,
) -> None:
    address = f"player-{secrets.token_hex(4)}@example.com"
    async with mail_platform(make_settings, tmp_path, mode, broker_url, smtp_port) as (app, rt):
        assert isinstance(rt.mailer, OutboxMailer)
        async with asgi_client(app) as client:
            registered = await client.post(
                "/api/v1/auth/email/register",
                json={"email": address, "password": "correct-horse-battery-staple-42"},
            )
            assert registered.status_code == 201, registered.text

            async def arrived() -> bool:
                return any(m["To"] == address for m in inbox.messages)

            await wait_for(arrived, timeout=20)
            [mail] = [m for m in inbox.messages if m["To"] == address]
            assert mail["Subject"] == "Verify your email address"
            assert mail["From"] == "Castle Quest <no-reply@castle.test>"
            assert re.fullmatch(r"<job_[\w-]+@castle\.test>", mail["Message-ID"])
            body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
            token = re.search(r"Token: (\S+)", body).group(1)  # type: ignore[union-attr]
            verified = await client.post("/api/v1/auth/email/verify", json={"token": token})
            assert verified.status_code == 200, verified.text

        # The mail is out before the runner commits the job's end: wait for that commit.
        async def finished() -> bool:
            async with rt.db.unit_of_work(write=False) as uow:
                [job] = (await uow.session.execute(MAIL_JOBS)).all()
            return bool(job.status == "done")

        await wait_for(finished, timeout=20)
        async with rt.db.unit_of_work(write=False) as uow:
            [job] = (await uow.session.execute(MAIL_JOBS)).all()
        assert token not in str(job.payload)  # the one-time token is not kept once sent


@pytest.mark.parametrize("mode", MODES)
async def test_rolled_back_mail_is_never_sent_and_a_down_server_only_delays_it(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    mode: str,
    broker_url: str,
    smtp_port: int,
) -> None:
    inbox = Inbox()
    async with mail_platform(make_settings, tmp_path, mode, broker_url, smtp_port) as (_app, rt):
        uow = rt.db.unit_of_work()
        try:
            await rt.mailer.send(uow, RESET_MAIL.render("ghost@example.com", token="t0"))
            await uow.rollback()
        finally:
            await uow.close()
        async with rt.db.unit_of_work() as uow:  # the SMTP server is not up yet
            await rt.mailer.send(uow, RESET_MAIL.render("late@example.com", token="t1"))

        async def failed_once() -> bool:
            async with rt.db.unit_of_work(write=False) as check:
                rows = (await check.session.execute(MAIL_JOBS)).all()
            return len(rows) == 1 and rows[0].attempts >= 1 and rows[0].last_error is not None

        await wait_for(failed_once, timeout=20)
        controller = smtp_server(inbox, smtp_port)
        controller.start()
        try:

            async def delivered() -> bool:
                return len(inbox.messages) >= 1

            await wait_for(delivered, timeout=20)
            await asyncio.sleep(0.5)
        finally:
            controller.stop()
    assert [m["To"] for m in inbox.messages] == ["late@example.com"]
    assert inbox.messages[0]["Subject"] == "Reset your password"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://u:p@mail.example.com:587", ("mail.example.com", 587, "u", "p", False, True)),
        ("smtp://mail.example.com", ("mail.example.com", 587, None, None, False, True)),
        ("smtps://u:p%40ss@mail.example.com", ("mail.example.com", 465, "u", "p@ss", True, False)),
        ("smtp://mail.example.com:465", ("mail.example.com", 465, None, None, True, False)),
        ("smtp://relay:25", ("relay", 25, None, None, False, None)),
        ("smtp://relay:2525?starttls=false", ("relay", 2525, None, None, False, False)),
    ],
)
def test_smtp_url_picks_tls_by_scheme_and_port(url: str, expected: tuple[Any, ...]) -> None:
    target = SmtpTarget.parse(url)
    assert (
        target.host,
        target.port,
        target.username,
        target.password,
        target.use_tls,
        target.start_tls,
    ) == expected


def test_an_smtp_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError):
        SmtpTarget.parse("http://mail.example.com")
