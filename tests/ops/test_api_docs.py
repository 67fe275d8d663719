"""`/docs` and `/redoc` work without internet: every script, stylesheet and icon they load is
served by the platform itself (a page that loads from a CDN is blank offline)."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from playerplatform.platforms.emulators.epic import create_epic_emulator
from playerplatform.platforms.emulators.steam import create_steam_emulator
from playerplatform.platforms.emulators.twitch import create_twitch_emulator
from tests.conftest import asgi_client

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


async def assert_docs_are_self_contained(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200, page
        assert response.headers["content-type"].startswith("text/html")
        references = [a or b for a, b in ASSET.findall(response.text)]
        assert any(r.endswith(".js") for r in references), (page, references)
        for reference in references:
            # Same origin, and there: nothing from another host, nothing missing.
            assert reference.startswith("/"), (page, reference)
            asset = await client.get(reference)
            assert asset.status_code == 200, (page, reference)
            assert asset.content, (page, reference)
        assert "cdn" not in response.text.lower(), page
        assert "fonts.googleapis" not in response.text, page


async def test_the_platforms_api_docs_load_nothing_from_elsewhere(
    client: httpx.AsyncClient,
) -> None:
    await assert_docs_are_self_contained(client)
    assert (await client.get("/docs/static/nothing.js")).status_code == 404


def _emulators() -> dict[str, FastAPI]:
    return {
        "steam": create_steam_emulator(app_id=480, publisher_key="k"),
        "epic": create_epic_emulator(
            client_id="c", client_secret="s", deployment_id="d", sandbox_id="x"
        ),
        "twitch": create_twitch_emulator(client_id="c", client_secret="s"),
    }


async def test_each_emulator_describes_itself_in_openapi() -> None:
    minting = {
        "steam": "/emulator/tickets",
        "epic": "/emulator/id-tokens",
        "twitch": "/emulator/codes",
    }
    for name, app in _emulators().items():
        async with asgi_client(app) as client:
            spec = (await client.get("/openapi.json")).json()
            assert minting[name] in spec["paths"], (name, sorted(spec["paths"]))
            assert "/emulator/" in spec["info"]["description"], name
            await assert_docs_are_self_contained(client)
