"""Reading the durable store directly, to assert what was (or was not) written."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from playerplatform.runtime import Runtime


async def scalar(runtime: Runtime, query: Any) -> Any:
    async with runtime.db.unit_of_work(write=False) as uow:
        return (await uow.session.execute(query)).scalar()


async def rows(runtime: Runtime, query: Any) -> list[Any]:
    async with runtime.db.unit_of_work(write=False) as uow:
        return list((await uow.session.execute(query)).all())


async def count(runtime: Runtime, table: Any, *where: Any) -> int:
    return int(await scalar(runtime, sa.select(sa.func.count()).select_from(table).where(*where)))


async def latest_mail(
    runtime: Runtime, to: str, template: str, *, at_least: int = 1, wait: float = 10.0
) -> str:
    """The body of the newest dev-mailbox message of `template` sent to `to`, once there are
    `at_least` of them, waiting up to `wait` seconds (some mails are written by a job after
    the request answered)."""
    from playerplatform.kit.mail_models import DevMail

    deadline = asyncio.get_running_loop().time() + wait
    while await mails(runtime, to, template) < at_least:
        assert asyncio.get_running_loop().time() < deadline, f"no {template} mail to {to}"
        await asyncio.sleep(0.05)
    body = await scalar(
        runtime,
        sa.select(DevMail.body_text)
        .where(DevMail.to_address == to, DevMail.template == template)
        .order_by(DevMail.created_at.desc())
        .limit(1),
    )
    assert body, f"no {template} mail to {to}"
    return str(body)


async def mails(runtime: Runtime, to: str, template: str) -> int:
    """How many dev-mailbox messages of `template` were sent to `to`."""
    from playerplatform.kit.mail_models import DevMail

    return await count(runtime, DevMail, DevMail.to_address == to, DevMail.template == template)


def token_from_mail(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("Token: "):
            return line.removeprefix("Token: ").strip()
    raise AssertionError("no token in mail")
