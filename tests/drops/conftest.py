"""Fixtures: the webhook and drops world (tests/support/drops_world.py)."""

from tests.support.drops_world import drops_database, drops_settings, world

__all__ = ["drops_database", "drops_settings", "world"]
