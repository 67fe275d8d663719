"""`playerplatform worker` as a process: it runs the platform's handlers (here the mail
handler, falling back to the dev mailbox without SMTP), and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from playerplatform.jobs import enqueue
from playerplatform.kit import migrate
from playerplatform.kit.db import Database
from playerplatform.kit.mail_models import DevMail
from playerplatform.kit.settings import Settings
from playerplatform.messaging.mail import MAIL_KIND, MAIL_QUEUE
from tests.conftest import fresh_database
from tests.jobs.support import die_with_parent, job_rows, wait_for

ROOT = Path(__file__).resolve().parents[2]
WORKER = "from playerplatform.jobs.cli import worker; worker()"


async def test_worker_command_runs_jobs_and_stops_on_sigterm(
    tmp_path: Path, mode: str, broker_url: str
) -> None:
    async with fresh_database(tmp_path) as url:
        await migrate.upgrade_async(url)
        db = Database(Settings(database_url=url))
        env = {
            **os.environ,
            "PP_DATABASE_URL": url,
            "PP_STORAGE_URL": f"file://{tmp_path / 'objects'}",
            "PP_JOB_POLL_SECONDS": "0.2",
            "PP_JOB_RELAY_SWEEP_SECONDS": "0.3",
            "PP_LOG_LEVEL": "warning",
        }
        env.pop("PP_BROKER_URL", None)
        env.pop("PP_SMTP_URL", None)
        if mode == "rabbitmq":
            env["PP_BROKER_URL"] = broker_url
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, "--queues", MAIL_QUEUE, "--concurrency", "2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        try:
            async with db.unit_of_work() as uow:
                await enqueue(
                    uow,
                    MAIL_QUEUE,
                    {
                        "kind": MAIL_KIND,
                        "to": "player@example.com",
                        "subject": "Welcome",
                        "template": "welcome",
                        "body_text": "Hello",
                    },
                )

            async def done() -> bool:
                # The queue also carries the inbox's scheduled upkeep: look at the mail job.
                mail = [j for j in await job_rows(db, MAIL_QUEUE) if j.payload["kind"] == MAIL_KIND]
                return [j.status for j in mail] == ["done"]

            await wait_for(done, timeout=30)
            process.send_signal(signal.SIGTERM)
            assert process.wait(20) == 0, process.stderr.read() if process.stderr else ""
            async with db.unit_of_work(write=False) as uow:
                mails = (await uow.session.execute(sa.select(DevMail.to_address))).scalars()
                assert list(mails) == ["player@example.com"]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            await db.dispose()
