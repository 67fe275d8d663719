"""Statements SQLAlchemy cannot cache (INSERT ... ON CONFLICT), compiled once and kept as text
(`kit.db.built_once`, `insert_unless_taken`): the same rows and answers as through
SQLAlchemy's own INSERT, on the shape's database."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import pytest
import sqlalchemy as sa

from playerplatform.drops.models import Drop
from playerplatform.kit.db import bound, built_once, insert_unless_taken, utcnow
from playerplatform.runtime import Runtime

TABLE: sa.Table = Drop.__table__  # type: ignore[assignment]


def a_row(entitlement_id: str) -> dict[str, object]:
    return {
        "drop_id": "drp_" + secrets.token_hex(12),
        "entitlement_id": entitlement_id,
        "twitch_user_id": "tw-1",
        "benefit_id": "benefit-1",
        "status": "unmapped",
        "grants": [{"sku_id": "cape", "quantity": 2}],
        "source": "sync",
        "fulfil_attempts": 0,
        "created_at": utcnow(),
    }


async def test_an_insert_built_once_stores_the_row_and_reports_a_taken_key(
    runtime: Runtime,
) -> None:
    entitlement_id = "ent-" + secrets.token_hex(8)
    uow = runtime.db.unit_of_work()
    try:
        first = await insert_unless_taken(uow, TABLE, a_row(entitlement_id), returning=TABLE.c.id)
        new_id = first.scalar_one_or_none()
        again = await insert_unless_taken(uow, TABLE, a_row(entitlement_id), returning=TABLE.c.id)
        assert again.scalar_one_or_none() is None  # the key is taken: nothing written
        await uow.commit()
    finally:
        await uow.close()
    assert isinstance(new_id, uuid.UUID)  # the column's default was set, its type kept

    uow = runtime.db.unit_of_work(write=False)
    try:
        stored = (
            await uow.session.execute(sa.select(Drop).where(Drop.entitlement_id == entitlement_id))
        ).scalar_one()
    finally:
        await uow.close()
    assert stored.id == new_id
    assert stored.grants == [{"sku_id": "cape", "quantity": 2}]  # JSON, not its text
    assert stored.created_at.tzinfo is not None
    assert abs(stored.created_at - utcnow()) < dt.timedelta(minutes=1)


async def test_a_statement_is_compiled_once_per_key(runtime: Runtime) -> None:
    builds: list[int] = []

    def build(insert: object) -> object:
        builds.append(1)
        return insert(TABLE).values(bound(TABLE, [c.key for c in TABLE.columns]))  # type: ignore[operator]

    uow = runtime.db.unit_of_work()
    try:
        key = ("test", secrets.token_hex(4))
        assert built_once(uow, key, build) is built_once(uow, key, build)
        assert builds == [1]
    finally:
        await uow.close()


async def test_a_value_written_into_the_statement_is_refused(runtime: Runtime) -> None:
    # Kept as text, the first call's value would be every later call's.
    def build(insert: object) -> object:
        return insert(TABLE).values(entitlement_id="fixed")  # type: ignore[operator]

    uow = runtime.db.unit_of_work()
    try:
        with pytest.raises(ValueError, match="bind every value by name"):
            built_once(uow, ("test", secrets.token_hex(4)), build)
    finally:
        await uow.close()
