"""Text filter port: is this player-written text fit to show to other players?

Display names (and later UGC titles, report notes) pass through a `TextFilter`. The default
adapter checks a word list (`better-profanity`, loaded once per process); an external
moderation service can slot in behind the same Protocol. A rejection is a 422 `text_rejected`
naming the field.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from better_profanity import Profanity
from fastapi import Request

from playerplatform.kit.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str | None = None


ALLOWED = Verdict(True)


class TextFilter(Protocol):
    async def check(self, text: str) -> Verdict:
        """Whether `text` may be shown to other players, and why not when it may not."""
        ...


class TextRejected(ValidationFailed):
    code, title = "text_rejected", "Text rejected"


class WordListFilter:
    """Word-list adapter over better-profanity. The list (a few thousand entries, with
    character substitutions) is built once, at first use, and shared."""

    # Long texts are checked off the event loop: the matcher is pure Python.
    INLINE_LIMIT = 256

    def __init__(self, extra_words: list[str] | None = None) -> None:
        self._extra_words = extra_words or []
        self._matcher: Profanity | None = None

    def _loaded(self) -> Profanity:
        if self._matcher is None:
            matcher = Profanity()
            if self._extra_words:
                matcher.add_censor_words(self._extra_words)
            self._matcher = matcher
        return self._matcher

    async def check(self, text: str) -> Verdict:
        matcher = self._loaded()
        if len(text) <= self.INLINE_LIMIT:
            found = matcher.contains_profanity(text)
        else:
            found = await asyncio.to_thread(matcher.contains_profanity, text)
        return Verdict(False, "contains blocked words") if found else ALLOWED


@lru_cache(maxsize=1)
def default_text_filter() -> TextFilter:
    """The process-wide word-list filter."""
    return WordListFilter()


async def text_filter(request: Request) -> TextFilter:
    """The runtime's text filter when it carries one, else the default adapter (dependency)."""
    configured: Any = getattr(request.app.state.runtime, "text_filter", None)
    return configured if configured is not None else default_text_filter()


async def ensure_acceptable(checker: TextFilter, text: str, *, field: str) -> None:
    """Raise 422 `text_rejected` naming `field` when the filter refuses `text`."""
    verdict = await checker.check(text)
    if not verdict.allowed:
        raise TextRejected(
            f"The {field.replace('_', ' ')} is not allowed.",
            field=field,
        )
