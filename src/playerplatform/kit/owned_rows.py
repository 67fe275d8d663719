"""A domain's rows that belong to one player, for the player's data export and erasure: the
rows of a model whose column holds the player's user id, as JSON-ready dicts, or deleted; and
values of other rows scrubbed of a player's personal strings. Domains build their privacy
parts from these (`<domain>/privacy.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from playerplatform.kit.db import UnitOfWork, column_values


async def export_rows(
    uow: UnitOfWork, model: Any, column: str, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The rows of `model` whose `column` is `user_id`, oldest first by primary key."""
    owner = getattr(model, column)
    order = list(sa.inspect(model).primary_key)
    found = await uow.session.execute(sa.select(model).where(owner == user_id).order_by(*order))
    return [column_values(row) for row in found.scalars()]


async def delete_rows(uow: UnitOfWork, model: Any, column: str, user_id: uuid.UUID) -> None:
    await uow.session.execute(sa.delete(model).where(getattr(model, column) == user_id))


ERASED_TEXT = "[erased]"


def scrubbed(value: Any, personal: Iterable[str], canonical_id: str, pseudonym: str) -> Any:
    """`value` with `canonical_id` replaced by `pseudonym` and every `personal` string blanked,
    wherever it is in it (dict keys included)."""
    if isinstance(value, dict):
        return {
            scrubbed(k, personal, canonical_id, pseudonym): scrubbed(
                v, personal, canonical_id, pseudonym
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrubbed(v, personal, canonical_id, pseudonym) for v in value]
    if isinstance(value, str):
        for text in personal:
            value = value.replace(text, ERASED_TEXT)
        return value.replace(canonical_id, pseudonym)
    return value


async def scrub_mentions(
    uow: UnitOfWork,
    model: Any,
    columns: Iterable[str],
    personal: Iterable[str],
    canonical_id: str,
    pseudonym: str,
) -> None:
    """Scrub the JSON `columns` of every row of `model` that mentions a personal string or the
    canonical id (another player's rows that name the erased one)."""
    needles = [*personal, canonical_id]
    columns = list(columns)
    mentions = [sa.cast(getattr(model, c), sa.String).contains(n) for c in columns for n in needles]
    found = await uow.session.execute(sa.select(model).where(sa.or_(*mentions)))
    for row in found.scalars():
        for column in columns:
            setattr(
                row, column, scrubbed(getattr(row, column), needles[:-1], canonical_id, pseudonym)
            )
    await uow.session.flush()
