"""Twitch emulator: the id.twitch.tv OAuth authorization-code flow.

`TwitchEmulator` (on `app.state.twitch`) holds codes and tokens; Helix and EventSub routes
can be added in sibling modules with the same state.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from playerplatform.platforms.emulators import read_form

USER_TOKEN_TTL = 14_400


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
    user_token = state.tokens.get(value.strip()) if scheme.lower() in ("oauth", "bearer") else None
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


def create_twitch_emulator(client_id: str, client_secret: str) -> FastAPI:
    """id.twitch.tv for one registered application."""
    app = FastAPI(title="Twitch emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.twitch = TwitchEmulator(client_id=client_id, client_secret=client_secret)
    app.include_router(router)
    app.include_router(emulator_router)
    return app
