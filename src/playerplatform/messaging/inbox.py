"""A player's inbox: listing (with broadcasts materialized on read), reading, claiming
attachments exactly once, deleting.

Broadcasts cost one row when they are sent. A player's inbox read looks for live broadcasts
not yet in their inbox (one indexed anti-join over the few live broadcasts), checks each
one's segment against the player (the cached user object, and commerce for `has_sku`), and
writes the matching ones as the player's own messages, keyed `broadcast:<id>:<user>` so two
reads at once write one row. From then on the message is the player's like any other (read,
claimed, deleted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from playerplatform.commerce import grants as commerce
from playerplatform.commerce.owners import SKU_OWNERS
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import AppError, Conflict, NotFound
from playerplatform.kit.http import in_unit_of_work
from playerplatform.kit.pagination import (
    CursorKey,
    CursorText,
    CursorTime,
    PageParams,
    decode_cursor,
    encode_cursor,
)
from playerplatform.messaging import repository
from playerplatform.messaging.models import Broadcast
from playerplatform.messaging.notify import localize, message_out, message_row
from playerplatform.messaging.schemas import ClaimOut, MessageOut
from playerplatform.users import service as users
from playerplatform.users.segments import Segment, SegmentFacts, admits

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


class AlreadyClaimed(Conflict):
    code, title = "already_claimed", "The attachments were claimed already"


class MessageExpired(AppError):
    status, code, title = 410, "expired", "The message has expired"


class NothingToClaim(Conflict):
    code, title = "nothing_to_claim", "The message has no attachments"


class UnclaimedAttachments(Conflict):
    code, title = "unclaimed_attachments", "The message has unclaimed attachments"


LIVE_OWNER = "broadcasts"  # the cached list of broadcasts not cancelled nor expired
# How long a player's cached "live broadcasts my inbox lacks" may lag a change that is not
# the inbox's own: gaining the SKU of a `has_sku` segment.
LACKS_TTL = 60.0


def inbox_owner(user_id: uuid.UUID) -> str:
    """The cached views of one player's inbox (`kit.views`)."""
    return f"inbox:{user_id.hex}"


class InboxCursor(CursorKey):
    t: CursorTime
    i: CursorText


class Reader:
    """The player reading their inbox, from the cached user object: locale and segment
    facts without a database read."""

    def __init__(self, canonical_id: str, user_id: uuid.UUID, view: dict[str, Any]) -> None:
        self.canonical_id = canonical_id
        self.user_id = user_id
        profile = view.get("profile") or {}
        self.locale: str | None = profile.get("locale")
        self.facts = SegmentFacts(
            country=profile.get("country"),
            platforms=frozenset(i["provider"] for i in view.get("identities", ())),
            created_at=dt.datetime.fromisoformat(view["created_at"]),
            roles=frozenset(view.get("roles", ())),
        )


async def reader(rt: Runtime, canonical_id: str, user_id: uuid.UUID) -> Reader:
    view = orjson.loads(await users.cached_user_view(rt.hot, rt.db, canonical_id, user_id))
    return Reader(canonical_id, user_id, view)


def _wants_by_facts(who: Reader, broadcast: dict[str, Any], now: dt.datetime) -> bool:
    if dt.datetime.fromisoformat(broadcast["send_at"]) > now:
        return False
    expires = broadcast.get("expires_at")
    if expires is not None and dt.datetime.fromisoformat(expires) <= now:
        return False
    return admits(Segment.model_validate(broadcast["segment"] or {}), who.facts)


