"""Staff sending: a message to one player, and broadcasts to everyone or to a segment, now
or at `send_at`, cancellable until then.

A broadcast is one row, whatever its audience: players' inboxes take it in when they are
next read (`inbox.deliver_broadcasts`). It is live from `send_at` (unless cancelled before)
until `expires_at`; the scheduler's `fire_due_broadcasts` records when a scheduled one went
out (`sent_at`) and tells the sockets open at that moment, once across any number of
scheduler processes (a conditional update picks the one that does it).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from playerplatform.audit import service as audit
from playerplatform.auth.deps import Principal
from playerplatform.commerce import grants as commerce
from playerplatform.kit import views
from playerplatform.kit.db import UnitOfWork, new_uuid, utcnow
from playerplatform.kit.errors import Conflict, NotFound
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import (
    CursorKey,
    CursorText,
    CursorTime,
    Page,
    PageParams,
    decode_cursor,
    paginate,
)
from playerplatform.messaging import repository
from playerplatform.messaging.inbox import LIVE_OWNER
from playerplatform.messaging.models import Broadcast
from playerplatform.messaging.notify import attachment_lines, message_out, notify, texts
from playerplatform.messaging.schemas import BroadcastIn, BroadcastOut, MessageOut, StaffMessageIn
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime


class BroadcastNotCancellable(Conflict):
    code, title = "not_cancellable", "The broadcast was sent already"


class BroadcastCursor(CursorKey):
    t: CursorTime
    i: CursorText


async def send_to_player(
    uow: UnitOfWork,
    rt: Runtime,
    *,
    actor: Principal,
    body: StaffMessageIn,
    key: str | None,
    client: ClientInfo,
) -> MessageOut:
    """One message from staff to one player. Audited. With an Idempotency-Key the message
    is keyed by it, so a replay past the key's lifetime writes nothing twice."""
    user = await users.get_by_canonical(uow, body.canonical_id)
    attachments = [a.model_dump() for a in body.attachments]
    message_id = await notify(
        uow,
        rt,
        user.id,
        body.kind,
        title=texts(body.title),
        body=texts(body.body),
        data=body.data,
        attachments=attachments,
        key=f"staff:{actor.actor_id}:{key}" if key else None,
        expires_at=body.expires_at,
    )
    await audit.record(
        uow,
        action="messaging.send",
        resource_type="message",
        resource_id=message_id,
        actor=actor,
        subjects=[user.canonical_id],
        new={"kind": body.kind, "title": texts(body.title), "attachments": attachments},
        client=client,
    )
    row = await repository.get_message(uow, user.id, message_id)
    assert row is not None
    return message_out(row, None)


def broadcast_out(row: Broadcast, stats: tuple[int, int, int] | None = None) -> BroadcastOut:
    out = BroadcastOut(
        broadcast_id=row.broadcast_id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        data=row.data or {},
        attachments=list(row.attachments or []),
        segment=row.segment or {},
        status=row.status,
        send_at=row.send_at,
        expires_at=row.expires_at,
        created_by=row.created_by,
        created_at=row.created_at,
        sent_at=row.sent_at,
        cancelled_at=row.cancelled_at,
    )
    if stats is not None:
        out.recipients, out.read, out.claimed = stats
    return out


