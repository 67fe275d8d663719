"""Who a rule applies to: segments (the users domain's segment language, shared with
broadcasts) matched against what is known of a player, and the stable bucket that percentage
rollouts and experiment variants are cut from.

The facts a segment reads beyond the access token (roles and platforms are its claims) are
loaded only when some live rule reads them: a profile (country, account age) from the cached
user object, ownership of the SKUs segments name from commerce's cached answers. So a live
configuration without such segments is resolved from memory alone.

A bucket is the first 8 bytes of SHA-256 over `"<salt>:<canonical_id>"`, as a fraction in
[0, 1). It depends on nothing but the rule's name and the player, so every process, before
and after a restart, puts a player in the same bucket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from playerplatform.users.segments import Segment, SegmentFacts, admits

# Stands for the account's age when no live segment reads it (nothing compares it then).
UNREAD = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class PlayerFacts:
    """What segments are matched against: the segment facts, and which of the SKUs that
    live segments name the player owns."""

    canonical_id: str
    segment: SegmentFacts
    owned: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class CompiledSegment:
    """A stored segment, validated once, ready to match many times."""

    segment: Segment

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> CompiledSegment | None:
        if not stored:
            return None
        segment = Segment.model_validate_json(orjson.dumps(stored))
        return None if segment.is_everyone else cls(segment)

    @property
    def reads_profile(self) -> bool:
        s = self.segment
        return (
            s.countries is not None or s.created_after is not None or s.created_before is not None
        )

    @property
    def has_sku(self) -> str | None:
        return self.segment.has_sku

    def matches(self, player: PlayerFacts) -> bool:
        if not admits(self.segment, player.segment):
            return False
        return self.segment.has_sku is None or self.segment.has_sku in player.owned


def segment_matches(segment: CompiledSegment | None, player: PlayerFacts) -> bool:
    return segment is None or segment.matches(player)


def bucket(salt: str, canonical_id: str) -> float:
    """The player's stable place in [0, 1) for the rule named `salt`."""
    digest = hashlib.sha256(f"{salt}:{canonical_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