async def live_broadcasts(rt: Runtime) -> list[dict[str, Any]]:
    """Broadcasts not cancelled and not expired when read: a cached view every process
    holds a copy of, renewed when one is created, cancelled or fired (so an inbox read costs
    no query for broadcasts while none is live). Scheduled ones are in it: `send_at` is
    compared at each read."""

    async def load() -> bytes:
        async with rt.db.unit_of_work(write=False) as uow:
            rows = await repository.live_broadcasts(uow, utcnow())
        return orjson.dumps(
            [
                {
                    "id": r.id.hex,
                    "segment": r.segment or {},
                    "send_at": r.send_at.isoformat(),
                    "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                }
                for r in rows
            ]
        )

    found: list[dict[str, Any]] = orjson.loads(
        await rt.views.read(LIVE_OWNER, "live", load, ttl=60.0)
    )
    return found


async def deliver_broadcasts(rt: Runtime, who: Reader) -> int:
    """Write the live broadcasts meant for this player that their inbox lacks; returns how
    many. Segments are checked in memory first (`has_sku` then asks commerce). Which of the
    candidates the inbox lacks is a cached view of the player's inbox (renewed whenever the
    inbox changes, so when a broadcast is taken in; at most `LACKS_TTL` old for `has_sku`),
    so a player who has every live broadcast meant for them costs no query; the database is written only when one is missing, in units of their own
    (a read-only request calls this before its first query)."""
    now = utcnow()
    candidates = sorted(b["id"] for b in await live_broadcasts(rt) if _wants_by_facts(who, b, now))
    if not candidates:
        return 0

    async def load() -> bytes:
        async with rt.db.unit_of_work(write=False) as uow:
            unseen = await repository.unseen_broadcasts(
                uow, who.user_id, [uuid.UUID(b) for b in candidates], now
            )
            meant = [b for b in unseen if await _admits_by_ownership(uow, who, b)]
        return orjson.dumps([b.id.hex for b in meant])

    digest = hashlib.blake2b(",".join(candidates).encode(), digest_size=8).hexdigest()
    lacking = orjson.loads(
        await rt.views.read(inbox_owner(who.user_id), f"lacks:{digest}", load, ttl=LACKS_TTL)
    )
    if not lacking:
        return 0
    async with rt.db.unit_of_work(write=False) as uow:
        unseen = await repository.unseen_broadcasts(
            uow, who.user_id, [uuid.UUID(b) for b in lacking], now
        )
        rows = await _rows_for(uow, who, unseen)
    if rows:

        async def write(writer: UnitOfWork) -> None:
            await repository.insert_messages(writer, rows)
            views.changed(writer, inbox_owner(who.user_id))

        await in_unit_of_work(rt.db, write)
    return len(rows)


async def _admits_by_ownership(uow: UnitOfWork, who: Reader, broadcast: Broadcast) -> bool:
    """The segment's `has_sku` (asked of commerce); True without one."""
    segment = Segment.model_validate(broadcast.segment or {})
    return segment.has_sku is None or await SKU_OWNERS.owns(uow, who.user_id, segment.has_sku)


async def _rows_for(uow: UnitOfWork, who: Reader, unseen: list[Broadcast]) -> list[dict[str, Any]]:
    rows = []
    for b in unseen:
        if not await _admits_by_ownership(uow, who, b):
            continue
        rows.append(
            message_row(
                who.user_id,
                b.kind,
                title=b.title,
                body=b.body,
                data=b.data,
                attachments=list(b.attachments or []),
                key=f"broadcast:{b.broadcast_id}:{who.user_id.hex}",
                expires_at=b.expires_at,
                broadcast_id=b.id,
                now=b.sent_at or b.send_at,
            )
        )
    return rows


async def list_inbox(
    uow: UnitOfWork,
    rt: Runtime,
    who: Reader,
    *,
    unread: bool,
    kind: str | None,
    page: PageParams,
) -> bytes:
    """The player's messages, newest first, in their locale, with the unread count: encoded,
    from the player's cached views while nothing in their inbox changed."""
    after = decode_cursor(page.cursor, InboxCursor)
    if after is None:  # the first page: broadcasts sent since the last read join the inbox
        await deliver_broadcasts(rt, who)

    async def load() -> bytes:
        rows, unread_total = await repository.page_of_messages(
            uow,
            who.user_id,
            unread=unread,
            kind=kind,
            after=(after.t, after.i) if after else None,
            limit=page.limit + 1,
        )
        shown = rows[: page.limit]
        next_cursor = None
        if len(rows) > page.limit and shown:
            last = shown[-1]
            next_cursor = encode_cursor(InboxCursor(t=last.created_at, i=last.message_id))
        return _page_json(shown, who.locale, next_cursor, unread_total)

    name = page.view_name(f"list:{who.locale}:{int(unread)}:{kind}")
    return await rt.views.read(inbox_owner(who.user_id), name, load)


def _page_json(
    rows: list[Any], locale: str | None, next_cursor: str | None, unread_total: int
) -> bytes:
    """An `InboxPage`, encoded straight from the page's rows (the same JSON as the model's:
    this is the read every game screen makes, and the models cost more than the query)."""
    items = [
        {
            "message_id": r.message_id,
            "kind": r.kind,
            "title": localize(r.title, locale),
            "body": localize(r.body, locale),
            "data": orjson.Fragment(r.data_json or "{}"),
            "attachments": orjson.Fragment(r.attachments_json or "[]"),
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "read_at": r.read_at,
            "claimed_at": r.claimed_at,
        }
        for r in rows
    ]
    page = {"items": items, "next_cursor": next_cursor, "unread_count": unread_total}
    return orjson.dumps(page, option=orjson.OPT_UTC_Z)


async def get_message(uow: UnitOfWork, who: Reader, message_id: str) -> MessageOut:
    row = await repository.get_message(uow, who.user_id, message_id)
    if row is None:
        raise NotFound("No such message.")
    return message_out(row, who.locale)


@dataclass(frozen=True, slots=True)
class ReportedMessage:
    """One of a player's messages as a report on it sees it. `author`: the canonical id of
    the player whose action the message carries (a friend request's sender); None for what
    the studio and the platform send (gifts, rewards, notices, broadcasts)."""

    message_id: str
    kind: str
    title: str
    author: str | None


async def reported_message(
    uow: UnitOfWork, user_id: uuid.UUID, message_id: str
) -> ReportedMessage | None:
    """`message_id` of `user_id`'s inbox, for a report on it; None when they have none such
    (another player's message included)."""
    row = await repository.get_message(uow, user_id, message_id)
    if row is None:
        return None
    author = (row.data or {}).get("canonical_id") if row.kind == "social" else None
    return ReportedMessage(
        message_id=row.message_id,
        kind=row.kind,
        title=localize(row.title, "en"),
        author=author if isinstance(author, str) else None,
    )


async def mark_read(uow: UnitOfWork, user_id: uuid.UUID, message_id: str) -> None:
    """One statement when the message was unread (the usual case); whether it exists is
    asked only when nothing changed. A message read already changes nothing, so the
    player's cached inbox stays."""
    if await repository.mark_read(uow, user_id, message_id, utcnow()):
        views.changed(uow, inbox_owner(user_id))
    elif await repository.get_message(uow, user_id, message_id) is None:
        raise NotFound("No such message.")


async def mark_all_read(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """One statement; the cached inbox is renewed only when a message was unread (a game
    calling this on every visit keeps its inbox page cached)."""
    if await repository.mark_read(uow, user_id, None, utcnow()):
        views.changed(uow, inbox_owner(user_id))


async def claim(uow: UnitOfWork, rt: Runtime, who: Reader, message_id: str) -> ClaimOut:
    """Grant the message's attachments, once. On PostgreSQL one statement: the conditional
    update of the message (not claimed, not expired, with attachments) is the source of
    commerce's grant of its lines, whose keys derive from the message (elsewhere the same
    two steps as two statements of the transaction). Of any number of concurrent claims one
    updates the message and commits the grants; the others wait on the row, find it claimed
    and answer 409 `already_claimed`. Why a claim failed is read only when it failed."""
    now = utcnow()
    key, reason = f"inbox:{message_id}", f"inbox message {message_id}"
    if uow.dialect == "postgresql":
        granted, found = await commerce.grant_lines_from(
            uow,
            rt,
            user_id=who.user_id,
            canonical_id=who.canonical_id,
            source=repository.CLAIM_SOURCE,
            values=repository.claim_source_values(who.user_id, message_id, now),
            key=key,
            reason=reason,
        )
        if found is None:
            raise await _why_not_claimable(uow, who.user_id, message_id, now)
        out = _claimed_out(found, who.locale)
    else:
        row = await repository.claim_message(uow, who.user_id, message_id, now)
        if row is None:
            raise await _why_not_claimable(uow, who.user_id, message_id, now)
        if not row.attachments:
            raise NothingToClaim("This message has nothing to claim.")  # rolls the update back
        out = message_out(row, who.locale)
        granted = await commerce.grant_lines(
            uow, rt, user_id=who.user_id, lines=out.attachments, key=key, reason=reason
        )
    views.changed(uow, inbox_owner(who.user_id))
    return ClaimOut(
        message=out,
        entitlements=[e.model_dump(mode="json") for e in granted.entitlements],
        balances=[b.model_dump(mode="json") for b in granted.balances],
    )


def _claimed_out(found: dict[str, Any], locale: str | None) -> MessageOut:
    """The claimed message from its row as JSON (timestamps in ISO text)."""

    def at(name: str) -> dt.datetime | None:
        value = found.get(name)
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC) if value else None

    created_at = at("created_at")
    assert created_at is not None
    return MessageOut(
        message_id=found["message_id"],
        kind=found["kind"],
        title=localize(found["title"], locale),
        body=localize(found["body"], locale),
        data=found["data"] or {},
        attachments=list(found["attachments"] or []),
        created_at=created_at,
        expires_at=at("expires_at"),
        read_at=at("read_at"),
        claimed_at=at("claimed_at"),
    )


async def _why_not_claimable(
    uow: UnitOfWork, user_id: uuid.UUID, message_id: str, now: dt.datetime
) -> AppError:
    row = await repository.get_message(uow, user_id, message_id)
    if row is None:
        return NotFound("No such message.")
    if row.claimed_at is not None:
        return AlreadyClaimed("The attachments of this message were claimed already.")
    if row.expires_at is not None and row.expires_at <= now:
        return MessageExpired("The message has expired; its attachments can no longer be claimed.")
    if not row.attachments:
        return NothingToClaim("This message has nothing to claim.")
    return AlreadyClaimed("The attachments of this message were claimed already.")


async def delete(uow: UnitOfWork, user_id: uuid.UUID, message_id: str, *, force: bool) -> None:
    row = await repository.get_message(uow, user_id, message_id, for_update=True)
    if row is None:
        raise NotFound("No such message.")
    if row.attachments and row.claimed_at is None and not force:
        expired = row.expires_at is not None and row.expires_at <= utcnow()
        if not expired:
            raise UnclaimedAttachments(
                "The message has attachments not claimed yet; delete with ?force=true."
            )
    await repository.delete_message(uow, row.id, utcnow())
    views.changed(uow, inbox_owner(user_id))
