"""Password hashing (argon2id) and the strength rules applied at registration and reset."""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from playerplatform.kit.errors import ValidationFailed

MIN_LENGTH, MAX_LENGTH = 10, 128

# OWASP's argon2id baseline (19 MiB, 2 passes) keeps a login near 20 ms of one core.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Verified against when the account does not exist, so unknown emails cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-the-same-cost")


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("playerplatform").joinpath("data/common-passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def check_strength(password: str, *, email: str | None = None) -> None:
    """Refuse passwords that are too short, too long, common or built from the email."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationFailed(
            f"The password must be {MIN_LENGTH} to {MAX_LENGTH} characters.",
            field="password",
            code="weak_password",
        )
    lowered = password.lower()
    if lowered in _common_passwords():
        raise ValidationFailed(
            "This password is too common.", field="password", code="weak_password"
        )
    if len(set(password)) < 5:
        raise ValidationFailed(
            "The password needs more distinct characters.", field="password", code="weak_password"
        )
    if email:
        local = email.split("@", 1)[0].lower()
        if len(local) >= 4 and local in lowered:
            raise ValidationFailed(
                "The password must not contain the email address.",
                field="password",
                code="weak_password",
            )


async def hash_password(password: str) -> str:
    # argon2 releases the GIL: hashing in a thread keeps the event loop serving others.
    return await asyncio.to_thread(_hasher.hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """The hash was made with other parameters than today's (an older, cheaper policy): the
    next successful sign-in stores it again with the current ones."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-cost check; `stored_hash=None` (no such account) burns the same time."""

    def verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
