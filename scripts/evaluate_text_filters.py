"""Measure text filters against the corpus in tests/kit/textfilter/: precision and recall of
refusing abusive names (positives) among ordinary ones (negatives). Libraries that are not
installed are skipped; install them in a scratch venv to measure (only the product's own
matcher is a dependency). Run: .venv/bin/python scripts/evaluate_text_filters.py"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from playerplatform.kit.textfilter import WordListFilter

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "kit" / "textfilter"


def corpus(name: str) -> list[str]:
    lines = (CORPUS / name).read_text("utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def candidates() -> dict[str, Callable[[str], bool]]:
    found: dict[str, Callable[[str], bool]] = {}
    ours = WordListFilter()
    found["playerplatform (name policy)"] = lambda t: not asyncio.run(
        ours.check(t, field="name")
    ).allowed
    try:
        from better_profanity import profanity

        profanity.load_censor_words()
        found["better-profanity 0.7.0"] = profanity.contains_profanity
    except ImportError:
        pass
    try:
        from profanity_check import predict

        found["alt-profanity-check 1.9.1"] = lambda t: bool(predict([t])[0])
    except ImportError:
        pass
    try:
        from glin_profanity import Filter

        glin = Filter({"all_languages": True})
        found["glin-profanity"] = lambda t: bool(glin.is_profane(t))
    except Exception:  # noqa: S110
        pass
    try:
        from profanityfilter import ProfanityFilter

        pf = ProfanityFilter()
        found["profanityfilter"] = lambda t: bool(pf.is_profane(t))
    except Exception:  # noqa: S110
        pass
    return found


def main() -> None:
    ordinary, abusive = corpus("ordinary.txt"), corpus("abusive.txt")
    print(f"{len(ordinary)} ordinary, {len(abusive)} abusive")
    print("| filter | precision | recall | ordinary refused | abusive missed |")
    print("|---|---|---|---|---|")
    for name, refuses in candidates().items():
        tp = sum(refuses(t) for t in abusive)
        fp = sum(refuses(t) for t in ordinary)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / len(abusive)
        print(f"| {name} | {precision:.3f} | {recall:.3f} | {fp} | {len(abusive) - tp} |")


if __name__ == "__main__":
    main()
