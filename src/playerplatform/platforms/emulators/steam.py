"""Steam partner Web API emulator: ISteamUserAuth, ISteamUser and (in `steam_microtxn`)
ISteamMicroTxn with its Sandbox twin.

`SteamEmulator` (on `app.state.steam`) holds the state; `publisher_key` is the dependency
every partner method uses. ISteamMicroTxn routes live in a sibling module that builds an
`APIRouter` with the same two pieces and is included by `create_steam_emulator`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from playerplatform.kit.apidocs import install_api_docs

TICKET_BYTES = 120
TICKET_ERRORS = {
    101: "Invalid ticket",
    102: "Ticket for other app",
    103: "Expired ticket",
}
# What Valve's partner host answers without a usable key: a plain page, not JSON.
FORBIDDEN_BODY = (
    "<html><head><title>Forbidden</title></head><body><h1>Forbidden</h1>"
    "Access is denied. Retrying will not help. Please verify your <pre>key=</pre> parameter."
    "</body></html>"
)


@dataclass
class Ticket:
    steamid: str
    ownersteamid: str
    appid: int
    identity: str | None
    vacbanned: bool
    publisherbanned: bool
    expires_at: float | None


@dataclass
class SteamEmulator:
    app_id: int
    publisher_key: str
    tickets: dict[str, Ticket] = field(default_factory=dict)
    # steamid -> steamid of the owner, for every player who got a ticket for our app.
    owners: dict[str, str] = field(default_factory=dict)


class KeyRefused(Exception):
    pass


class MissingParameter(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def steam_state(request: Request) -> SteamEmulator:
    state: SteamEmulator = request.app.state.steam
    return state


def publisher_key(request: Request) -> SteamEmulator:
    """Checks the publisher key, sent as query `key` or header `x-webapi-key`."""
    state = steam_state(request)
    key = request.query_params.get("key") or request.headers.get("x-webapi-key")
    if key is None or not secrets.compare_digest(key, state.publisher_key):
        raise KeyRefused
    return state


def require(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise MissingParameter(name)
    return value


def steam_error(code: int, description: str) -> JSONResponse:
    return JSONResponse({"response": {"error": {"errorcode": code, "errordesc": description}}})


router = APIRouter()


@router.get("/ISteamUserAuth/AuthenticateUserTicket/v1/")
async def authenticate_user_ticket(
    request: Request, state: SteamEmulator = Depends(publisher_key)
) -> Response:
    appid = require(request, "appid")
    ticket_hex = require(request, "ticket").lower()
    identity = request.query_params.get("identity") or None
    ticket = state.tickets.get(ticket_hex)
    if ticket is None or ticket.identity != identity:
        return steam_error(101, TICKET_ERRORS[101])
    if str(ticket.appid) != appid:
        return steam_error(102, TICKET_ERRORS[102])
    if ticket.expires_at is not None and ticket.expires_at <= time.time():
        return steam_error(103, TICKET_ERRORS[103])
    return JSONResponse(
        {
            "response": {
                "params": {
                    "result": "OK",
                    "steamid": ticket.steamid,
                    "ownersteamid": ticket.ownersteamid,
                    "vacbanned": ticket.vacbanned,
                    "publisherbanned": ticket.publisherbanned,
                }
            }
        }
    )


@router.get("/ISteamUser/CheckAppOwnership/v4/")
async def check_app_ownership(
    request: Request, state: SteamEmulator = Depends(publisher_key)
) -> Response:
    steamid = require(request, "steamid")
    appid = require(request, "appid")
    owner = state.owners.get(steamid) if appid == str(state.app_id) else None
    return JSONResponse(
        {
            "appownership": {
                "ownsapp": owner is not None,
                "permanent": owner == steamid,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "ownersteamid": owner or "0",
                "sitelicense": False,
                "timeexpires": "never",
                "usercanceled": False,
                "result": "OK",
            }
        }
    )


class MintTicket(BaseModel):
    steamid: str
    appid: int | None = None
    identity: str | None = None
    ownersteamid: str | None = None
    vacbanned: bool = False
    publisherbanned: bool = False
    ttl_seconds: float | None = None


emulator_router = APIRouter(prefix="/emulator")


@emulator_router.post("/tickets")
async def mint_ticket(body: MintTicket, request: Request) -> dict[str, str]:
    """What `GetAuthTicketForWebApi` would hand the game client, as hex."""
    state = steam_state(request)
    ticket_hex = secrets.token_hex(TICKET_BYTES)
    owner = body.ownersteamid or body.steamid
    appid = body.appid if body.appid is not None else state.app_id
    state.tickets[ticket_hex] = Ticket(
        steamid=body.steamid,
        ownersteamid=owner,
        appid=appid,
        identity=body.identity or None,
        vacbanned=body.vacbanned,
        publisherbanned=body.publisherbanned,
        expires_at=None if body.ttl_seconds is None else time.time() + body.ttl_seconds,
    )
    if appid == state.app_id:
        state.owners[body.steamid] = owner
        state.owners.setdefault(owner, owner)
    return {"ticket": ticket_hex}


async def _key_refused(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(FORBIDDEN_BODY, status_code=403, media_type="text/html")


async def _missing_parameter(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MissingParameter)
    return PlainTextResponse(
        f"<html><head><title>Bad Request</title></head><body><h1>Bad Request</h1>"
        f"Required parameter '{exc.name}' is missing</body></html>",
        status_code=400,
        media_type="text/html",
    )


DESCRIPTION = (
    "A local stand-in for Steam's partner Web API: `ISteamUserAuth/AuthenticateUserTicket`, "
    "`ISteamUser/CheckAppOwnership` and `ISteamMicroTxn`, answering as Steam does. Routes "
    "under `/emulator/` exist only here and play the game client's and Steam's side: "
    "`POST /emulator/tickets` mints a session ticket for a SteamID (what "
    "`GetAuthTicketForWebApi` gives the game), `/emulator/microtxn/...` approves, denies or "
    "refunds a purchase and sets a player's wallet."
)


def create_steam_emulator(app_id: int, publisher_key: str) -> FastAPI:
    """A Steam partner Web API for one app, reachable with `publisher_key`."""
    app = FastAPI(
        title="Steam emulator",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    from playerplatform.platforms.emulators import steam_microtxn

    app.state.steam = SteamEmulator(app_id=app_id, publisher_key=publisher_key)
    app.state.microtxn = steam_microtxn.MicroTxnState()
    app.add_exception_handler(KeyRefused, _key_refused)
    app.add_exception_handler(MissingParameter, _missing_parameter)
    app.include_router(router)
    app.include_router(emulator_router)
    app.include_router(steam_microtxn.router)
    app.include_router(steam_microtxn.emulator_router)
    return app
