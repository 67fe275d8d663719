"""Checking who sent a webhook, on the raw bytes, before anything is parsed.

Both schemes are HMAC-SHA256 over the exact bytes received, compared in constant time
(`hmac.compare_digest`) against every secret currently accepted (the current one and,
during a rotation, the previous one), so a rotation needs no downtime: set the new secret,
keep the old one as `..._PREVIOUS` until the sender has switched, then drop it.

- Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex>` over
  `message_id + timestamp + body`; the timestamp is RFC 3339 with up to nanoseconds.
- The studio's services: `Webhook-Signature: t=<unix>,v1=<hex>` over `"<t>." + body`
  (several `v1=` entries are allowed, as a sender rotating its own secret sends both).

A signature that does not match is 403 `invalid_signature`; a missing header too (nothing
unsigned is looked at); a timestamp further than `webhook_max_age_seconds` from now is
403 `stale_message`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable

from pydantic import SecretStr

from playerplatform.kit.errors import Forbidden

_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)", re.ASCII
)


class InvalidSignature(Forbidden):
    code, title = "invalid_signature", "Invalid signature"


class StaleMessage(Forbidden):
    code, title = "stale_message", "Stale message"


def accepted_secrets(*secrets: SecretStr | None) -> list[bytes]:
    """The secrets set, as bytes, current first."""
    return [s.get_secret_value().encode() for s in secrets if s and s.get_secret_value()]


def _matches(secrets: Iterable[bytes], message: bytes, claimed: Iterable[str]) -> bool:
    claimed = [c.strip().lower() for c in claimed]
    found = False
    for secret in secrets:
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        for candidate in claimed:
            # Every comparison runs: no early exit that would time which secret matched.
            found |= hmac.compare_digest(expected.encode(), candidate.encode("ascii", "replace"))
    return found


def parse_twitch_timestamp(value: str) -> dt.datetime:
    """`2026-12-03T01:02:03.123456789Z` (nanoseconds) as an aware UTC datetime."""
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise InvalidSignature("The message timestamp is not an RFC 3339 time.")
    day, clock, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return dt.datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}").astimezone(dt.UTC)
    except ValueError:
        raise InvalidSignature("The message timestamp is not an RFC 3339 time.") from None


def check_fresh(sent_at: dt.datetime, now: dt.datetime, max_age_seconds: int) -> None:
    if abs((now - sent_at).total_seconds()) > max_age_seconds:
        raise StaleMessage(f"The message was signed more than {max_age_seconds} s ago.")


def verify_twitch(
    secrets: list[bytes],
    *,
    message_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: dt.datetime,
    max_age_seconds: int,
) -> dt.datetime:
    """Check an EventSub delivery; returns when it was sent."""
    if not message_id or not timestamp or not signature:
        raise InvalidSignature("The Twitch-Eventsub-Message-* headers are missing.")
    scheme, _, digest = signature.partition("=")
    message = message_id.encode() + timestamp.encode() + body
    if scheme.strip().lower() != "sha256" or not _matches(secrets, message, [digest]):
        raise InvalidSignature("The message signature does not match.")
    sent_at = parse_twitch_timestamp(timestamp)
    check_fresh(sent_at, now, max_age_seconds)
    return sent_at


def studio_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `Webhook-Signature` header a studio service sends (also used by tests and tools)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_studio(
    secrets: list[bytes],
    *,
    header: str | None,
    body: bytes,
    now: dt.datetime,
    max_age_seconds: int,
) -> dt.datetime:
    """Check a studio delivery; returns when it was sent."""
    if not header:
        raise InvalidSignature("The Webhook-Signature header is missing.")
    timestamp: str | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            digests.append(value)
    if timestamp is None or not timestamp.isascii() or not timestamp.isdigit() or not digests:
        raise InvalidSignature("The Webhook-Signature header is malformed.")
    if len(timestamp) > 12 or not _matches(secrets, f"{timestamp}.".encode() + body, digests):
        raise InvalidSignature("The message signature does not match.")
    sent_at = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    check_fresh(sent_at, now, max_age_seconds)
    return sent_at


def twitch_signature(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The `Twitch-Eventsub-Message-Signature` Twitch sends (the emulator and tests use it)."""
    message = message_id.encode() + timestamp.encode() + body
    return "sha256=" + hmac.new(secret, message, hashlib.sha256).hexdigest()
