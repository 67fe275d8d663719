# ruff: noqa: RUF001, RUF002  (look-alike letters are the point of CONFUSABLES)
"""Text filter port: is this player-written text fit to show to other players?

Display names, UGC names, tags and descriptions pass through a `TextFilter` with the name of
the field, and each field has a policy (`FIELD_LEVELS`): display names are the strictest,
descriptions refuse only slurs and hate. The default adapter, `WordListFilter`, matches a
word list shipped with the project (`data/textfilter/`) plus the studio's own deny and allow
lists (`PP_TEXT_FILTER_DENY`, `PP_TEXT_FILTER_ALLOW`); an external moderation service can
slot in behind the same Protocol. A rejection is a 422 `text_rejected` naming the field.

How text is matched (the corpus in `tests/kit/textfilter/` pins it):
- normalised first: NFKC, lower case, accents dropped, zero-width characters removed, Latin
  look-alikes from other scripts (Cyrillic `а`, Greek `ο`, ...) mapped to Latin;
- whole words only: "Scunthorpe", "assassin" and "class" hold no banned word, and numbers
  stay numbers ("Crash test 15" is not leetspeak). Words are never joined across spaces, so
  "test 15" cannot become anything, except a run of three or more single letters, the
  spacing evasion "n i g g e r";
- inside a word, evasions are undone: separators ("f.u.c.k", "sh-it"), leetspeak ("sh1t",
  "@ss", "f*ck" with `*` for any letter), repeated letters ("fuuuck"), camel case
  ("KillAllNoobs" is read as its parts too); plural and verb endings match their word;
- a few terms that no ordinary word contains (marked `*` in the list) also match inside
  longer words ("xXslurXx").
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from fastapi import Request

from playerplatform.kit.errors import ValidationFailed

LEVELS = ("slur", "strong", "mild", "reserved")
# Which levels each field refuses. Unknown fields get the `text` policy.
FIELD_LEVELS: dict[str, frozenset[str]] = {
    "display_name": frozenset({"slur", "strong", "mild", "reserved"}),
    "name": frozenset({"slur", "strong"}),
    "tags": frozenset({"slur", "strong"}),
    "description": frozenset({"slur"}),
    "text": frozenset({"slur", "strong"}),
}
SUFFIXES = ("", "s", "es", "ed", "ing", "er", "ers", "y", "z")
LEET = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l",
}  # fmt: skip
LEET_TABLE = str.maketrans(LEET)
# Latin look-alikes in other scripts (the common ones of Unicode's confusables list).
CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "с": "c", "е": "e", "ё": "e", "н": "h", "і": "i", "ї": "i",
        "ј": "j", "к": "k", "м": "m", "о": "o", "р": "p", "ѕ": "s", "т": "t", "у": "y",
        "х": "x", "ԁ": "d", "ɡ": "g", "һ": "h", "ӏ": "l", "α": "a", "β": "b", "ε": "e",
        "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
        "ϲ": "c", "ⅰ": "i", "ⅼ": "l",
    }
)  # fmt: skip
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
WORD = re.compile(r"[^\s]+")
SEPARATORS = re.compile(r"[._\-'’~^,:;/\\]+")
CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
MAX_TEXT = 10_000
STRETCHED = re.compile(r"(.)\1\1")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str | None = None


ALLOWED = Verdict(True)


class TextFilter(Protocol):
    async def check(self, text: str, *, field: str = "text") -> Verdict:
        """Whether `text` may be shown to other players in `field`, and why not."""
        ...


class TextRejected(ValidationFailed):
    code, title = "text_rejected", "Text rejected"


@dataclass
class WordList:
    """Words by level (`exact`), the `*` words matched inside longer ones (`inside`), phrases
    of several words, and words never refused (`allow`)."""

    exact: dict[str, str] = field(default_factory=dict)
    inside: dict[str, str] = field(default_factory=dict)
    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    allow: set[str] = field(default_factory=set)

    def add(self, level: str, entry: str) -> None:
        words = [_fold(w) for w in entry.split()]
        if len(words) > 1:
            self.phrases[tuple(words)] = level
        elif words and words[0].startswith("*"):
            self.inside[words[0][1:]] = level
        elif words:
            self.exact[words[0]] = level


def _lines(name: str) -> Iterator[str]:
    folder = resources.files("playerplatform").joinpath("data", "textfilter")
    text = folder.joinpath(name).read_text("utf-8")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line


@lru_cache(maxsize=1)
def shipped_words() -> WordList:
    """The project's word list (`data/textfilter/`), read once."""
    words = WordList()
    for line in _lines("deny.txt"):
        level, _, entry = line.partition(" ")
        words.add(level, entry)
    for line in _lines("phrases.txt"):
        level, _, entry = line.partition(" ")
        words.add(level, entry)
    words.allow.update(_fold(line) for line in _lines("allow.txt"))
    return words


def _fold(text: str) -> str:
    """NFKC, lower case, no accents, no zero-width characters, look-alikes mapped."""
    text = unicodedata.normalize("NFKC", text).translate(ZERO_WIDTH).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.translate(CONFUSABLES)


def _squeeze(word: str) -> set[str]:
    """The word with runs of a repeated letter cut to two and to one ("fuuuck")."""
    two = re.sub(r"(.)\1{2,}", r"\1\1", word)
    return {word, two, _single(word)}


