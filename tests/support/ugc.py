"""UGC test helpers: a world (an app with its own runtime and object store, jobs run on
demand), uploading as a game client would, running the ugc jobs, and test files (EICAR is
built from parts so no file in the repository carries it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from playerplatform.jobs import repository as jobs_repository
from playerplatform.jobs.retry import RetryPolicy
from playerplatform.jobs.runner import JobRunner, Outcome
from playerplatform.kit.db import utcnow
from playerplatform.runtime import Runtime
from playerplatform.users.models import User
from tests.support.players import auth, device_login, plain_tag
from tests.support.staff import staff_login

UGC_QUEUES = ("scan_content", "moderation_review")
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS" + b"-TEST-FILE!$H+H*"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_of(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def lying_zip(real_bytes: int, claimed_bytes: int, name: str = "level.dat") -> bytes:
    """A zip with one deflated member of `real_bytes` zeros whose local header and central
    directory both claim it holds `claimed_bytes` (the CRC stays the real one)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w") as member,
    ):
        zeros = b"\0" * (1024 * 1024)
        for _ in range(real_bytes // len(zeros)):
            member.write(zeros)
        member.write(b"\0" * (real_bytes % len(zeros)))
    data = bytearray(buffer.getvalue())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, claimed_bytes)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, claimed_bytes)
    return bytes(data)


PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"\0" * 64


@dataclass
class World:
    """One app over the UGC test database with one kind of object store."""

    store: str  # "local" or "s3"
    client: httpx.AsyncClient
    runtime: Runtime

    async def player(self) -> dict[str, str]:
        return auth(await device_login(self.client))

    async def seasoned_player(self, days: float = 60, verified: bool = True) -> dict[str, str]:
        """A player whose account is `days` old (and email-verified): a report of theirs,
        with no history, weighs 1."""
        headers = await self.player()
        canonical_id = await self.canonical_id(headers)
        async with self.runtime.db.unit_of_work() as uow:
            await uow.session.execute(
                sa.update(User)
                .where(User.canonical_id == canonical_id)
                .values(created_at=utcnow() - dt.timedelta(days=days), email_verified=verified)
            )
        return headers

    async def moderator(self) -> dict[str, str]:
        return auth(await staff_login(self.client, self.runtime, role="moderator"))

    async def canonical_id(self, headers: dict[str, str]) -> str:
        response = await self.client.get("/api/v1/users/me", headers=headers)
        return str(response.json()["canonical_id"])

    async def draft(
        self,
        headers: dict[str, str],
        data: bytes,
        *,
        type: str = "text",
        content_type: str = "text/plain",
        filename: str = "notes.txt",
        visibility: str = "public",
        **fields: Any,
    ) -> dict[str, Any]:
        body = {
            "type": type,
            "name": fields.pop("name", f"Item {plain_tag()}"),
            "visibility": visibility,
            "file": {
                "filename": filename,
                "size": len(data),
                "content_type": content_type,
                "sha256": sha256(data),
            },
            **fields,
        }
        response = await self.client.post("/api/v1/ugc", json=body, headers=headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def put_file(self, upload: dict[str, Any], data: bytes) -> httpx.Response:
        """PUT the bytes to the signed URL, as a client would (the local store's URLs are
        served by the app; S3's by the S3 server). The HTTP client sets Content-Length from
        the bytes actually sent."""
        headers = {k: v for k, v in upload["headers"].items() if k.lower() != "content-length"}
        if self.store == "local":
            parts = urlsplit(upload["url"])
            return await self.client.put(
                f"{parts.path}?{parts.query}", content=data, headers=headers
            )
        async with httpx.AsyncClient() as outside:
            return await outside.put(upload["url"], content=data, headers=headers)

    async def get_signed(self, url: str) -> httpx.Response:
        if self.store == "local":
            parts = urlsplit(url)
            return await self.client.get(f"{parts.path}?{parts.query}")
        async with httpx.AsyncClient() as outside:
            return await outside.get(url)

    async def complete(self, headers: dict[str, str], ugc_id: str) -> httpx.Response:
        return await self.client.post(f"/api/v1/ugc/{ugc_id}/complete", headers=headers)

    async def upload(
        self, headers: dict[str, str], data: bytes, *, scan: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        """Draft, PUT, complete and (by default) run the scan: the item as it then is."""
        created = await self.draft(headers, data, **kwargs)
        put = await self.put_file(created["upload"], data)
        assert put.status_code in (200, 204), put.text
        completed = await self.complete(headers, created["ugc"]["ugc_id"])
        assert completed.status_code == 202, completed.text
        if not scan:
            return dict(completed.json())
        await run_ugc_jobs(self.runtime)
        return await self.item(headers, created["ugc"]["ugc_id"])

    async def item(self, headers: dict[str, str], ugc_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/ugc/{ugc_id}", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def decide(self, staff: dict[str, str], ugc_id: str, action: str) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/moderation/ugc/{ugc_id}/decision",
            json={"action": action, "notes": f"{action} in a test"},
            headers=staff,
        )

    async def published(self, headers: dict[str, str], data: bytes, **kwargs: Any) -> str:
        """An item uploaded, scanned and approved; returns its id."""
        item = await self.upload(headers, data, **kwargs)
        assert item["status"] == "pending_review", item
        approved = await self.decide(await self.moderator(), item["ugc_id"], "approve")
        assert approved.status_code == 200, approved.text
        return str(item["ugc_id"])


RETRY_SECONDS = 1.0


async def run_ugc_jobs(runtime: Runtime, *, queues: tuple[str, ...] = UGC_QUEUES) -> list[Outcome]:
    """Run every due job on the ugc queues with `runtime` (as the embedded worker would)."""
    # A retry waits 0.5-1 s: long enough that this call never runs a failed job twice.
    runner = JobRunner(
        runtime.db, runtime.jobs.registry, runtime, RetryPolicy(RETRY_SECONDS, RETRY_SECONDS)
    )
    outcomes: list[Outcome] = []
    for _ in range(50):
        async with runtime.db.unit_of_work() as uow:
            rows = await jobs_repository.claim_due(uow, queues=list(queues), limit=10, now=utcnow())
        if not rows:
            break
        for row in rows:
            outcomes.append(await runner.run_claimed(row))
    return outcomes


def with_scanner(runtime: Runtime, scanner: Any) -> Runtime:
    """The same runtime with another scanner (a scanner outage, no scanner)."""
    return dataclasses.replace(runtime, scanner=scanner)
