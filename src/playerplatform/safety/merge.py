"""What the safety domain moves when two accounts merge (a merge hook): the source's
sanctions follow the player, so merging an account into another never sheds a restriction;
their appeals, feedback and reports move with them. The target's summary is then refreshed
(and a name restriction clears the merged name)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork
from playerplatform.safety import repository, sanctions
from playerplatform.safety.models import reports_owner, sanctions_owner
from playerplatform.users import service as users
from playerplatform.users.models import User

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


async def merge_safety(
    uow: UnitOfWork, runtime: Runtime, source: User, target: User
) -> dict[str, Any]:
    moved = await repository.move_account(uow, source.id, target.id)
    # Moved in bulk, beside the session: the two players' cached lists are stale.
    for owner in (sanctions_owner, reports_owner):
        views.changed(uow, owner(source.id), owner(target.id))
    if moved["sanctions"]:
        live = [
            s for s in await repository.unlifted_sanctions(uow, target.id) if sanctions.in_force(s)
        ]
        if any("name" in sanctions.enforced_scopes(s) for s in live):
            await users.reset_display_name(uow, runtime.hot, target)
        await sanctions.refresh_account(uow, runtime, target, bans_changed=False)
    return moved
