"""Seasons: admin management (audited), and the season worker that closes them.

Closing, at `end_date` or when an admin says so, is one idempotent job:
refuse new scores (the hot store's closed flag, checked atomically by every submission),
write every score still waiting behind, freeze the final ranks into
`leaderboard_entries.rank`, apply the reset rule, open the next season of a recurring
series, and, once all that committed, free the board's hot keys. Run again after a crash
midway, it picks up where the committed state says it is.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING, Any

from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

from playerplatform.audit import service as audit
from playerplatform.commerce import grants as commerce
from playerplatform.jobs.service import enqueue, keyed_job, revive
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import AppError, Conflict, NotFound, ValidationFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.kit.views import Views
from playerplatform.leaderboards import durability, repository, rewards
from playerplatform.leaderboards.live import CLOSED_FLAG_TTL, LiveBoards
from playerplatform.leaderboards.models import CLOSED, CLOSING, OPEN, SEASONS_OWNER, Season
from playerplatform.leaderboards.schemas import SeasonCursor, SeasonIn, SeasonOut, SeasonPatch

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime

RANK_BATCH = 5000


class SeasonClosed(AppError):
    status, code, title = 409, "season_closed", "Season closed"


class SeasonExists(Conflict):
    code, title = "season_exists", "Season already exists"


def season_out(season: Season, now: dt.datetime | None = None) -> SeasonOut:
    now = now or utcnow()
    active = (
        season.state == OPEN
        and season.start_date <= now
        and (season.end_date is None or now < season.end_date)
    )
    return SeasonOut(
        season_id=season.season_id,
        name=season.name,
        type=season.type,
        start_date=season.start_date,
        end_date=season.end_date,
        reset_rule=season.reset_rule,
        sort=season.sort,
        operator=season.operator,
        is_active=active,
        metadata=season.meta or {},
        reward_tiers=season.reward_tiers,
        recurrence=season.recurrence,
        authoritative=season.authoritative,
        state=season.state,
    )


def _audit_view(season: Season) -> dict[str, Any]:
    return season_out(season).model_dump(mode="json", exclude={"is_active"})


async def seasons_json(
    uow: UnitOfWork, cache: Views, page: PageParams, *, active: bool | None
) -> bytes:
    """A page of `GET /leaderboards/seasons`, encoded, from the cached view while current: a
    season written renews it (`Season.views_owner`), and a stored page is not served past the
    next moment an open season starts or ends."""

    async def load() -> tuple[bytes, float | None]:
        found = await list_seasons(uow, page, active=active)
        boundary = await repository.next_boundary(uow, utcnow())
        return found.model_dump_json().encode(), boundary.timestamp() if boundary else None

    name = page.view_name(f"list:{active}")
    return await cache.read_until(SEASONS_OWNER, name, load)


async def list_seasons(
    uow: UnitOfWork, page: PageParams, *, active: bool | None
) -> Page[SeasonOut]:
    """Seasons, newest first; `active` keeps only those taking scores now (or the others)."""
    now = utcnow()
    after = decode_cursor(page.cursor, SeasonCursor)
    rows = await repository.season_page(
        uow,
        active=active,
        now=now,
        after=(after.t, after.i) if after else None,
        limit=page.limit + 1,
    )
    return paginate(
        rows,
        page.limit,
        lambda s: SeasonCursor(t=s.start_date, i=s.season_id),
        lambda s: season_out(s, now),
    )


async def get_season(uow: UnitOfWork, season_id: str) -> SeasonOut:
    season = await repository.get_season(uow, season_id)
    if season is None:
        raise NotFound("No such season.")
    return season_out(season)


async def create_season(
    uow: UnitOfWork, body: SeasonIn, *, actor: Principal, client: ClientInfo
) -> SeasonOut:
    """Create a season (audited); 409 `season_exists` when the id is taken."""
    now = utcnow()
    season = Season(
        id=new_uuid(),
        season_id=body.season_id,
        name=body.name,
        type=body.type,
        sort=body.sort,
        operator=body.operator,
        reset_rule=body.reset_rule,
        start_date=body.start_date or now,
        end_date=body.end_date,
        recurrence=body.recurrence,
        series=body.season_id,
        sequence=1,
        authoritative=body.authoritative,
        meta=body.metadata,
        reward_tiers=[t.model_dump() for t in body.reward_tiers] if body.reward_tiers else None,
        state=OPEN,
        created_at=now,
        updated_at=now,
    )
    for n, tier in enumerate(season.reward_tiers or []):
        await commerce.check_lines(uow, tier["attachments"], field=f"reward_tiers[{n}].attachments")
    if not await repository.insert_season(uow, season):
        raise SeasonExists("A season with this id exists.", extra={"season_id": body.season_id})
    await audit.record(
        uow,
        action="season.create",
        resource_type="season",
        resource_id=season.season_id,
        actor=actor,
        new=_audit_view(season),
        client=client,
    )
    return season_out(season, now)


async def update_season(
    uow: UnitOfWork,
    live: LiveBoards,
    season_id: str,
    patch: SeasonPatch,
    *,
    actor: Principal,
    client: ClientInfo,
) -> SeasonOut:
    """Change an open season's name, dates, recurrence, authority or metadata (audited)."""
    season = await repository.get_season(uow, season_id, for_update=True)
    if season is None:
        raise NotFound("No such season.")
    if season.state != OPEN:
        raise SeasonClosed("The season has ended; it can no longer be changed.")
    old = _audit_view(season)
    changes = patch.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in ("end_date", "recurrence"):
            raise ValidationFailed(f"{name} cannot be null.", field=name)
        setattr(season, "meta" if name == "metadata" else name, value)
    if season.end_date is not None and season.end_date <= season.start_date:
        raise ValidationFailed("end_date must be after start_date.", field="end_date")
    if season.recurrence and season.end_date is None:
        raise ValidationFailed("A recurring season needs an end_date.", field="end_date")
    season.updated_at = utcnow()
    await uow.session.flush()
    await audit.record(
        uow,
        action="season.update",
        resource_type="season",
        resource_id=season_id,
        actor=actor,
        old=old,
        new=_audit_view(season),
        client=client,
    )
    _forget_after_commit(uow, live, season_id)
    return season_out(season)


