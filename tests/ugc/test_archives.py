"""Archives are judged by what they really expand to, not by what their headers declare, and
a file is judged by its bytes, not by the name or type it was declared with."""

from __future__ import annotations

import dataclasses
import zipfile
from typing import Any

from playerplatform.kit.settings import Settings
from playerplatform.ugc.archives import inspect_archive
from tests.support.ugc import PNG, World, lying_zip, run_ugc_jobs, zip_of

MB = 1024 * 1024


async def _upload_zip(world: World, creator: dict[str, str], data: bytes, **kwargs: Any) -> Any:
    fields = {"type": "map", "content_type": "application/zip", "filename": "map.zip"}
    fields.update(kwargs)
    return await world.upload(creator, data, **fields)


def _with(world: World, **settings: Any) -> Any:
    changed: Settings = world.runtime.settings.model_copy(update=settings)
    return dataclasses.replace(world.runtime, settings=changed)


async def test_a_zip_whose_headers_understate_its_size_is_unsafe(local: World) -> None:
    creator = await local.player()
    bomb = lying_zip(300 * MB, claimed_bytes=1000)
    assert len(bomb) < MB  # 300 MB of zeros, declared as 1,000 bytes
    item = await _upload_zip(local, creator, bomb)
    assert item["status"] == "removed", item
    assert item["status_reason"] == "unsafe_archive"
    assert "declares" in item["status_note"]


def test_the_check_stops_at_the_first_byte_past_the_declared_size(settings: Settings) -> None:
    bomb = lying_zip(64 * MB, claimed_bytes=1000)
    import io

    verdict = inspect_archive(io.BytesIO(bomb), settings)
    assert not verdict.safe and "1000 bytes it declares" in (verdict.reason or "")
    assert verdict.expanded_bytes <= 1000 + 256 * 1024  # one decompressed piece past it at most


def test_honest_archives_are_counted_as_they_expand(settings: Settings) -> None:
    import io

    data = zip_of({"a/b.txt": b"hello" * 1000, "c.bin": bytes(range(256)) * 64})
    verdict = inspect_archive(io.BytesIO(data), settings)
    assert verdict.safe and verdict.entries == 2 and verdict.expanded_bytes == 5000 + 256 * 64
    capped = settings.model_copy(update={"ugc_archive_max_expanded_bytes": 4000})
    over = inspect_archive(io.BytesIO(data), capped)
    assert not over.safe and "size limit" in (over.reason or "")


async def test_a_zip_inside_a_zip_is_refused_by_default(local: World) -> None:
    creator = await local.player()
    inner = zip_of({"readme.txt": b"inner"})
    outer = zip_of({"assets/inner.zip": inner, "map.json": b"{}"})
    item = await _upload_zip(local, creator, outer)
    assert item["status"] == "removed" and item["status_reason"] == "unsafe_archive"
    assert "nested zip" in item["status_note"]


async def test_nested_archives_can_be_inspected_by_policy(local: World) -> None:
    creator = await local.player()
    inspecting = _with(local, ugc_archive_nested="inspect", ugc_archive_max_depth=1)
    clean = zip_of({"inner.zip": zip_of({"readme.txt": b"inner"})})
    bomb_inside = zip_of({"inner.zip": lying_zip(8 * MB, claimed_bytes=10)})
    deeper = zip_of({"a.zip": zip_of({"b.zip": zip_of({"c.txt": b"deep"})})})
    gzipped = zip_of({"tex.gz": b"\x1f\x8b\x08\x00" + b"\0" * 20})
    ids = {}
    for label, data in (
        ("clean", clean),
        ("bomb", bomb_inside),
        ("deeper", deeper),
        ("gz", gzipped),
    ):
        item = await _upload_zip(local, creator, data, scan=False)
        ids[label] = item["ugc_id"]
    await run_ugc_jobs(inspecting)
    found = {label: await local.item(creator, ugc_id) for label, ugc_id in ids.items()}
    assert found["clean"]["status"] == "pending_review", found["clean"]
    assert found["bomb"]["status"] == "removed" and "declares" in found["bomb"]["status_note"]
    assert found["deeper"]["status"] == "removed" and "deeper" in found["deeper"]["status_note"]
    assert found["gz"]["status"] == "removed" and "gzip" in found["gz"]["status_note"]

    allowing = _with(local, ugc_archive_nested="allow")
    item = await _upload_zip(local, creator, clean, scan=False)
    await run_ugc_jobs(allowing)
    assert (await local.item(creator, item["ugc_id"]))["status"] == "pending_review"


async def test_a_plain_binary_map_is_scanned_as_a_file(world: World) -> None:
    creator = await world.player()
    binary = bytes(range(256)) * 40
    item = await world.upload(
        creator,
        binary,
        type="map",
        content_type="application/octet-stream",
        filename="arena.bsp",
    )
    assert item["status"] == "pending_review", item
    assert item["scan"] == "clean"


async def test_a_zip_is_checked_as_an_archive_whatever_it_is_called(local: World) -> None:
    creator = await local.player()
    traversal = zip_of({"../../etc/evil.sh": b"echo pwned"})
    for fields in (
        {"type": "map", "content_type": "application/octet-stream", "filename": "arena.bsp"},
        {"type": "text", "content_type": "text/plain", "filename": "notes.txt"},
    ):
        item = await local.upload(creator, traversal, **fields)
        assert item["status"] == "removed" and item["status_reason"] == "unsafe_archive", item
    # A zip appended to an image is a zip too (most tools open it as one).
    polyglot = PNG + traversal
    item = await local.upload(
        creator, polyglot, type="image", content_type="image/png", filename="a.png"
    )
    assert item["status"] == "removed" and item["status_reason"] == "unsafe_archive", item


async def test_a_mod_that_is_not_a_zip_is_refused_at_complete(world: World) -> None:
    creator = await world.player()
    cases = (
        ({"type": "mod", "content_type": "application/zip"}, "archive_required"),
        ({"type": "bundle", "content_type": "application/zip"}, "archive_required"),
        ({"type": "map", "content_type": "application/zip"}, "content_type_mismatch"),
        ({"type": "image", "content_type": "image/png"}, "content_type_mismatch"),
    )
    for fields, code in cases:
        data = b"#!/bin/sh\necho definitely not an archive\n"
        created = await world.draft(creator, data, filename="upload.bin", **fields)
        put = await world.put_file(created["upload"], data)
        assert put.status_code in (200, 204), put.text
        ugc_id = created["ugc"]["ugc_id"]
        response = await world.complete(creator, ugc_id)
        assert response.status_code == 422, (fields, response.text)
        assert response.json()["code"] == code
        item = await world.item(creator, ugc_id)
        assert item["status"] == "draft"  # the client may upload the right file
        # The refused bytes were deleted: completing again finds nothing.
        missing = await world.complete(creator, ugc_id)
        assert missing.status_code == 409 and missing.json()["code"] == "upload_missing"
    image = await world.upload(
        creator, PNG, type="image", content_type="image/png", filename="a.png"
    )
    assert image["status"] == "pending_review"


def test_encrypted_and_symlinked_members_are_unsafe(settings: Settings) -> None:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    verdict = inspect_archive(io.BytesIO(buffer.getvalue()), settings)
    assert not verdict.safe and "symbolic link" in (verdict.reason or "")
