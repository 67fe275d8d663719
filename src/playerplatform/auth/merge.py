"""The merge registration point. A domain that owns per-account rows (commerce, leaderboards,
UGC, ...) registers a hook; `POST /auth/merge` runs every hook inside the merge's one
transaction, so an account's rows move together or not at all.

    register_merge_hook("commerce", move_commerce)   # async (uow, runtime, source, target) -> dict | None

A hook returns a short summary (what it moved) for the audit row, or None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from playerplatform.kit.db import UnitOfWork
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

MergeHook = Callable[[UnitOfWork, "Runtime", User, User], Awaitable[dict[str, Any] | None]]
_hooks: dict[str, MergeHook] = {}


def register_merge_hook(name: str, hook: MergeHook) -> None:
    _hooks[name] = hook


def merge_hooks() -> list[tuple[str, MergeHook]]:
    return sorted(_hooks.items())
