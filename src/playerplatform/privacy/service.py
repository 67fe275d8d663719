"""Data export and erasure.

Export: a request (`pending`) and a job. The job asks every exporter of the platform's wiring
(`runtime.wiring.exporters`, one per domain) for its part, writes one JSON file per exporter
plus the files they name into a zip in object storage, marks the request `ready` and sends
the player an expiring link.

Erasure: a request `scheduled` for `PP_ERASURE_GRACE_DAYS` later; the player is signed out
everywhere at once. When the job runs, a sign-in since the request cancels it; otherwise
every exporter erases its part, under one new pseudonym, in one transaction: personal data
is deleted, the rows the studio must keep (orders, ledger, audit) stay, keyed by the
pseudonymous account. Irreversible, and audited.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, Any

import orjson

from playerplatform.audit import service as audit
from playerplatform.auth import privacy as auth_privacy
from playerplatform.contributions import ErasureSubject
from playerplatform.jobs.service import enqueue
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.http import ClientInfo
from playerplatform.privacy import notices, repository
from playerplatform.privacy.models import PrivacyRequest
from playerplatform.privacy.schemas import PrivacyRequestOut
from playerplatform.users import privacy as users_privacy
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.runtime import Runtime

QUEUE = "privacy"
EXPORT_KIND = "export"
ERASE_KIND = "erase"
EXPORT_PREFIX = "privacy/exports/"
SPOOL_BYTES = 16 * 1024 * 1024


def _public_id() -> str:
    # Hex: a request id names its export's object, and a key segment may not start with "-".
    return secrets.token_hex(16)


def _actor_id(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.actor_id


async def request_out(
    runtime: Runtime, row: PrivacyRequest, canonical_id: str
) -> PrivacyRequestOut:
    url = None
    if row.status == "ready" and row.object_key and row.expires_at and row.expires_at > utcnow():
        left = int((row.expires_at - utcnow()).total_seconds())
        signed = await runtime.objects.signed_get_url(
            row.object_key, expires_in=max(left, 1), filename="player-data.zip"
        )
        url = signed.url
    return PrivacyRequestOut(
        request_id=row.public_id,
        kind="export" if row.kind == "export" else "erasure",
        status=row.status,
        canonical_id=canonical_id,
        requested_by=row.requested_by,
        created_at=row.created_at,
        erase_at=row.due_at,
        completed_at=row.completed_at,
        download_url=url,
        expires_at=row.expires_at,
    )


# Requests.


async def request_export(
    uow: UnitOfWork,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    actor: Principal | str,
    client: ClientInfo | None,
) -> PrivacyRequestOut:
    """A new export of everything the platform holds about the player (202: a job makes it)."""
    user = await users.get_user(uow, user_id)
    row = PrivacyRequest(
        public_id=_public_id(),
        user_id=user_id,
        kind="export",
        status="pending",
        requested_by=_actor_id(actor),
        created_at=utcnow(),
    )
    await repository.add(uow, row)
    await enqueue(
        uow,
        QUEUE,
        {"kind": EXPORT_KIND, "request_id": row.public_id},
        key=f"export:{row.public_id}",
    )
    await audit.record(
        uow,
        action="privacy.export_requested",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        client=client,
        new={"request_id": row.public_id},
    )
    return await request_out(runtime, row, user.canonical_id)


async def request_erasure(
    uow: UnitOfWork,
    runtime: Runtime,
    *,
    user_id: uuid.UUID,
    actor: Principal | str,
    client: ClientInfo | None,
) -> PrivacyRequestOut:
    """Schedule the player's erasure after the grace period and sign them out everywhere;
    asking again while one is scheduled answers that one."""
    user = await users.get_user(uow, user_id)
    existing = await repository.open_erasure(uow, user_id)
    if existing is not None:
        return await request_out(runtime, existing, user.canonical_id)
    now = utcnow()
    due = now + dt.timedelta(days=runtime.settings.erasure_grace_days)
    row = PrivacyRequest(
        public_id=_public_id(),
        user_id=user_id,
        kind="erasure",
        status="scheduled",
        requested_by=_actor_id(actor),
        created_at=now,
        due_at=due,
    )
    await repository.add(uow, row)
    await enqueue(
        uow,
        QUEUE,
        {"kind": ERASE_KIND, "request_id": row.public_id},
        key=f"erase:{row.public_id}",
        run_at=due,
    )
    await auth_privacy.sign_out_everywhere(uow, runtime, user_id)
    await notices.notify_player(
        uow, runtime, user_id, notices.ERASURE_SCHEDULED, erase_at=due.isoformat()
    )
    await audit.record(
        uow,
        action="privacy.erasure_requested",
        resource_type="user",
        resource_id=user.canonical_id,
        actor=actor,
        subjects=[user.canonical_id],
        client=client,
        new={"request_id": row.public_id, "erase_at": due.isoformat()},
    )
    return await request_out(runtime, row, user.canonical_id)


async def my_requests(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[PrivacyRequestOut]:
    user = await users.get_user(uow, user_id)
    return [
        await request_out(runtime, r, user.canonical_id)
        for r in await repository.of_user(uow, user_id)
    ]


async def recent_requests(
    uow: UnitOfWork, runtime: Runtime, *, kind: str | None, status: str | None, limit: int
) -> list[PrivacyRequestOut]:
    rows = await repository.recent(uow, kind=kind, status=status, limit=limit)
    names = await users.canonical_ids(uow, list({r.user_id for r in rows}))
    return [await request_out(runtime, r, names.get(r.user_id, "")) for r in rows]


# The jobs.


async def collect(uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID, into: IO[bytes]) -> None:
    """The player's data from every exporter, as a zip written to `into`: `<exporter>.json`
    each, the files they name (streamed from the object store), and `manifest.json`."""
    parts: list[str] = []
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for exporter in runtime.wiring.exporters:
            part = await exporter.export(uow, runtime, user_id)
            if part is not None:
                archive.writestr(f"{exporter.name}.json", _json(part))
                parts.append(f"{exporter.name}.json")
            if exporter.files is not None:
                for path, key in await exporter.files(uow, runtime, user_id):
                    with archive.open(path, "w") as member:
                        async for chunk in runtime.objects.stream(key):
                            member.write(chunk)
                    parts.append(path)
        manifest = {"exported_at": utcnow(), "files": parts}
        archive.writestr("manifest.json", _json(manifest))


async def _chunks(source: IO[bytes], size: int = 1 << 20) -> AsyncIterator[bytes]:
    source.seek(0)
    while chunk := source.read(size):
        yield chunk


def _json(value: Any) -> bytes:
    return orjson.dumps(
        value, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS, default=str
    )


async def run_export(uow: UnitOfWork, runtime: Runtime, request_id: str) -> None:
    """Build a pending export and send the link; an export already made is left alone."""
    row = await repository.get(uow, request_id, for_update=True)
    if row is None or row.status != "pending":
        return
    key = f"{EXPORT_PREFIX}{row.public_id}.zip"
    # Kept in memory while small, on disk beyond: an export holds the player's UGC files too.
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as archive:
        await collect(uow, runtime, row.user_id, archive)
        await runtime.objects.put(key, _chunks(archive), content_type="application/zip")
    ttl = runtime.settings.privacy_export_url_ttl
    row.status, row.object_key = "ready", key
    row.completed_at = utcnow()
    row.expires_at = row.completed_at + dt.timedelta(seconds=ttl)
    await uow.session.flush()
    signed = await runtime.objects.signed_get_url(key, expires_in=ttl, filename="player-data.zip")
    await notices.notify_player(
        uow,
        runtime,
        row.user_id,
        notices.EXPORT_READY,
        url=signed.url,
        expires_at=row.expires_at.isoformat(),
    )


async def run_erasure(uow: UnitOfWork, runtime: Runtime, request_id: str) -> None:
    """Erase the player unless they signed in since asking; a request no longer scheduled
    (done or cancelled) is left alone."""
    row = await repository.get(uow, request_id, for_update=True)
    if row is None or row.status != "scheduled":
        return
    if await auth_privacy.signed_in_since(uow, row.user_id, row.created_at):
        row.status, row.completed_at = "cancelled", utcnow()
        await audit.record(
            uow,
            action="privacy.erasure_cancelled",
            resource_type="user",
            resource_id=(await users.get_user(uow, row.user_id)).canonical_id,
            new={"request_id": row.public_id, "reason": "signed_in"},
        )
        return
    subject = await erasure_subject(uow, row.user_id)
    for exporter in runtime.wiring.exporters:
        await exporter.erase(uow, runtime, subject)
    await auth_privacy.publish_erased(uow, runtime, row.user_id)
    row.status, row.completed_at = "done", utcnow()
    await uow.session.flush()
    await audit.record(
        uow,
        action="privacy.erased",
        resource_type="user",
        resource_id=subject.pseudonym,
        subjects=[subject.pseudonym],
        new={"request_id": row.public_id},
    )


async def erasure_subject(uow: UnitOfWork, user_id: uuid.UUID) -> ErasureSubject:
    user = await users.get_user(uow, user_id)
    identifiers = frozenset(i for i in await auth_privacy.personal_ids(uow, user_id) if i)
    name = await users_privacy.display_name(uow, user_id)
    return ErasureSubject(
        user_id=user_id,
        canonical_id=user.canonical_id,
        pseudonym=f"erased_{secrets.token_hex(12)}",
        personal=identifiers | ({name} if name else set()),
        identifiers=identifiers,
    )


async def export_requests(
    uow: UnitOfWork, runtime: Runtime, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The privacy domain's own part of an export: the player's requests."""
    return [
        {
            "request_id": r.public_id,
            "kind": r.kind,
            "status": r.status,
            "created_at": r.created_at,
            "erase_at": r.due_at,
            "completed_at": r.completed_at,
        }
        for r in await repository.of_user(uow, user_id)
    ]


async def erase_requests(uow: UnitOfWork, runtime: Runtime, subject: ErasureSubject) -> None:
    """The requests stay: the record that the player was erased, under the pseudonym."""
