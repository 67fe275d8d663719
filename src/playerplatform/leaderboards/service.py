"""Scores and ranks: submitting, and reading a season's board.

A live season is served from the hot store and costs no database write per score (the
write-behind is in `durability`); an ended season is served from its archive in the
database, with the ranks frozen at close. Banned and merged players are left out of every
view; ranks keep their place (a hidden player leaves a gap rather than moving others up).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from playerplatform.auth.state import account_restricted
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.edge import json_number
from playerplatform.kit.errors import (
    AccountRestricted,
    AppError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
)
from playerplatform.leaderboards import repository
from playerplatform.leaderboards.boards import BoardEntry, Submission
from playerplatform.leaderboards.durability import board_entry, to_datetime
from playerplatform.leaderboards.live import LiveBoards, SeasonRules
from playerplatform.leaderboards.models import CLOSED
from playerplatform.leaderboards.schemas import EntryOut, ScoreIn, ScoreOut
from playerplatform.leaderboards.seasons import SeasonClosed

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal

FRIENDS_CAP = 1000
SCORES_SCOPE = "leaderboards:write"


class SeasonNotStarted(AppError):
    status, code, title = 409, "season_not_started", "Season not started"


class EntryRemoved(AppError):
    status, code, title = 403, "entry_removed", "Entry removed"


def _now_us() -> int:
    return time.time_ns() // 1000


async def submit_score(
    live: LiveBoards, principal: Principal, season_id: str, body: ScoreIn
) -> ScoreOut:
    """Apply a score with the season's operator. No database write: the entry is marked
    dirty in the hot store and written behind."""
    rules = await live.season(season_id)
    now = utcnow()
    if not rules.accepts_at(now):
        raise SeasonClosed("The season has ended.")
    if now < rules.start:
        raise SeasonNotStarted("The season has not started yet.")
    canonical_id = await _scorer(live, principal, rules, body)
    _check_bounds(rules, body.score)
    if rules.type == "regional" and body.region is None:
        raise ValidationFailed("A regional season needs a region.", field="region")
    metadata = _metadata(live, body.metadata)
    if rules.rate is not None:
        hit = await live.hot.hit_window(
            f"lb:{{{rules.season_id}}}:rate:{canonical_id}",
            limit=rules.rate.amount,
            window=rules.rate.window,
        )
        if not hit.allowed:
            retry = str(max(1, int(hit.reset_after + 0.999)))
            raise RateLimited("Too many scores; slow down.", headers={"Retry-After": retry})
    submission = Submission(
        member_id=canonical_id,
        score=body.score,
        at=_now_us(),
        operator=rules.operator,  # type: ignore[arg-type]
        region=body.region,
        metadata=metadata,
    )
    result = await live.boards.submit(rules.board, submission)
    if result.status == "cold":
        await live.ensure_loaded(rules)
        result = await live.boards.submit(rules.board, submission)
    if result.status == "closed":
        raise SeasonClosed("The season has ended.")
    if result.status == "removed":
        raise EntryRemoved("A moderator removed your entry from this season.")
    if result.score is None or result.rank is None:
        raise SeasonClosed("The season is not taking scores.")  # still cold: being rebuilt
    return ScoreOut(rank=result.rank + 1, score=result.score, improved=result.improved)


async def _scorer(live: LiveBoards, principal: Principal, rules: SeasonRules, body: ScoreIn) -> str:
    if principal.is_service:
        if not principal.has_scope(SCORES_SCOPE):
            raise Forbidden(f"Service accounts need the {SCORES_SCOPE} scope.")
        if body.canonical_id is None:
            raise ValidationFailed("A service account names the player.", field="canonical_id")
        card = (await live.cards([body.canonical_id]))[body.canonical_id]
        if not card.visible:
            raise NotFound("No such player.")
        if await account_restricted(live.hot, live.db, body.canonical_id, "leaderboards"):
            raise AccountRestricted(
                "A sanction keeps this player off the leaderboards.",
                extra={"scope": "leaderboards"},
            )
        return body.canonical_id
    principal.check_unrestricted("leaderboards")
    if rules.authoritative:
        raise Forbidden("Scores in this season come from the game servers only.")
    if body.canonical_id is not None and body.canonical_id != principal.subject:
        raise Forbidden("Players submit their own scores.")
    return principal.subject


def _check_bounds(rules: SeasonRules, score: float) -> None:
    if rules.score_min is not None and score < rules.score_min:
        raise ValidationFailed(f"The score must be at least {rules.score_min}.", field="score")
    if rules.score_max is not None and score > rules.score_max:
        raise ValidationFailed(f"The score must be at most {rules.score_max}.", field="score")


def _metadata(live: LiveBoards, metadata: dict[str, Any] | None) -> str:
    if not metadata:
        return ""
    encoded = orjson.dumps(metadata).decode()
    if len(encoded.encode()) > live.settings.leaderboard_metadata_max_bytes:
        raise PayloadTooLarge("The score's metadata is too large.")
    return encoded


# Reading.


Page = dict[str, Any]  # `BoardPage` on the wire, built as plain data (the hot read path)


@functools.lru_cache(maxsize=65_536)
def _timestamp(at: int) -> str:
    """An entry's time as the API writes it; most entries on a page were on the last one."""
    return to_datetime(at).isoformat().replace("+00:00", "Z")