def _single(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


def _unleet(word: str) -> set[str]:
    """Leetspeak read back as letters; `1` may be `i` or `l`. Only for words with a letter:
    a number stays a number."""
    if not any(c.isalpha() for c in word):
        return {word}
    forms = {word, word.translate(LEET_TABLE)}
    if "1" in word:
        forms.add(word.replace("1", "l").translate(LEET_TABLE))
    # "v" for "u" and "ph" for "f": added as forms, the word itself is checked too.
    forms.update(f.replace("v", "u").replace("ph", "f") for f in list(forms))
    return forms


class WordListFilter:
    """The shipped word list, plus the studio's deny list (refused in every field) and allow
    list (never refused)."""

    # Long texts are checked off the event loop: the matcher is pure Python.
    INLINE_LIMIT = 256

    def __init__(
        self, deny: Iterable[str] = (), allow: Iterable[str] = (), *, words: WordList | None = None
    ) -> None:
        base = words or shipped_words()
        self.words = WordList(
            exact=dict(base.exact),
            inside=dict(base.inside),
            phrases=dict(base.phrases),
            allow=set(base.allow),
        )
        for entry in deny:
            if entry.strip():
                self.words.add("slur", entry)
        self.words.allow.update(_fold(w) for w in allow if w.strip())

    async def check(self, text: str, *, field: str = "text") -> Verdict:
        levels = FIELD_LEVELS.get(field, FIELD_LEVELS["text"])
        if len(text) <= self.INLINE_LIMIT:
            found = self.find(text, levels)
        else:
            found = await asyncio.to_thread(self.find, text[:MAX_TEXT], levels)
        return Verdict(False, f"contains a blocked word ({found})") if found else ALLOWED

    def find(self, text: str, levels: frozenset[str]) -> str | None:
        """The level of the first blocked word or phrase in `text`, or None."""
        raw_words = WORD.findall(unicodedata.normalize("NFKC", text).translate(ZERO_WIDTH))
        folded = [_fold(w) for w in raw_words]
        for raw, word in zip(raw_words, folded, strict=True):
            level = self._word_level(raw, word, levels)
            if level:
                return level
        # Spacing evasion: a run of single letters is read as one word.
        run: list[str] = []
        for word in [*folded, ""]:
            if len(word) == 1:
                run.append(word)
                continue
            if len(run) >= 3:
                level = self._word_level("".join(run), "".join(run), levels)
                if level:
                    return level
            run = []
        plain = [SEPARATORS.sub("", w).strip("!?.,\"'()[]{}") for w in folded]
        for phrase, level in self.words.phrases.items():
            if level in levels and _contains(plain, phrase):
                return level
        return None

    def _word_level(self, raw: str, word: str, levels: frozenset[str]) -> str | None:
        if word in self.words.allow:
            return None
        parts = [p for p in SEPARATORS.split(word) if p]
        candidates = {word, SEPARATORS.sub("", word), *parts}
        candidates.update(_fold(p) for p in CAMEL.findall(raw))
        for candidate in list(candidates):
            candidate = candidate.strip("!?.,\"'()[]{}")
            if not candidate or candidate in self.words.allow:
                continue
            for form in _unleet(candidate):
                for squeezed in _squeeze(form):
                    level = self._match(squeezed, levels)
                    if level:
                        return level
        return None

    def _match(self, word: str, levels: frozenset[str]) -> str | None:
        if word in self.words.allow:
            return None
        if STRETCHED.search(word):
            # Letters stretched past two ("niiiice") are evasion: compare single letters.
            single = _single(word)
            for known, level in [*self.words.exact.items(), *self.words.inside.items()]:
                if level in levels and _single(known) == single:
                    return level
        for suffix in SUFFIXES:
            if suffix and not word.endswith(suffix):
                continue
            stem = word[: len(word) - len(suffix)] if suffix else word
            found = self.words.exact.get(stem)
            # "-er" would turn mild words into ordinary ones ("cocker").
            if found in levels and not (found == "mild" and suffix.startswith("er")):
                return found
        if "*" in word:
            pattern = re.compile("^" + re.escape(word).replace(r"\*", "[a-z]") + "$")
            for known, level in [*self.words.exact.items(), *self.words.inside.items()]:
                if level in levels and pattern.match(known):
                    return level
        for inner, level in self.words.inside.items():
            if level in levels and inner in word:
                return level
        return None


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))


def build_text_filter(settings: Any) -> TextFilter:
    """The word-list filter with the studio's lists from settings."""
    return WordListFilter(settings.text_filter_deny, settings.text_filter_allow)


@lru_cache(maxsize=1)
def default_text_filter() -> TextFilter:
    """The shipped word list alone (callers without a runtime)."""
    return WordListFilter()


async def text_filter(request: Request) -> TextFilter:
    """The runtime's text filter (dependency)."""
    configured: Any = getattr(request.app.state.runtime, "text_filter", None)
    return configured if configured is not None else default_text_filter()


async def ensure_acceptable(checker: TextFilter, text: str, *, field: str) -> None:
    """Raise 422 `text_rejected` naming `field` when the filter refuses `text` there."""
    verdict = await checker.check(text, field=field)
    if not verdict.allowed:
        raise TextRejected(f"The {field.replace('_', ' ')} is not allowed.", field=field)
