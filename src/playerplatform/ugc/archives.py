"""Archive checks for uploads that are zips (decided by their bytes, not their name or type).

Nothing an archive declares is believed. The central directory gives the list of members
and their paths; every member is then decompressed, streaming and without being written
anywhere, and what comes out is counted: a member that expands past the size it declares,
past the expansion ratio, or past the whole archive's budget stops the check at once (a
"1,000-byte" member that inflates to 300 MB costs 1,001 bytes of work). Members are also
checked for overlapping data (one compressed stream shared by many entries), CRC, unsafe
paths and symbolic links, hashed against the deny list, and looked at for nested archives,
which are refused, inspected with the same rules, or allowed, by policy
(`PP_UGC_ARCHIVE_NESTED`).
"""

from __future__ import annotations

import bz2
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Literal

from playerplatform.kit.scanner import DenyList, DenyMatcher
from playerplatform.kit.settings import Settings

# Expansion ratios are judged only past this size: small, very regular files (a map's JSON)
# compress far better than 100:1 and are harmless.
RATIO_FLOOR_BYTES = 1024 * 1024
CHUNK = 256 * 1024
HEAD = 512  # bytes of each member kept to recognise its format
LOCAL_HEADER = struct.Struct("<4s5H3I2H")
LOCAL_MAGIC = b"PK\x03\x04"
STORED, DEFLATED, BZIP2 = 0, 8, 12

NestedPolicy = Literal["refuse", "inspect", "allow"]


def looks_like_zip(head: bytes) -> bool:
    """A zip's first bytes: a member's local header, or the end record of an empty archive."""
    return head.startswith((LOCAL_MAGIC, b"PK\x05\x06"))


def is_zip(path: Path) -> bool:
    """Whether the file is a zip archive: zip magic at its start, or a zip directory at its
    end (a zip appended to another file is still opened as a zip by most tools)."""
    with path.open("rb") as handle:
        if looks_like_zip(handle.read(4)):
            return True
    return zipfile.is_zipfile(path)