async def request_close(
    uow: UnitOfWork, live: LiveBoards, season_id: str, *, actor: Principal, client: ClientInfo
) -> SeasonOut:
    """End the season now (audited): scores are refused from this moment on, in every
    process; the season worker freezes the ranks."""
    season = await repository.get_season(uow, season_id, for_update=True)
    if season is None:
        raise NotFound("No such season.")
    if season.state == OPEN:
        old = _audit_view(season)
        now = utcnow()
        # The flag first: once it is set no submission lands, whatever this unit does next.
        await live.hot.set(durability.board_of(season).closed, "1", ttl=CLOSED_FLAG_TTL)
        if season.end_date is None or season.end_date > now:
            season.end_date = max(now, season.start_date)
        season.state, season.closed_at, season.updated_at = CLOSING, now, now
        await uow.session.flush()
        await audit.record(
            uow,
            action="season.close",
            resource_type="season",
            resource_id=season_id,
            actor=actor,
            old=old,
            new=_audit_view(season),
            client=client,
        )
    if season.state != CLOSED:
        await enqueue_close(uow, season_id)
    _forget_after_commit(uow, live, season_id)
    return season_out(season)


async def enqueue_close(uow: UnitOfWork, season_id: str) -> None:
    await enqueue(
        uow,
        "leaderboard_update",
        {"kind": "close", "season_id": season_id},
        key=f"close:{season_id}",
    )


async def resume_close(uow: UnitOfWork, season_id: str) -> str:
    """Run a stopped close again: `revived` (its dead job has fresh attempts), `enqueued`
    (no job was there), `job <status>` (its job is not dead: still to run); or why there is nothing to
    resume: `missing`, `closed`, `open` (not due yet)."""
    season = await repository.get_season(uow, season_id)
    if season is None:
        return "missing"
    if season.state == CLOSED:
        return "closed"
    if season.state == OPEN and (season.end_date is None or season.end_date > utcnow()):
        return "open"
    job = await keyed_job(uow, "leaderboard_update", f"close:{season_id}")
    if job is None:
        await enqueue_close(uow, season_id)
        return "enqueued"
    if await revive(uow, job, reason="leaderboards resume-close"):
        return "revived"
    return f"job {job.status}"


