"""`playerplatform emulate steam|epic|twitch|all|fcm|apns`: platform emulators for local development.

Each emulator serves the platform's own wire protocol (the routes the platform's clients
call) plus emulator-only routes under `/emulator/` that stand in for the game client's side:
minting a Steam session ticket, an Epic ID token or a Twitch authorization code;
the FCM and APNs emulators receive push notifications. Each
describes itself at `/openapi.json` and `/docs`. docs/local-platforms.md walks through them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import click
from fastapi import FastAPI

from playerplatform.kit.metrics import settle_gc

DEV_STEAM_APP_ID = 480
DEV_STEAM_PUBLISHER_KEY = "dev-publisher-key"
DEV_EPIC_CLIENT_ID = "dev-epic-client"
DEV_EPIC_CLIENT_SECRET = "dev-epic-secret"
DEV_EPIC_DEPLOYMENT_ID = "dev-deployment"
DEV_EPIC_SANDBOX_ID = "dev-sandbox"
DEV_TWITCH_CLIENT_ID = "dev-twitch-client"
DEV_TWITCH_CLIENT_SECRET = "dev-twitch-secret"
STEAM_PORT, EPIC_PORT, TWITCH_PORT = 8091, 8092, 8093


@dataclass(frozen=True)
class Emulator:
    name: str
    app: FastAPI
    port: int
    settings: Callable[[str], dict[str, str]]  # base URL -> the PP_ settings pointing at it


@click.group()
def emulate() -> None:
    """Run local Steam, Epic, Twitch, FCM or APNs emulators (`all`: the three platforms)."""


def steam_emulator(port: int, app_id: int, publisher_key: str) -> Emulator:
    from playerplatform.platforms.emulators.steam import create_steam_emulator

    return Emulator(
        "Steam",
        create_steam_emulator(app_id=app_id, publisher_key=publisher_key),
        port,
        lambda base: {
            "PP_STEAM_API_URL": base,
            "PP_STEAM_APP_ID": str(app_id),
            "PP_STEAM_PUBLISHER_KEY": publisher_key,
        },
    )


def epic_emulator(
    port: int, client_id: str, client_secret: str, deployment_id: str, sandbox_id: str
) -> Emulator:
    from playerplatform.platforms.emulators.epic import create_epic_emulator

    return Emulator(
        "Epic",
        create_epic_emulator(
            client_id=client_id,
            client_secret=client_secret,
            deployment_id=deployment_id,
            sandbox_id=sandbox_id,
        ),
        port,
        lambda base: {
            "PP_EPIC_API_URL": base,
            "PP_EPIC_JWKS_URL": f"{base}/auth/v1/oauth/jwks",
            "PP_EPIC_CLIENT_ID": client_id,
            "PP_EPIC_CLIENT_SECRET": client_secret,
            "PP_EPIC_DEPLOYMENT_ID": deployment_id,
            "PP_EPIC_SANDBOX_ID": sandbox_id,
        },
    )


def twitch_emulator(port: int, client_id: str, client_secret: str) -> Emulator:
    from playerplatform.platforms.emulators.twitch import create_twitch_emulator

    return Emulator(
        "Twitch",
        create_twitch_emulator(client_id=client_id, client_secret=client_secret),
        port,
        lambda base: {
            "PP_TWITCH_ID_URL": base,
            "PP_TWITCH_API_URL": base,
            "PP_TWITCH_CLIENT_ID": client_id,
            "PP_TWITCH_CLIENT_SECRET": client_secret,
            "PP_TWITCH_ORGANIZATION_ID": "org-1",
            "PP_TWITCH_EVENTSUB_SECRET": "<10-100 characters of your choice>",
        },
    )


def settings_block(host: str, emulators: list[Emulator]) -> str:
    """What to tell the platform: one `export` line per setting, ready to paste."""
    lines = []
    for emulator in emulators:
        base = f"http://{host}:{emulator.port}"
        lines.append(f"# {emulator.name} emulator at {base} (API docs: {base}/docs)")
        lines.extend(f"export {k}={v}" for k, v in emulator.settings(base).items())
    return "\n".join(lines)


def _serve(host: str, emulators: list[Emulator]) -> None:
    import uvicorn

    click.echo(
        "Start (or restart: settings are read at start-up) the platform with these settings,\n"
        "e.g. paste them into the shell that runs `make run`:\n"
    )
    click.echo(settings_block(host, emulators))
    click.echo("")
    servers = [
        uvicorn.Server(uvicorn.Config(e.app, host=host, port=e.port, log_level="warning"))
        for e in emulators
    ]

    async def serve_all() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    settle_gc(tune=False)  # the command line started it with the collector off
    asyncio.run(serve_all())


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=STEAM_PORT, show_default=True, type=int)
@click.option("--app-id", default=DEV_STEAM_APP_ID, show_default=True, type=int)
@click.option("--publisher-key", default=DEV_STEAM_PUBLISHER_KEY, show_default=True)
def steam(host: str, port: int, app_id: int, publisher_key: str) -> None:
    """Steam partner Web API (ISteamUserAuth, ISteamUser, ISteamMicroTxn)."""
    _serve(host, [steam_emulator(port, app_id, publisher_key)])


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=EPIC_PORT, show_default=True, type=int)
@click.option("--client-id", default=DEV_EPIC_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEV_EPIC_CLIENT_SECRET, show_default=True)
@click.option("--deployment-id", default=DEV_EPIC_DEPLOYMENT_ID, show_default=True)
@click.option("--sandbox-id", default=DEV_EPIC_SANDBOX_ID, show_default=True)
def epic(
    host: str, port: int, client_id: str, client_secret: str, deployment_id: str, sandbox_id: str
) -> None:
    """Epic Online Services (key sets, client credentials, ID tokens, ecom)."""
    _serve(host, [epic_emulator(port, client_id, client_secret, deployment_id, sandbox_id)])


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=TWITCH_PORT, show_default=True, type=int)
@click.option("--client-id", default=DEV_TWITCH_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEV_TWITCH_CLIENT_SECRET, show_default=True)
def twitch(host: str, port: int, client_id: str, client_secret: str) -> None:
    """Twitch (id.twitch.tv OAuth)."""
    _serve(host, [twitch_emulator(port, client_id, client_secret)])


@emulate.command("all")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--steam-port", default=STEAM_PORT, show_default=True, type=int)
@click.option("--epic-port", default=EPIC_PORT, show_default=True, type=int)
@click.option("--twitch-port", default=TWITCH_PORT, show_default=True, type=int)
def emulate_all(host: str, steam_port: int, epic_port: int, twitch_port: int) -> None:
    """Steam, Epic and Twitch together, with the development credentials, and one block of
    settings for all three."""
    _serve(
        host,
        [
            steam_emulator(steam_port, DEV_STEAM_APP_ID, DEV_STEAM_PUBLISHER_KEY),
            epic_emulator(
                epic_port,
                DEV_EPIC_CLIENT_ID,
                DEV_EPIC_CLIENT_SECRET,
                DEV_EPIC_DEPLOYMENT_ID,
                DEV_EPIC_SANDBOX_ID,
            ),
            twitch_emulator(twitch_port, DEV_TWITCH_CLIENT_ID, DEV_TWITCH_CLIENT_SECRET),
        ],
    )


def _serve_app(app: FastAPI, name: str, host: str, port: int, settings: dict[str, str]) -> None:
    """One emulator; `{base_url}` in a setting's value is its address."""
    _serve(
        host,
        [
            Emulator(
                name,
                app,
                port,
                lambda base: {k: v.replace("{base_url}", base) for k, v in settings.items()},
            )
        ],
    )


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8094, show_default=True, type=int)
@click.option("--project-id", default="dev-project", show_default=True)
@click.option("--out", default=".", show_default=True, type=click.Path(file_okay=False))
def fcm(host: str, port: int, project_id: str, out: str) -> None:
    """Firebase Cloud Messaging HTTP v1 (writes the service-account JSON into --out)."""
    from pathlib import Path

    import orjson

    from playerplatform.platforms.emulators.fcm import create_fcm_emulator

    app = create_fcm_emulator(project_id=project_id, base_url=f"http://{host}:{port}")
    account = Path(out) / "fcm-service-account.json"
    account.write_bytes(orjson.dumps(app.state.fcm.service_account()))
    account.chmod(0o600)
    _serve_app(
        app,
        "FCM",
        host,
        port,
        {
            "PP_PUSH_FCM_URL": "{base_url}",
            "PP_PUSH_FCM_PROJECT_ID": project_id,
            "PP_PUSH_FCM_SERVICE_ACCOUNT_FILE": str(account.resolve()),
        },
    )


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8095, show_default=True, type=int)
@click.option("--team-id", default="DEVTEAM123", show_default=True)
@click.option("--key-id", default="DEVKEY1234", show_default=True)
@click.option("--topic", default="com.example.game", show_default=True)
@click.option("--out", default=".", show_default=True, type=click.Path(file_okay=False))
def apns(host: str, port: int, team_id: str, key_id: str, topic: str, out: str) -> None:
    """Apple Push Notification service over HTTP/2 (writes the .p8 key into --out)."""
    import asyncio
    from pathlib import Path

    from playerplatform.platforms.emulators.apns import ApnsEmulator

    emulator = ApnsEmulator(team_id=team_id, key_id=key_id, topic=topic)
    key = Path(out) / f"AuthKey_{key_id}.p8"
    key.write_text(emulator.key_pem)
    key.chmod(0o600)
    click.echo(f"APNs emulator (HTTP/2, prior knowledge) at http://{host}:{port}")
    click.echo("Point the platform at it with:")
    for setting, value in {
        "PP_PUSH_APNS_URL": f"http://{host}:{port}",
        "PP_PUSH_APNS_KEY_FILE": str(key.resolve()),
        "PP_PUSH_APNS_KEY_ID": key_id,
        "PP_PUSH_APNS_TEAM_ID": team_id,
        "PP_PUSH_APNS_TOPIC": topic,
    }.items():
        click.echo(f"  {setting}={value}")

    async def run() -> None:
        server = await emulator.serve(host, port)
        async with server:
            await server.serve_forever()

    settle_gc(tune=False)  # the command line started it with the collector off
    asyncio.run(run())
