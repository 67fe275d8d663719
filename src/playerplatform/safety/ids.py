"""Public ids of the safety domain's records: a letter naming the kind, then 24 hex digits."""

from __future__ import annotations

import secrets


def new_public_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)