def archive_format(head: bytes) -> str | None:
    """The archive or compressed format these first bytes start, or None."""
    if looks_like_zip(head):
        return "zip"
    for magic, name in (
        (b"\x1f\x8b", "gzip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"7z\xbc\xaf\x27\x1c", "7z"),
        (b"Rar!\x1a\x07", "rar"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"MSCF", "cab"),
    ):
        if head.startswith(magic):
            return name
    if head[257:262] == b"ustar":
        return "tar"
    return None


@dataclass(frozen=True, slots=True)
class ArchiveVerdict:
    safe: bool
    reason: str | None = None
    entries: int = 0
    expanded_bytes: int = 0
    denied: str | None = None  # deny-list signature a member matched (then not safe)

    def as_dict(self) -> dict[str, object]:
        return {
            "safe": self.safe,
            "reason": self.reason,
            "entries": self.entries,
            "expanded_bytes": self.expanded_bytes,
            "denied": self.denied,
        }


class Unsafe(Exception):
    def __init__(self, reason: str, *, denied: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.denied = denied


@dataclass
class _Budget:
    """What the whole upload may expand to, nested archives included."""

    limit: int
    entries_limit: int
    ratio: int
    nested: NestedPolicy
    max_depth: int
    deny: DenyList | None
    expanded: int = 0
    entries: int = 0


@dataclass
class _Member:
    """What decompressing one member found."""

    size: int = 0
    head: bytes = b""
    crc: int = 0
    matcher: DenyMatcher | None = None


def inspect_archive(
    file: Path | BinaryIO, settings: Settings, deny: DenyList | None = None
) -> ArchiveVerdict:
    """Check a zip by decompressing every member (streaming, counted, capped); see the module
    docstring. Never raises for a bad archive: the verdict says why it is unsafe."""
    budget = _Budget(
        limit=settings.ugc_archive_max_expanded_bytes,
        entries_limit=settings.ugc_archive_max_entries,
        ratio=settings.ugc_archive_max_ratio,
        nested=settings.ugc_archive_nested,
        max_depth=settings.ugc_archive_max_depth,
        deny=deny,
    )
    try:
        if isinstance(file, Path):
            with file.open("rb") as handle:
                _inspect(handle, budget, depth=0)
        else:
            _inspect(file, budget, depth=0)
    except Unsafe as exc:
        return ArchiveVerdict(False, exc.reason, budget.entries, budget.expanded, exc.denied)
    return ArchiveVerdict(True, None, budget.entries, budget.expanded)


def _inspect(handle: IO[bytes], budget: _Budget, *, depth: int) -> None:
    handle.seek(0, 2)
    archive_size = handle.tell()
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            directory_start = archive.start_dir
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise Unsafe(f"not a readable zip archive ({exc})")
    budget.entries += len(members)
    if budget.entries > budget.entries_limit:
        raise Unsafe(f"more than {budget.entries_limit} entries")
    for info in members:
        problem = _unsafe_member(info)
        if problem:
            raise Unsafe(problem)
    ordered = sorted(members, key=lambda i: i.header_offset)
    archive_expanded = 0
    for index, info in enumerate(ordered):
        end = ordered[index + 1].header_offset if index + 1 < len(ordered) else directory_start
        if info.is_dir():
            continue
        found = _expand(handle, info, end, budget, depth)
        archive_expanded += found.size
        if found.crc != info.CRC:
            raise Unsafe(f"entry {info.filename[:80]!r} is corrupt (CRC)")
        signature = found.matcher.result() if found.matcher is not None else None
        if signature:
            raise Unsafe(f"entry {info.filename[:80]!r} matches {signature}", denied=signature)
    if (
        archive_expanded > RATIO_FLOOR_BYTES
        and archive_expanded > max(archive_size, 1) * budget.ratio
    ):
        raise Unsafe("expands too much (zip bomb)")


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\\" in name or "\x00" in name:
        return f"unsafe path {name[:80]!r}"
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
        return f"path escapes the archive: {name[:80]!r}"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return f"symbolic link {name[:80]!r}"
    if info.flag_bits & 0x1:
        return f"encrypted entry {name[:80]!r}"
    return None


def _data_start(handle: IO[bytes], info: zipfile.ZipInfo) -> int:
    handle.seek(info.header_offset)
    header = handle.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size:
        raise Unsafe(f"entry {info.filename[:80]!r} has no local header")
    fields = LOCAL_HEADER.unpack(header)
    if fields[0] != LOCAL_MAGIC:
        raise Unsafe(f"entry {info.filename[:80]!r} has no local header")
    name_length, extra_length = fields[9], fields[10]
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length


def _expand(
    handle: IO[bytes], info: zipfile.ZipInfo, end: int, budget: _Budget, depth: int
) -> _Member:
    """Decompress one member and count what comes out, stopping at the first limit."""
    name = info.filename[:80]
    start = _data_start(handle, info)
    if start > end:
        raise Unsafe(f"entry {name!r} overlaps another")
    available = end - start
    decompress: Any
    if info.compress_type == STORED:
        decompress = None
    elif info.compress_type == DEFLATED:
        decompress = zlib.decompressobj(-15)
    elif info.compress_type == BZIP2:
        decompress = bz2.BZ2Decompressor()
    else:
        raise Unsafe(f"entry {name!r} uses an unsupported compression ({info.compress_type})")
    member = _Member(matcher=budget.deny.matcher() if budget.deny is not None else None)
    nested: IO[bytes] | None = None
    decided = False

    def decide() -> None:
        nonlocal nested, decided
        decided = True
        nested = _nested_sink(member.head, name, budget, depth)
        if nested is not None:
            nested.write(member.head)

    def emit(data: bytes) -> None:
        if not data:
            return
        member.size += len(data)
        budget.expanded += len(data)
        if member.size > info.file_size:
            raise Unsafe(f"entry {name!r} expands beyond the {info.file_size} bytes it declares")
        if budget.expanded > budget.limit:
            raise Unsafe("expands beyond the size limit")
        if (
            member.size > RATIO_FLOOR_BYTES
            and member.size > max(info.compress_size, 1) * budget.ratio
        ):
            raise Unsafe("an entry expands too much (zip bomb)")
        member.crc = zlib.crc32(data, member.crc)
        if member.matcher is not None:
            member.matcher.feed(data)
        if not decided:
            member.head += data  # kept until the format is known (at most HEAD + one chunk)
            if len(member.head) >= HEAD:
                decide()
        elif nested is not None:
            nested.write(data)

    try:
        handle.seek(start)
        if decompress is None:
            if info.compress_size > available:
                raise Unsafe(f"entry {name!r} overlaps another")
            left = info.compress_size
            while left:
                piece = handle.read(min(CHUNK, left))
                if not piece:
                    raise Unsafe(f"entry {name!r} is truncated")
                left -= len(piece)
                emit(piece)
        else:
            left, done = available, False
            while not done:
                piece = handle.read(min(CHUNK, left)) if left > 0 else b""
                left -= len(piece)
                if not piece:
                    raise Unsafe(f"entry {name!r} is truncated or overlaps another")
                done = _feed(decompress, piece, emit)
        if member.size != info.file_size:
            raise Unsafe(f"entry {name!r} declares {info.file_size} bytes but has {member.size}")
        if not decided:
            decide()
        member.head = member.head[:HEAD]
        if nested is not None:
            _inspect(nested, budget, depth=depth + 1)
    finally:
        if nested is not None:
            nested.close()
    return member


def _feed(decompress: Any, piece: bytes, emit: Any) -> bool:
    """Feed compressed bytes, emitting output in bounded pieces; True at the stream's end."""
    if isinstance(decompress, bz2.BZ2Decompressor):
        data = piece
        while True:
            out = decompress.decompress(data, max_length=CHUNK)
            emit(out)
            if decompress.eof:
                return True
            if decompress.needs_input:
                return False
            data = b""
    data = piece
    while data or not decompress.eof:
        out = decompress.decompress(data, CHUNK)
        emit(out)
        if decompress.eof:
            return True
        data = decompress.unconsumed_tail
        if not data and not out:
            return False
    return True


def _nested_sink(head: bytes, name: str, budget: _Budget, depth: int) -> IO[bytes] | None:
    """Where a nested archive's bytes go (inspect), or the policy's refusal."""
    found = archive_format(head)
    if found is None or budget.nested == "allow":
        return None
    if budget.nested == "refuse":
        raise Unsafe(f"entry {name!r} is a nested {found} archive")
    if found != "zip":
        raise Unsafe(f"entry {name!r} is a nested {found} archive, which cannot be inspected")
    if depth + 1 > budget.max_depth:
        raise Unsafe(f"entry {name!r} nests archives deeper than {budget.max_depth}")
    return tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
