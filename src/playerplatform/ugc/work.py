"""UGC's open moderation work, for the one moderation queue: items waiting for review or
flagged (with their reports' reasons and counts), and creators' open appeals. Read-only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from playerplatform.kit.db import UnitOfWork
from playerplatform.ugc import repository
from playerplatform.ugc.models import Ugc


@dataclass(frozen=True, slots=True)
class Work:
    kind: str  # "review" or "appeal"
    ref_id: str  # the item's ugc_id, or the appeal's id
    subject: dict[str, Any]


def is_appeal_id(ref_id: str) -> bool:
    """Whether `ref_id` names a UGC appeal (`a` and 24 hex digits)."""
    return len(ref_id) == 25 and ref_id[0] == "a"


def _item(item: Ugc) -> dict[str, Any]:
    return {
        "ugc_id": item.public_id,
        "name": item.name,
        "ugc_type": item.type,
        "status": item.status,
        "status_reason": item.status_reason,
        "scan": item.scan_state,
        "size": item.size,
        "content_type": item.content_type,
        "filename": item.filename,
    }


async def open_work(uow: UnitOfWork, *, limit: int) -> list[Work]:
    """Up to `limit` pieces of open work, oldest first per kind."""
    items: list[Ugc] = []
    for status in ("flagged", "pending_review"):
        items += await repository.moderation_queue(uow, status, after=None, limit=limit)
    reasons = await repository.open_report_reasons(uow, [i.id for i in items])
    work = [
        Work(
            "review",
            item.public_id,
            {
                **_item(item),
                "reports": dict(reasons.get(item.id, {})),
                "report_count": sum(reasons.get(item.id, Counter()).values()),
            },
        )
        for item in items[:limit]
    ]
    appeals = await repository.open_appeals_with_items(uow, limit=limit)
    for appeal, item in appeals:
        work.append(
            Work(
                "appeal",
                appeal.public_id,
                {
                    "appeal_id": appeal.public_id,
                    "target": {"type": "ugc", "id": item.public_id},
                    "message": appeal.message,
                    **_item(item),
                },
            )
        )
    return work
