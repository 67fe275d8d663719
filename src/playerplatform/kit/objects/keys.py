"""Object keys: validation, shared by every adapter, and the pieces domains build their key
layouts from (each domain owns its layout, e.g. `ugc.keys`)."""

from __future__ import annotations

import re
import unicodedata

from playerplatform.kit.errors import ValidationFailed

MAX_KEY_CHARS = 512
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ ()+=@,-]{0,199}$")


class InvalidObjectKey(ValidationFailed):
    code, title = "invalid_object_key", "Invalid object key"


def validate_key(key: str) -> str:
    """Return `key` when it is a relative path of safe segments; refuse `..`, `.`, absolute
    paths, backslashes, NUL and other control characters, and empty segments."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise InvalidObjectKey("The object key is empty or too long.")
    if "\\" in key or "\x00" in key or key.startswith("/"):
        raise InvalidObjectKey("The object key must be a relative path.")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment) or segment.endswith(" "):
            raise InvalidObjectKey("The object key has an invalid segment.")
    return key


def safe_filename(filename: str, *, default: str = "file") -> str:
    """A file name reduced to one safe key segment (keeps letters, digits, `._-`)."""
    normalized = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    base = normalized.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:120]
    return cleaned or default


def key_segment(value: str, what: str) -> str:
    """`value` as one key segment, unchanged; refused (naming `what`) when it is not safe."""
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise InvalidObjectKey(f"Invalid {what} for an object key.")
    return value
