"""Object keys: validation (shared by every adapter) and the platform's key layout."""

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


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise InvalidObjectKey(f"Invalid {what} for an object key.")
    return value


def ugc_file_key(ugc_type: str, ugc_id: str, filename: str) -> str:
    """`ugc/{type}/{ugc_id}/{filename}`."""
    return validate_key(
        f"ugc/{_segment(ugc_type, 'type')}/{_segment(ugc_id, 'ugc id')}/{safe_filename(filename)}"
    )


def receipt_key(order_id: str) -> str:
    """`receipts/{order_id}.json`."""
    return validate_key(f"receipts/{_segment(order_id, 'order id')}.json")


def scan_report_key(ugc_id: str, scanner: str, name: str) -> str:
    """`scans/{ugc_id}/{scanner}/{name}`."""
    return validate_key(
        f"scans/{_segment(ugc_id, 'ugc id')}/{_segment(scanner, 'scanner')}/{safe_filename(name)}"
    )
