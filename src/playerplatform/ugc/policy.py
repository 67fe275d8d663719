"""What may be uploaded: per-type content types and sizes, file names, and the archive checks
(zip bombs, unsafe paths) run on maps, mods and bundles before anything is published."""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from playerplatform.kit.settings import Settings

TYPES = ("map", "mod", "image", "video", "text", "bundle")
ZIP = "application/zip"
CONTENT_TYPES: dict[str, frozenset[str]] = {
    "map": frozenset({ZIP, "application/octet-stream"}),
    "mod": frozenset({ZIP}),
    "image": frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"}),
    "video": frozenset({"video/mp4", "video/webm"}),
    "text": frozenset({"text/plain", "text/markdown", "application/json"}),
    "bundle": frozenset({ZIP}),
}
ARCHIVE_TYPES = frozenset({"map", "mod", "bundle"})
FILENAME_MAX = 120
# Expansion ratios are judged only past this size: small, very regular files (a map's JSON)
# compress far better than 100:1 and are harmless.
RATIO_FLOOR_BYTES = 1024 * 1024


def max_bytes(settings: Settings, ugc_type: str) -> int:
    """The size limit of one file of `ugc_type` (settings `PP_UGC_MAX_BYTES_<TYPE>`)."""
    limit: int = getattr(settings, f"ugc_max_bytes_{ugc_type}")
    return limit


def filename_problem(filename: str) -> str | None:
    """Why a client's file name is refused (None: acceptable). Names are one path segment of
    printable characters; anything that could walk a path or hide its extension is refused."""
    if not filename or len(filename) > FILENAME_MAX:
        return f"must be 1 to {FILENAME_MAX} characters"
    if "/" in filename or "\\" in filename or filename in (".", "..") or ".." in filename:
        return "must be a plain file name, not a path"
    if any(ord(c) < 32 or ord(c) == 127 or c in "\u202e\u202d\u2066\u2067\u2068" for c in filename):
        return "must not contain control characters"
    if filename.startswith(".") or filename.endswith((" ", ".")):
        return "must not start with a dot or end with a dot or space"
    return None


def is_archive(ugc_type: str, content_type: str) -> bool:
    return ugc_type in ARCHIVE_TYPES or content_type == ZIP


@dataclass(frozen=True, slots=True)
class ArchiveVerdict:
    safe: bool
    reason: str | None = None
    entries: int = 0
    expanded_bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "safe": self.safe,
            "reason": self.reason,
            "entries": self.entries,
            "expanded_bytes": self.expanded_bytes,
        }


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
    return None


def inspect_archive(file: Path | BinaryIO, settings: Settings) -> ArchiveVerdict:
    """Check a zip archive's central directory without expanding it: entry count, declared
    expansion (overall and per entry, against the compressed size) and every member's path."""
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return ArchiveVerdict(False, f"not a readable zip archive ({exc})")
    if len(members) > settings.ugc_archive_max_entries:
        return ArchiveVerdict(
            False, f"more than {settings.ugc_archive_max_entries} entries", len(members)
        )
    expanded = compressed = 0
    for info in members:
        problem = _unsafe_member(info)
        if problem:
            return ArchiveVerdict(False, problem, len(members))
        expanded += info.file_size
        compressed += info.compress_size
        if (
            info.file_size > RATIO_FLOOR_BYTES
            and info.file_size > max(info.compress_size, 1) * settings.ugc_archive_max_ratio
        ):
            return ArchiveVerdict(False, "an entry expands too much (zip bomb)", len(members))
    if expanded > settings.ugc_archive_max_expanded_bytes:
        return ArchiveVerdict(False, "expands beyond the size limit", len(members), expanded)
    if (
        expanded > RATIO_FLOOR_BYTES
        and expanded > max(compressed, 1) * settings.ugc_archive_max_ratio
    ):
        return ArchiveVerdict(False, "expands too much (zip bomb)", len(members), expanded)
    return ArchiveVerdict(True, None, len(members), expanded)
