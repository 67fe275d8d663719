"""The text filter against its corpus: ordinary game language passes, slurs and their
evasions do not; display names are stricter than descriptions; a studio's own lists win."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from playerplatform.kit.textfilter import WordListFilter
from tests.support.players import auth, device_login

CORPUS = Path(__file__).parent / "textfilter"


def _corpus(name: str) -> list[str]:
    lines = (CORPUS / name).read_text("utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


ORDINARY = _corpus("ordinary.txt")
ABUSIVE = _corpus("abusive.txt")


def test_the_corpora_are_large_enough() -> None:
    assert len(ORDINARY) >= 500 and len(set(ORDINARY)) == len(ORDINARY)
    assert len(ABUSIVE) >= 100


@pytest.mark.parametrize("field", ["display_name", "name", "tags", "description"])
async def test_ordinary_game_language_passes_in_every_field(field: str) -> None:
    checker = WordListFilter()
    refused = [t for t in ORDINARY if not (await checker.check(t, field=field)).allowed]
    assert refused == []


@pytest.mark.parametrize("field", ["display_name", "name"])
async def test_slurs_and_their_evasions_are_caught(field: str) -> None:
    checker = WordListFilter()
    missed = [t for t in ABUSIVE if (await checker.check(t, field=field)).allowed]
    assert missed == []


async def test_display_names_are_stricter_than_descriptions() -> None:
    checker = WordListFilter()
    cases = {
        # text: (display_name, name, description) allowed?
        "Bastard Sword": (False, True, True),
        "Admin": (False, True, True),
        "this map is fucking hard": (False, False, True),
        "gg, you're a n1gger": (False, False, False),
        "Crash test 15": (True, True, True),
    }
    for text, expected in cases.items():
        found = (
            (await checker.check(text, field="display_name")).allowed,
            (await checker.check(text, field="name")).allowed,
            (await checker.check(text, field="description")).allowed,
        )
        assert found == expected, text


async def test_a_studios_lists_win() -> None:
    checker = WordListFilter(deny=["gronk", "bad phrase"], allow=["Shiitake", "crap"])
    assert not (await checker.check("Gr0nk", field="description")).allowed
    assert not (await checker.check("a bad phrase here", field="description")).allowed
    assert (await checker.check("Crap Shoot", field="display_name")).allowed


async def test_display_names_through_the_api(client: httpx.AsyncClient, make_client: Any) -> None:
    player = auth(await device_login(client))
    for name, status in (("Kill Streak Arena", 200), ("Crash test 15", 200), ("sh1t h3ad", 422)):
        response = await client.patch(
            "/api/v1/users/me", json={"display_name": name}, headers=player
        )
        assert response.status_code == status, (name, response.text)
    async with make_client(text_filter_deny="gronk", text_filter_allow="crap") as studio:
        them = auth(await device_login(studio))
        refused = await studio.patch(
            "/api/v1/users/me", json={"display_name": "Gronk"}, headers=them
        )
        assert refused.status_code == 422 and refused.json()["code"] == "text_rejected"
        allowed = await studio.patch(
            "/api/v1/users/me", json={"display_name": "Crap"}, headers=them
        )
        assert allowed.status_code == 200, allowed.text
