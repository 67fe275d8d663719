"""`playerplatform emulate steam|epic|twitch`: run a platform emulator for local development."""

from __future__ import annotations

import click
import uvicorn
from fastapi import FastAPI

DEV_STEAM_APP_ID = 480
DEV_STEAM_PUBLISHER_KEY = "dev-publisher-key"
DEV_EPIC_CLIENT_ID = "dev-epic-client"
DEV_EPIC_CLIENT_SECRET = "dev-epic-secret"
DEV_EPIC_DEPLOYMENT_ID = "dev-deployment"
DEV_EPIC_SANDBOX_ID = "dev-sandbox"
DEV_TWITCH_CLIENT_ID = "dev-twitch-client"
DEV_TWITCH_CLIENT_SECRET = "dev-twitch-secret"


@click.group()
def emulate() -> None:
    """Run a local Steam, Epic or Twitch emulator."""


def _serve(app: FastAPI, name: str, host: str, port: int, settings: dict[str, str]) -> None:
    base_url = f"http://{host}:{port}"
    click.echo(f"{name} emulator at {base_url}")
    click.echo("Point the platform at it with:")
    for setting, value in settings.items():
        click.echo(f"  {setting}={value.replace('{base_url}', base_url)}")
    uvicorn.run(app, host=host, port=port, log_level="info")


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8091, show_default=True, type=int)
@click.option("--app-id", default=DEV_STEAM_APP_ID, show_default=True, type=int)
@click.option("--publisher-key", default=DEV_STEAM_PUBLISHER_KEY, show_default=True)
def steam(host: str, port: int, app_id: int, publisher_key: str) -> None:
    """Steam partner Web API (ISteamUserAuth, ISteamUser)."""
    from playerplatform.platforms.emulators.steam import create_steam_emulator

    _serve(
        create_steam_emulator(app_id=app_id, publisher_key=publisher_key),
        "Steam",
        host,
        port,
        {
            "PP_STEAM_API_URL": "{base_url}",
            "PP_STEAM_APP_ID": str(app_id),
            "PP_STEAM_PUBLISHER_KEY": publisher_key,
        },
    )


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8092, show_default=True, type=int)
@click.option("--client-id", default=DEV_EPIC_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEV_EPIC_CLIENT_SECRET, show_default=True)
@click.option("--deployment-id", default=DEV_EPIC_DEPLOYMENT_ID, show_default=True)
@click.option("--sandbox-id", default=DEV_EPIC_SANDBOX_ID, show_default=True)
def epic(
    host: str, port: int, client_id: str, client_secret: str, deployment_id: str, sandbox_id: str
) -> None:
    """Epic Online Services (key sets, client credentials, ID tokens)."""
    from playerplatform.platforms.emulators.epic import create_epic_emulator

    _serve(
        create_epic_emulator(
            client_id=client_id,
            client_secret=client_secret,
            deployment_id=deployment_id,
            sandbox_id=sandbox_id,
        ),
        "Epic",
        host,
        port,
        {
            "PP_EPIC_API_URL": "{base_url}",
            "PP_EPIC_JWKS_URL": "{base_url}/auth/v1/oauth/jwks",
            "PP_EPIC_CLIENT_ID": client_id,
            "PP_EPIC_CLIENT_SECRET": client_secret,
            "PP_EPIC_DEPLOYMENT_ID": deployment_id,
            "PP_EPIC_SANDBOX_ID": sandbox_id,
        },
    )


@emulate.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8093, show_default=True, type=int)
@click.option("--client-id", default=DEV_TWITCH_CLIENT_ID, show_default=True)
@click.option("--client-secret", default=DEV_TWITCH_CLIENT_SECRET, show_default=True)
def twitch(host: str, port: int, client_id: str, client_secret: str) -> None:
    """Twitch (id.twitch.tv OAuth)."""
    from playerplatform.platforms.emulators.twitch import create_twitch_emulator

    _serve(
        create_twitch_emulator(client_id=client_id, client_secret=client_secret),
        "Twitch",
        host,
        port,
        {
            "PP_TWITCH_ID_URL": "{base_url}",
            "PP_TWITCH_API_URL": "{base_url}",
            "PP_TWITCH_CLIENT_ID": client_id,
            "PP_TWITCH_CLIENT_SECRET": client_secret,
        },
    )