def _forget_after_commit(uow: UnitOfWork, live: LiveBoards, season_id: str) -> None:
    async def forget() -> None:
        live.forget_season(season_id)

    uow.after_commit(forget)


async def close_season(
    uow: UnitOfWork,
    live: LiveBoards,
    season_id: str,
    *,
    batch: int,
    rt: Runtime | None = None,
) -> str:
    """The season worker (see the module docstring). Returns what it did. With `rt`, each
    ranked player is told their rank, with their tier's rewards attached (`rewards`)."""
    season = await repository.get_season(uow, season_id, for_update=True)
    if season is None:
        return "missing"
    board = durability.board_of(season)
    if season.state == CLOSED:
        _free_after_commit(uow, live, season)  # a crash may have come before the keys went
        return "already_closed"
    now = utcnow()
    if season.state == OPEN and season.end_date is not None and season.end_date > now:
        return "not_due"
    await live.hot.set(board.closed, "1", ttl=CLOSED_FLAG_TTL)
    season.closed_at = season.closed_at or now
    written = await durability.flush_season(uow, live.boards, season, batch=batch, budget=2**62)
    ranked = await _freeze_ranks(uow, season)
    if rt is not None:
        await rewards.tell_ranked_players(uow, rt, season)
    if season.reset_rule == "clear":
        await repository.delete_entries(uow, season.id)
    season.state, season.updated_at = CLOSED, now
    following = await _open_next(uow, season, now) if season.recurrence else None
    await uow.session.flush()
    await audit.record(
        uow,
        action="season.closed",
        resource_type="season",
        resource_id=season_id,
        new={"ranked": ranked, "written": written, "next_season": following},
    )
    _free_after_commit(uow, live, season)
    return "closed"


async def _freeze_ranks(uow: UnitOfWork, season: Season) -> int:
    ordered = await repository.entries_in_order(uow, season, after=0, limit=2**62)
    for begin in range(0, len(ordered), RANK_BATCH):
        chunk = ordered[begin : begin + RANK_BATCH]
        await repository.set_ranks(
            uow,
            [{"entry_id": eid, "rank": begin + i + 1} for i, (eid, _cid) in enumerate(chunk)],
        )
    return len(ordered)


def _free_after_commit(uow: UnitOfWork, live: LiveBoards, season: Season) -> None:
    board = durability.board_of(season)

    async def free() -> None:
        # Rules first: a reader still holding the open season's rules would read the board
        # while it goes; once they are forgotten, readers load the closed season (its archive).
        live.forget_season(season.season_id)
        await live.boards.drop(board)

    uow.after_commit(free)


def next_window(season: Season, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The next season's start and end: right after this one, skipping windows that are
    already over (a worker that was down for a while opens the current one)."""
    assert season.end_date is not None and season.recurrence is not None
    start = season.end_date
    end = _step(season.recurrence, start)
    while end <= now:
        start, end = end, _step(season.recurrence, end)
    return start, end


def _step(recurrence: str, start: dt.datetime) -> dt.datetime:
    if recurrence == "daily":
        return start + dt.timedelta(days=1)
    if recurrence == "weekly":
        return start + dt.timedelta(days=7)
    if recurrence == "monthly":
        year, month = divmod(start.month, 12)
        year, month = start.year + year, month + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)
    following: dt.datetime = croniter(recurrence, start).get_next(dt.datetime)
    return following


async def _open_next(uow: UnitOfWork, season: Season, now: dt.datetime) -> str:
    sequence = season.sequence + 1
    suffix = f"-{sequence}"
    season_id = season.series[: 64 - len(suffix)] + suffix
    start, end = next_window(season, now)
    following = Season(
        id=new_uuid(),
        season_id=season_id,
        name=season.name,
        type=season.type,
        sort=season.sort,
        operator=season.operator,
        reset_rule=season.reset_rule,
        start_date=start,
        end_date=end,
        recurrence=season.recurrence,
        series=season.series,
        sequence=sequence,
        authoritative=season.authoritative,
        meta=dict(season.meta or {}),
        reward_tiers=season.reward_tiers,
        state=OPEN,
        created_at=now,
        updated_at=now,
    )
    if await repository.insert_season(uow, following) and season.reset_rule == "none":
        await repository.copy_entries(uow, season.id, following.id)
    return season_id
