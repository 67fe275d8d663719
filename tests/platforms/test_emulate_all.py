"""`playerplatform emulate all`: the three emulators in one process and one block of settings
that points the platform at them, each setting naming a server that answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from playerplatform.kit.settings import Settings
from tests.conftest import asgi_client, running_app
from tests.support.servers import free_port


async def test_emulate_all_prints_one_block_of_settings_that_work(
    make_settings: Callable[..., Settings],
) -> None:
    ports = {name: free_port() for name in ("steam", "epic", "twitch")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "playerplatform.cli",
            "emulate",
            "all",
            *(f"--{name}-port={port}" for name, port in ports.items()),
        ],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PP_")},
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        settings: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while True:  # the block ends with a blank line
            line = process.stdout.readline()
            assert line, "emulate all ended early"
            if line.startswith("export PP_"):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                settings[key] = value
            elif settings and not line.strip():
                break
        assert len(settings) == 15, settings  # Twitch: also the organization and EventSub secret
        assert settings["PP_STEAM_API_URL"] == f"http://127.0.0.1:{ports['steam']}"
        assert settings["PP_EPIC_JWKS_URL"].startswith(f"http://127.0.0.1:{ports['epic']}/")
        assert settings["PP_TWITCH_ID_URL"] == f"http://127.0.0.1:{ports['twitch']}"

        with httpx.Client(timeout=5) as http:
            while True:
                try:
                    http.get(settings["PP_TWITCH_ID_URL"] + "/openapi.json")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            ticket = http.post(
                settings["PP_STEAM_API_URL"] + "/emulator/tickets",
                json={"steamid": "76561198000000001"},
            )
            assert ticket.status_code == 200 and ticket.json()["ticket"]
            keys = http.get(settings["PP_EPIC_JWKS_URL"])
            assert keys.status_code == 200 and keys.json()["keys"]
            token = http.post(
                settings["PP_EPIC_API_URL"] + "/emulator/id-tokens",
                json={"sub": "0123456789abcdef", "kind": "connect"},
            )
            assert token.status_code == 200 and token.json()["id_token"]
            code = http.post(
                settings["PP_TWITCH_ID_URL"] + "/emulator/codes",
                json={"user_id": "42", "login": "streamer"},
            )
            assert code.status_code == 200 and code.json()["code"]

        # The platform started with exactly those settings signs players in through them, as
        # docs/local-platforms.md walks through.
        overrides = {key.removeprefix("PP_").lower(): value for key, value in settings.items()}
        async with running_app(make_settings(**overrides)) as (app, _), asgi_client(app) as client:
            steam = await client.post(
                "/api/v1/auth/steam/login", json={"ticket": ticket.json()["ticket"]}
            )
            assert steam.status_code == 200, steam.text
            eas = httpx.post(
                settings["PP_EPIC_API_URL"] + "/emulator/id-tokens",
                json={"sub": "0123456789abcdef0123456789abcdef", "kind": "eas"},
            )
            epic = await client.post(
                "/api/v1/auth/epic/login", json={"id_token": eas.json()["id_token"]}
            )
            assert epic.status_code == 200, epic.text
    finally:
        process.terminate()
        process.wait(timeout=10)
