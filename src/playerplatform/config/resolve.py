"""A player's configuration, resolved from one snapshot of the live rules.

Resolution order (documented in docs/config.md; later steps win on the same key):

1. the config document's values;
2. its overrides, in the order they are listed, each one whose segment the player matches;
3. the values of the player's variant in each running experiment, experiments by name.

Flags: a flag that is off is off for everyone (the kill switch); one that is on applies to the
players its segment matches and, with `rollout_percent`, to those whose stable bucket for the
flag is below that share.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from playerplatform.config.targeting import CompiledSegment, PlayerFacts, bucket, segment_matches


@dataclass(frozen=True, slots=True)
class Override:
    segment: CompiledSegment | None
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    enabled: bool
    rollout_percent: float | None
    segment: CompiledSegment | None

    def on_for(self, player: PlayerFacts | None) -> bool:
        if not self.enabled:
            return False
        if player is None:  # no player: only a flag that is on for everyone
            return self.segment is None and self.rollout_percent is None
        if not segment_matches(self.segment, player):
            return False
        if self.rollout_percent is None:
            return True
        return bucket(f"flag:{self.name}", player.canonical_id) * 100 < self.rollout_percent


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: int
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExperimentRule:
    name: str
    variants: tuple[Variant, ...]
    segment: CompiledSegment | None
    starts_at: dt.datetime
    ends_at: dt.datetime

    def variant_for(self, player: PlayerFacts, now: dt.datetime) -> Variant | None:
        """The player's variant while the experiment runs and they are in its segment."""
        if not self.starts_at <= now < self.ends_at or not segment_matches(self.segment, player):
            return None
        total = sum(v.weight for v in self.variants)
        if total <= 0:
            return None
        point = bucket(f"experiment:{self.name}", player.canonical_id) * total
        for variant in self.variants:
            if point < variant.weight:
                return variant
            point -= variant.weight
        return self.variants[-1]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every live rule at one state version, as each process holds it."""

    version: int = 0
    config_version: int = 0
    values: Mapping[str, Any] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    flags: Mapping[str, Flag] = field(default_factory=dict)
    experiments: tuple[ExperimentRule, ...] = ()
    # Resolved answers by what decided them (see `resolve`), for this snapshot only.
    answers: dict[tuple[Any, ...], Resolved] = field(default_factory=dict, compare=False)
    # Each player's answer (see `token_only`), with the moment (Unix time) an experiment next
    # starts or ends, after which it may differ; for this snapshot only.
    by_player: dict[tuple[Any, ...], tuple[Resolved, float]] = field(
        default_factory=dict, compare=False
    )

    # What the live segments read beyond the token (see `targeting`), known when built.
    reads_profile: bool = False
    skus: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        version: int,
        config_version: int,
        values: Mapping[str, Any],
        overrides: tuple[Override, ...],
        flags: Mapping[str, Flag],
        experiments: tuple[ExperimentRule, ...],
    ) -> Snapshot:
        segments = [o.segment for o in overrides]
        segments += [f.segment for f in flags.values()]
        segments += [e.segment for e in experiments]
        live = [s for s in segments if s is not None]
        return cls(
            version=version,
            config_version=config_version,
            values=values,
            overrides=overrides,
            flags=flags,
            experiments=experiments,
            reads_profile=any(s.reads_profile for s in live),
            skus=frozenset(s.has_sku for s in live if s.has_sku is not None),
        )

    @property
    def token_only(self) -> bool:
        """Whether a player's answer depends on nothing but the access token (its subject,
        roles and platforms) and the time: then it can be kept per player."""
        return not self.reads_profile and not self.skus

    def next_change(self, now: dt.datetime) -> float:
        """The first moment after `now` an experiment starts or ends, as Unix time (infinity
        when none will)."""
        later = [t for e in self.experiments for t in (e.starts_at, e.ends_at) if t > now]
        return min(later).timestamp() if later else math.inf


@dataclass(frozen=True, slots=True)
class Resolved:
    body: bytes
    etag: str
    assignments: tuple[tuple[str, str], ...]  # (experiment, variant)


MAX_CACHED_ANSWERS = 4096
MAX_CACHED_PLAYERS = 100_000


def resolve(snapshot: Snapshot, player: PlayerFacts, now: dt.datetime) -> Resolved:
    """The player's `{"version", "values", "flags", "experiments"}` and its ETag. Players
    whose overrides, flags and variants come out the same share one encoded answer."""
    overrides = tuple(
        i for i, o in enumerate(snapshot.overrides) if segment_matches(o.segment, player)
    )
    flags = tuple(flag.on_for(player) for flag in snapshot.flags.values())
    variants: list[tuple[str, Variant]] = []
    for experiment in snapshot.experiments:
        variant = experiment.variant_for(player, now)
        if variant is not None:
            variants.append((experiment.name, variant))
    key = (overrides, flags, tuple(v.name for _, v in variants))
    answer = snapshot.answers.get(key)
    if answer is not None:
        return answer
    values = dict(snapshot.values)
    for index in overrides:
        values.update(snapshot.overrides[index].values)
    for _, variant in variants:
        values.update(variant.values)
    body = orjson.dumps(
        {
            "version": snapshot.version,
            "values": values,
            "flags": dict(zip(snapshot.flags, flags, strict=True)),
            "experiments": {name: variant.name for name, variant in variants},
        }
    )
    answer = Resolved(
        body=body,
        etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"',
        assignments=tuple((name, variant.name) for name, variant in variants),
    )
    if len(snapshot.answers) < MAX_CACHED_ANSWERS:
        snapshot.answers[key] = answer
    return answer