async def _visible(live: LiveBoards, entries: Sequence[BoardEntry]) -> list[dict[str, Any]]:
    """Entries as `EntryOut` data, without hidden players. Built as plain dicts: a page of
    100 pydantic models (validated, then serialised) cost more than the rest of the read."""
    cards = await live.cards([e.member_id for e in entries])
    out = []
    for entry in entries:
        card = cards.get(entry.member_id)
        if card is None or not card.visible or entry.rank is None:
            continue
        out.append(
            {
                "rank": entry.rank + 1,
                "user": {"canonical_id": entry.member_id, "display_name": card.display_name},
                "score": json_number(entry.score),
                "metadata": orjson.loads(entry.metadata) if entry.metadata else None,
                "submitted_at": _timestamp(entry.at),
                "region": entry.region,
            }
        )
    return out


async def _page_json(live: LiveBoards, entries: Sequence[BoardEntry], total: int) -> bytes:
    """A `BoardPage`, encoded."""
    return orjson.dumps({"items": await _visible(live, entries), "total": total})


async def _live_rules(live: LiveBoards, season_id: str) -> SeasonRules:
    rules = await live.season(season_id)
    if rules.state != CLOSED:
        await live.ready(rules)
    return rules


async def top(
    live: LiveBoards,
    season_id: str,
    *,
    offset: int,
    limit: int,
    region: str | None,
) -> bytes:
    """Entries by rank from `offset`, and the total (of the region when given), as encoded
    JSON. Live boards are read from the hot store, and a page kept since its board last
    changed is answered as it was encoded (`LiveBoards.kept_page`); only an archive opens a
    (read-only) unit of work, on a read replica when one is fit."""
    rules = await _live_rules(live, season_id)
    if rules.state == CLOSED:
        # An archive never changes once written: a read replica serves it (`read_lagging`).
        rows, total = await live.db.read_lagging(
            lambda uow: repository.archived_page(
                uow, rules.pk, offset=offset, limit=limit, region=region
            )
        )
        return await _page_json(live, _archived(rows, first=offset if region else None), total)
    key = (season_id, region, offset, limit)
    kept = live.kept_page(key)
    read = await live.boards.page(
        rules.board,
        offset,
        offset + limit - 1,
        region=region,
        known=kept.version if kept is not None else None,
    )
    if read is None:  # the board did not change since the kept page was read
        assert kept is not None
        return kept.body
    body = await _page_json(live, read.entries, read.total)
    live.keep_page(key, read.version, body, [e.member_id for e in read.entries])
    return body


async def around(
    live: LiveBoards,
    season_id: str,
    canonical_id: str,
    *,
    radius: int,
    region: str | None,
) -> Page:
    """The caller and `radius` entries either side (a full page at the top and bottom). Live
    boards are read from the hot store; only an archive opens a (read-only) unit of work, on a read
    replica when one is fit."""
    rules = await _live_rules(live, season_id)
    if rules.state != CLOSED:
        entries, total = await live.boards.around(rules.board, canonical_id, radius, region=region)
        return {"items": await _visible(live, entries), "total": total}
    return await live.db.read_lagging(
        lambda uow: _archived_around(uow, live, rules, canonical_id, radius=radius, region=region)
    )


async def _archived_around(
    uow: UnitOfWork,
    live: LiveBoards,
    rules: SeasonRules,
    canonical_id: str,
    *,
    radius: int,
    region: str | None,
) -> Page:
    _rows, total = await repository.archived_page(uow, rules.pk, offset=0, limit=0, region=region)
    found = await repository.archived_position(uow, rules.pk, canonical_id, region=region)
    if found is None:
        return {"items": [], "total": total}
    width = 2 * radius + 1
    start = max(0, min(found[0] - radius, total - width))
    rows, total = await repository.archived_page(
        uow, rules.pk, offset=start, limit=width, region=region
    )
    entries = _archived(rows, first=start if region else None)
    return {"items": await _visible(live, entries), "total": total}


def _archived(rows: Sequence[repository.EntryRow], *, first: int | None) -> list[BoardEntry]:
    """Archive rows as board entries; ranks are the frozen ones, or positions in a region."""
    out = []
    for i, (row, cid) in enumerate(rows):
        rank = (first + i) if first is not None else (row.rank or 0) - 1
        entry = board_entry(row, cid)
        out.append(
            BoardEntry(
                entry.member_id, entry.score, entry.at, entry.region, entry.metadata, rank=rank
            )
        )
    return out


async def entries_of(
    uow: UnitOfWork, live: LiveBoards, season_id: str, canonical_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The ranked entries of these players, by rank."""
    rules = await _live_rules(live, season_id)
    if rules.state == CLOSED:
        rows = await repository.archived_entries(uow, rules.pk, canonical_ids)
        entries = _archived(rows, first=None)
    else:
        found = await live.boards.entries(rules.board, canonical_ids)
        entries = [e for e in found if e is not None]
    entries.sort(key=lambda e: e.rank or 0)
    return await _visible(live, entries)


async def my_entry(
    uow: UnitOfWork, live: LiveBoards, season_id: str, canonical_id: str
) -> EntryOut:
    """The caller's entry; 404 when there is none."""
    found = await entries_of(uow, live, season_id, [canonical_id])
    if not found:
        raise NotFound("You have no entry in this season.")
    return EntryOut.model_validate(found[0])


async def friends_board(
    uow: UnitOfWork, live: LiveBoards, season_id: str, principal: Principal
) -> Page:
    """The caller and their friends, ranked (ranks are the season-wide ones)."""
    from playerplatform.users import service as users

    assert principal.user_id is not None
    friends = await users.list_friends(uow, principal.user_id)
    ids = [principal.subject, *(f.canonical_id for f in friends.friends[:FRIENDS_CAP])]
    items = await entries_of(uow, live, season_id, ids)
    return {"items": items, "total": len(items)}
