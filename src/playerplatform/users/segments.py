"""Segments: which players a broadcast, a feature flag or an experiment is for.

A segment is a set of criteria, all of which a player must meet; a list criterion is met by
any one of its values. A segment with no criteria is everyone.

- `countries`: the profile's ISO 3166-1 alpha-2 country (a player without one matches none).
- `platforms`: a login provider linked to the account (`steam`, `epic`, `twitch`, `device`,
  `email`).
- `created_after` / `created_before`: account age, as the account's creation time (after is
  inclusive, before exclusive).
- `roles`: any of the account's roles.
- `has_sku`: holds an active entitlement to the SKU (ownership is commerce's: the caller
  passes commerce's `SkuOwners`, so this module depends on no commerce code).

Two evaluators give the same answer for the same data:

- `user_filter(segment, owners)`: a SQL condition on the `users` table, for "which users
  match" (a broadcast materialized in batches, a count for the console);
- `matches(uow, segment, user_id, owners)`: "does this user match", for one player (an inbox
  read, a flag evaluation). `admits(segment, facts)` is its pure part, for callers that
  already hold the player's facts.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

import sqlalchemy as sa
from pydantic import AfterValidator, Field, model_validator

from playerplatform.auth import service as auth
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.edge import EdgeModel, Timestamp
from playerplatform.users.models import Profile, User
from playerplatform.users.schemas import Country

Platform = Literal["steam", "epic", "twitch", "device", "email"]
Role = Literal["player", "moderator", "admin"]
_SKU_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _sku_id(value: str) -> str:
    if not _SKU_ID.match(value):
        raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
    return value


SegmentSku = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_sku_id)]


class Segment(EdgeModel):
    """Who a message, flag or experiment is for (every given criterion must hold)."""

    countries: list[Country] | None = Field(None, min_length=1, max_length=250)
    platforms: list[Platform] | None = Field(None, min_length=1, max_length=5)
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    roles: list[Role] | None = Field(None, min_length=1, max_length=3)
    has_sku: SegmentSku | None = None

    @model_validator(mode="after")
    def _window(self) -> Segment:
        if self.created_after and self.created_before and self.created_after >= self.created_before:
            raise ValueError("created_after must be before created_before")
        return self

    @property
    def is_everyone(self) -> bool:
        return not self.model_dump(exclude_none=True)

    @property
    def admits_new_players(self) -> bool:
        """Whether a player who signs up from now on can still match (no `created_before`
        in the past)."""
        return self.created_before is None or self.created_before > dt.datetime.now(dt.UTC)


class SkuOwners(Protocol):
    """Who holds a SKU: commerce's answer, passed in by the caller."""

    def owner_ids(self, sku_id: str) -> sa.Select[Any]:
        """A query selecting the ids of the users holding an active entitlement to `sku_id`."""
        ...

    async def owns(self, uow: UnitOfWork, user_id: uuid.UUID, sku_id: str) -> bool:
        """Whether `user_id` holds an active entitlement to `sku_id`."""
        ...


@dataclass(frozen=True, slots=True)
class SegmentFacts:
    """What the segment criteria read about one player (ownership aside)."""

    country: str | None
    platforms: frozenset[str]
    created_at: dt.datetime
    roles: frozenset[str]


# -- Which users match (SQL). -----------------------------------------------------------------


def _has_role(role: str) -> sa.ColumnElement[bool]:
    # Roles are a JSON list; its text holds each role as "role" on both backends (roles are
    # plain lower-case words, so no LIKE escaping is needed).
    return sa.cast(User.roles, sa.Text).like(f'%"{role}"%')


def user_filter(segment: Segment, owners: SkuOwners) -> sa.ColumnElement[bool]:
    """A condition on the `users` table that holds for exactly the users in `segment`."""
    clauses: list[sa.ColumnElement[bool]] = []
    if segment.countries is not None:
        clauses.append(
            User.id.in_(sa.select(Profile.user_id).where(Profile.country.in_(segment.countries)))
        )
    if segment.platforms is not None:
        clauses.append(User.id.in_(auth.users_linked_to(segment.platforms)))
    if segment.created_after is not None:
        clauses.append(User.created_at >= segment.created_after)
    if segment.created_before is not None:
        clauses.append(User.created_at < segment.created_before)
    if segment.roles is not None:
        clauses.append(sa.or_(*(_has_role(role) for role in segment.roles)))
    if segment.has_sku is not None:
        clauses.append(User.id.in_(owners.owner_ids(segment.has_sku)))
    return sa.and_(sa.true(), *clauses)


# -- Does this user match (one player). -------------------------------------------------------


def admits(segment: Segment, facts: SegmentFacts) -> bool:
    """Whether a player with `facts` meets every criterion but `has_sku`."""
    if segment.countries is not None and facts.country not in segment.countries:
        return False
    if segment.platforms is not None and not facts.platforms.intersection(segment.platforms):
        return False
    if segment.created_after is not None and facts.created_at < segment.created_after:
        return False
    if segment.created_before is not None and facts.created_at >= segment.created_before:
        return False
    return segment.roles is None or bool(facts.roles.intersection(segment.roles))


async def facts_of(uow: UnitOfWork, user_id: uuid.UUID) -> SegmentFacts | None:
    """The segment facts of one player; None for an unknown user."""
    user = await uow.session.get(User, user_id)
    if user is None:
        return None
    profile = await uow.session.get(Profile, user_id)
    identities = await auth.linked_identities(uow, user_id)
    return SegmentFacts(
        country=profile.country if profile else None,
        platforms=frozenset(identity.provider for identity in identities),
        created_at=user.created_at,
        roles=frozenset(user.roles or ()),
    )


async def matches(uow: UnitOfWork, segment: Segment, user_id: uuid.UUID, owners: SkuOwners) -> bool:
    """Whether the player `user_id` is in `segment` (False for an unknown user)."""
    if segment.is_everyone:
        return await uow.session.get(User, user_id) is not None
    facts = await facts_of(uow, user_id)
    if facts is None or not admits(segment, facts):
        return False
    return segment.has_sku is None or await owners.owns(uow, user_id, segment.has_sku)
