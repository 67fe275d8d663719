"""What may be uploaded: per-type content types and sizes, file names, and what the first
bytes of a file must look like for its type. The archive checks are in `archives.py`."""

from __future__ import annotations

from collections.abc import Callable

from playerplatform.kit.settings import Settings
from playerplatform.ugc.archives import looks_like_zip

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
FILENAME_MAX = 120


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


# Types whose file must be a zip archive (checked on the bytes at `complete`).
ZIP_REQUIRED = frozenset({"mod", "bundle"})
# What the first bytes of a file of each content type look like. A declared type these bytes
# do not start is refused at `complete`: downloads are served with the declared type.
SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    ZIP: looks_like_zip,
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda head: head[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "video/mp4": lambda head: head[4:8] == b"ftyp",
    "video/webm": lambda head: head.startswith(b"\x1a\x45\xdf\xa3"),
}
HEAD_BYTES = 16  # what `content_problem` needs to see


def content_problem(ugc_type: str, content_type: str, head: bytes) -> tuple[str, str] | None:
    """Why the stored file's first bytes do not fit its type: (code, detail), or None.

    A `mod` or `bundle` must be a zip archive; a file declared as a type with a known
    signature must start with it. Anything else is decided by the scan (a zip is checked as
    an archive whatever it is called)."""
    if ugc_type in ZIP_REQUIRED and not looks_like_zip(head):
        return "archive_required", f"A {ugc_type} must be a zip archive; this file is not one."
    check = SIGNATURES.get(content_type)
    if check is not None and not check(head):
        return "content_type_mismatch", f"The file is not {content_type}, as it was declared."
    return None
