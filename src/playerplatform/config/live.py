"""The in-process layer: every API process holds the live configuration, flags and
experiments (`Snapshot`) in memory and serves them without a database or Redis round trip.

How a change reaches every process:

- The change commits with a new state version (`config_state`), then bumps the hot-store
  counter `config:changes` and reloads this process's copy at once.
- `config:` is one of the near-copied prefixes (`kit.hotstore.near`): each process holds a
  copy of the counter that Redis invalidates when any process bumps it. A request compares
  that copy (read in memory) with the counter its snapshot was loaded under; when they differ
  the snapshot is reloaded before the answer. In the embedded shape the store is in-process,
  so the change is seen directly.
- A process that missed a message (a broken connection, a counter that was lost) catches
  up by version: every `PP_CONFIG_CATCH_UP_SECONDS` it reads the state version from the
  database and reloads when it is behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from playerplatform.config import repository
from playerplatform.config.models import ConfigVersion, Experiment, FeatureFlag
from playerplatform.config.resolve import ExperimentRule, Flag, Override, Snapshot, Variant
from playerplatform.config.targeting import CompiledSegment
from playerplatform.kit.db import Database
from playerplatform.kit.hotstore import HotStore

log = structlog.get_logger(__name__)

CHANGES_KEY = "config:changes"
_NOTHING = object()


class LiveConfig:
    """This process's copy of the live configuration (see the module docstring)."""

    def __init__(self, db: Database, hot: HotStore, *, catch_up_seconds: float) -> None:
        self._db = db
        self._hot = hot
        self._catch_up = catch_up_seconds
        self.snapshot = Snapshot()
        self._seen: str | None = None  # the counter the snapshot was loaded under
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        # (experiment, canonical id) whose exposure this process wrote already.
        self.exposed: set[tuple[str, str]] = set()

    async def start(self) -> None:
        await self._hot.incr(CHANGES_KEY, 0)  # exists from now on, so its copy can be kept
        await self.refresh()
        self._task = asyncio.create_task(self._catch_up_loop(), name="config-catch-up")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def current(self) -> Snapshot:
        """The live snapshot; reloaded first when another process changed it."""
        signal = self._hot.peek_near([CHANGES_KEY])
        if signal is None:
            signal = await self._hot.mget_near([CHANGES_KEY])
        if signal[0] != self._seen:
            await self.refresh(unless_seen=signal[0])
        return self.snapshot

    async def changed(self) -> None:
        """After a change committed here: tell every process, and reload this one's copy."""
        try:
            await self._hot.incr(CHANGES_KEY)
        finally:
            await self.refresh()

    async def refresh(self, *, unless_seen: str | None | object = _NOTHING) -> None:
        """Reload from the database when it holds a newer state version. One reload at a
        time: requests that saw the same change message wait for the first one's reload
        (`unless_seen`) instead of each reading the database after it."""
        async with self._lock:
            if unless_seen is not _NOTHING and unless_seen == self._seen:
                return
            signal = (await self._hot.mget([CHANGES_KEY]))[0]  # before the read: never stale
            async with self._db.unit_of_work(write=False) as uow:
                version = await repository.state_version(uow)
                if version == self.snapshot.version:
                    # Changes are numbered in order and a snapshot is read after its number,
                    # so it holds at least that state: nothing to reload.
                    self._seen = signal
                    return
                latest = await repository.latest_version(uow)
                flags = await repository.all_flags(uow)
                experiments = await repository.all_experiments(uow)
            self.snapshot = build_snapshot(version, latest, flags, experiments)
            self._seen = signal

    async def _catch_up_loop(self) -> None:
        while True:
            await asyncio.sleep(self._catch_up)
            try:
                await self.refresh()
            except Exception:
                log.warning("config_catch_up_failed", exc_info=True)


def build_snapshot(
    version: int,
    latest: ConfigVersion | None,
    flags: Sequence[FeatureFlag],
    experiments: Sequence[Experiment],
) -> Snapshot:
    """The snapshot of stored rows, segments compiled."""
    return Snapshot.of(
        version=version,
        config_version=latest.version if latest else 0,
        values=dict(latest.values) if latest else {},
        overrides=tuple(
            Override(CompiledSegment.of(o.get("segment")), dict(o.get("values") or {}))
            for o in (latest.overrides if latest else [])
        ),
        flags={
            f.name: Flag(f.name, f.enabled, f.rollout_percent, CompiledSegment.of(f.segment))
            for f in flags
        },
        experiments=tuple(
            ExperimentRule(
                name=e.name,
                variants=tuple(
                    Variant(v["name"], int(v["weight"]), dict(v.get("values") or {}))
                    for v in e.variants
                ),
                segment=CompiledSegment.of(e.segment),
                starts_at=e.starts_at,
                ends_at=e.ends_at,
            )
            for e in experiments
        ),
    )
