"""Reading the durable store directly, to assert what was (or was not) written."""

from __future__ import annotations

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


async def latest_mail(runtime: Runtime, to: str, template: str) -> str:
    """The body of the newest dev-mailbox message of `template` sent to `to`."""
    from playerplatform.kit.mail_models import DevMail

    body = await scalar(
        runtime,
        sa.select(DevMail.body_text)
        .where(DevMail.to_address == to, DevMail.template == template)
        .order_by(DevMail.created_at.desc())
        .limit(1),
    )
    assert body, f"no {template} mail to {to}"
    return str(body)


def token_from_mail(body: str) -> str:
    for line in body.splitlines():
        if line.startswith("Token: "):
            return line.removeprefix("Token: ").strip()
    raise AssertionError("no token in mail")
