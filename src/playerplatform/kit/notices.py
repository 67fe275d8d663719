"""The port through which a domain tells a player something without depending on the
messaging domain (which itself depends on users and commerce): `Runtime.notify` is
`playerplatform.messaging.notify.notify`, put there by the composition root.

    await runtime.notify(uow, runtime, user_id, "social", title="...", body="...")

Domains that messaging does not depend on may import `messaging.notify.notify` directly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from playerplatform.kit.db import UnitOfWork


class Notify(Protocol):
    async def __call__(
        self,
        uow: UnitOfWork,
        runtime: Any,
        user_id: uuid.UUID,
        kind: str,
        *,
        title: str | Mapping[str, str],
        body: str | Mapping[str, str],
        data: Mapping[str, Any] | None = None,
        attachments: Sequence[Mapping[str, Any]] | None = None,
        key: str | None = None,
        expires_at: dt.datetime | None = None,
        event: str | None = None,
        channels: Sequence[str] = ("email", "push"),
    ) -> str:
        """Write an inbox message for `user_id` and queue its delivery; returns its id."""
        ...
