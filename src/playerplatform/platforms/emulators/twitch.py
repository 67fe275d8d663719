"""Twitch emulator: id.twitch.tv OAuth (authorization code for linking, client credentials
for app tokens, validate), plus Helix Drops (`twitch_helix`) and EventSub (`twitch_eventsub`).

`TwitchEmulator` (on `app.state.twitch`) holds codes, tokens, entitlements and subscriptions.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from playerplatform.kit.apidocs import install_api_docs
from playerplatform.platforms.emulators import read_form

USER_TOKEN_TTL = 14_400
APP_TOKEN_TTL = 5_000_000  # Twitch's app tokens last about two months


@dataclass
class Grant:
    user_id: str
    login: str
    scopes: list[str]
    redirect_uri: str | None = None


@dataclass
class UserToken:
    grant: Grant
    expires_at: float


@dataclass
class TwitchEmulator:
    client_id: str
    client_secret: str
    # Codes are single use: exchanging one removes it.
    codes: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, UserToken] = field(default_factory=dict)
    app_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    app_token_ttl: int = APP_TOKEN_TTL
    # Helix Drops and EventSub (`twitch_helix`).
    entitlements: dict[str, Any] = field(default_factory=dict)
    patch_failures: dict[str, list[str]] = field(default_factory=dict)
    patch_calls: list[list[str]] = field(default_factory=list)
    patch_delay: float = 0.0  # seconds each PATCH waits before answering (a slow Twitch)
    subscriptions: dict[str, Any] = field(default_factory=dict)


def twitch_state(request: Request) -> TwitchEmulator:
    state: TwitchEmulator = request.app.state.twitch
    return state


def twitch_error(status: int, message: str) -> Response:
    return JSONResponse({"status": status, "message": message}, status_code=status)


router = APIRouter()


@router.post("/oauth2/token")
async def token(request: Request) -> Response:
    state = twitch_state(request)
    form = await read_form(request)
    if form.get("client_id") != state.client_id:
        return twitch_error(400, "invalid client")
    if not secrets.compare_digest(form.get("client_secret", ""), state.client_secret):
        return twitch_error(403, "invalid client secret")
    if form.get("grant_type") == "client_credentials":
        app_token = secrets.token_hex(15)
        state.app_tokens[app_token] = time.time() + state.app_token_ttl
        return JSONResponse(
            {"access_token": app_token, "expires_in": state.app_token_ttl, "token_type": "bearer"}
        )
    if form.get("grant_type") != "authorization_code":
        return twitch_error(400, "Invalid grant type")
    grant = state.codes.pop(form.get("code", ""), None)
    if grant is None:
        return twitch_error(400, "Invalid authorization code")
    if grant.redirect_uri is not None and grant.redirect_uri != form.get("redirect_uri"):
        return twitch_error(400, "Parameter redirect_uri does not match registered URI")
    access_token = secrets.token_hex(15)
    state.tokens[access_token] = UserToken(grant=grant, expires_at=time.time() + USER_TOKEN_TTL)
    return JSONResponse(
        {
            "access_token": access_token,
            "expires_in": USER_TOKEN_TTL,
            "refresh_token": secrets.token_hex(25),
            "scope": grant.scopes,
            "token_type": "bearer",
        }
    )


@router.get("/oauth2/validate")
async def validate(request: Request) -> Response:
    state = twitch_state(request)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() in ("oauth", "bearer") else ""
    app_expires = state.app_tokens.get(token)
    if app_expires is not None and app_expires > time.time():
        return JSONResponse(
            {
                "client_id": state.client_id,
                "scopes": [],
                "expires_in": int(app_expires - time.time()),
            }
        )
    user_token = state.tokens.get(token)
    if user_token is None or user_token.expires_at <= time.time():
        return twitch_error(401, "invalid access token")
    return JSONResponse(
        {
            "client_id": state.client_id,
            "login": user_token.grant.login,
            "scopes": user_token.grant.scopes,
            "user_id": user_token.grant.user_id,
            "expires_in": int(user_token.expires_at - time.time()),
        }
    )


class MintCode(BaseModel):
    user_id: str
    login: str
    scopes: list[str] = []
    redirect_uri: str | None = None


emulator_router = APIRouter(prefix="/emulator")


@emulator_router.post("/codes")
async def mint_code(body: MintCode, request: Request) -> dict[str, str]:
    """What Twitch appends to the redirect after the player authorises the app."""
    code = secrets.token_hex(15)
    twitch_state(request).codes[code] = Grant(
        user_id=body.user_id, login=body.login, scopes=body.scopes, redirect_uri=body.redirect_uri
    )
    return {"code": code}


DESCRIPTION = (
    "A local stand-in for id.twitch.tv (OAuth token exchange and validation). "
    "`POST /emulator/codes` exists only here: it mints the authorization code Twitch appends "
    "to the redirect once a viewer authorises the app, for a given Twitch user id and login."
)


def create_twitch_emulator(client_id: str, client_secret: str) -> FastAPI:
    """id.twitch.tv and api.twitch.tv (Helix) for one registered application."""
    from playerplatform.platforms.emulators import twitch_eventsub, twitch_helix

    app = FastAPI(
        title="Twitch emulator",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    app.state.twitch = TwitchEmulator(client_id=client_id, client_secret=client_secret)
    app.include_router(router)
    app.include_router(emulator_router)
    app.include_router(twitch_helix.router)
    app.include_router(twitch_helix.emulator_router)
    app.include_router(twitch_eventsub.router)
    app.include_router(twitch_eventsub.emulator_router)
    return app