async def create_broadcast(
    uow: UnitOfWork, rt: Runtime, *, actor: Principal, body: BroadcastIn, client: ClientInfo
) -> BroadcastOut:
    """Record a broadcast (one row). Attachments are checked now, so a claim never fails on
    the catalog. Without `send_at` (or with one in the past) it is live at once."""
    lines = attachment_lines([a.model_dump() for a in body.attachments])
    if lines:
        await commerce.check_lines(uow, lines, field="attachments")
    now = utcnow()
    scheduled = body.send_at is not None and body.send_at > now
    row = Broadcast(
        id=new_uuid(),
        broadcast_id="b" + secrets.token_hex(12),
        kind=body.kind,
        title=texts(body.title),
        body=texts(body.body),
        data=dict(body.data or {}),
        attachments=lines,
        segment=body.segment.model_dump(mode="json", exclude_none=True) if body.segment else {},
        status="scheduled" if scheduled else "sent",
        send_at=body.send_at if scheduled and body.send_at else now,
        expires_at=body.expires_at,
        created_by=actor.actor_id,
        created_at=now,
        sent_at=None if scheduled else now,
        cancelled_at=None,
    )
    await repository.insert_broadcast(uow, row)
    views.changed(uow, LIVE_OWNER)
    await audit.record(
        uow,
        action="messaging.broadcast",
        resource_type="broadcast",
        resource_id=row.broadcast_id,
        actor=actor,
        new={
            "kind": row.kind,
            "title": row.title,
            "segment": row.segment,
            "attachments": lines,
            "send_at": row.send_at.isoformat(),
        },
        client=client,
    )
    if not scheduled:
        _announce(uow, rt, row)
    return broadcast_out(row)


async def get_broadcast(uow: UnitOfWork, broadcast_id: str) -> BroadcastOut:
    row = await repository.get_broadcast(uow, broadcast_id)
    if row is None:
        raise NotFound("No such broadcast.")
    return broadcast_out(row, await repository.broadcast_stats(uow, row.id))


async def list_broadcasts(uow: UnitOfWork, page: PageParams) -> Page[BroadcastOut]:
    after = decode_cursor(page.cursor, BroadcastCursor)
    rows = await repository.list_broadcasts(
        uow, after=(after.t, after.i) if after else None, limit=page.limit + 1
    )
    stats = {r.id: await repository.broadcast_stats(uow, r.id) for r in rows[: page.limit]}
    return paginate(
        rows,
        page.limit,
        lambda r: BroadcastCursor(t=r.created_at, i=r.broadcast_id),
        lambda r: broadcast_out(r, stats.get(r.id)),
    )


async def cancel_broadcast(
    uow: UnitOfWork, *, actor: Principal, broadcast_id: str, client: ClientInfo
) -> BroadcastOut:
    """Cancel a scheduled broadcast before its `send_at` (409 `not_cancellable` after)."""
    row = await repository.get_broadcast(uow, broadcast_id, for_update=True)
    if row is None:
        raise NotFound("No such broadcast.")
    now = utcnow()
    if not await repository.cancel_broadcast(uow, row.id, now):
        raise BroadcastNotCancellable("Only a broadcast not sent yet can be cancelled.")
    row.status, row.cancelled_at = "cancelled", now
    views.changed(uow, LIVE_OWNER)
    await audit.record(
        uow,
        action="messaging.broadcast_cancel",
        resource_type="broadcast",
        resource_id=row.broadcast_id,
        actor=actor,
        client=client,
    )
    return broadcast_out(row)


async def fire_due_broadcasts(uow: UnitOfWork, rt: Runtime) -> list[str]:
    """Mark the scheduled broadcasts whose time came as sent and tell the open sockets; a
    broadcast is fired by exactly one caller, however many schedulers run this."""
    fired = []
    now = utcnow()
    for row in await repository.due_broadcasts(uow, now):
        if await repository.mark_sent(uow, row.id, now):
            row.status, row.sent_at = "sent", now
            views.changed(uow, LIVE_OWNER)
            _announce(uow, rt, row)
            fired.append(row.broadcast_id)
    return fired


def _announce(uow: UnitOfWork, rt: Runtime, row: Broadcast) -> None:
    """After the commit, a `broadcast` frame to every socket of an everyone-broadcast (a
    segment's players learn of theirs from the inbox: sockets do not know segments)."""
    if row.segment:
        return
    frame = {
        "type": "broadcast",
        "id": None,
        "data": {"broadcast_id": row.broadcast_id, "kind": row.kind},
    }

    async def publish() -> None:
        await rt.realtime.publish_all(frame)

    uow.after_commit(publish)
