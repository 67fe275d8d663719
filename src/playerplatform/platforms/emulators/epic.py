"""Epic Online Services emulator: key sets, client-credentials tokens, ID tokens and (in
`epic_ecom`) the ecom entitlement endpoints.

`EpicEmulator` (on `app.state.epic`) holds the signing key and issued app tokens;
`app_token_holder` is the bearer check that server-to-server routes (the ecom entitlement
endpoints, in a sibling module) depend on.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from playerplatform.kit.apidocs import install_api_docs
from playerplatform.platforms.emulators import public_base_url, read_form

CONNECT_ISSUER_PATH = "/auth/v1/oauth"
EAS_ISSUER_PATH = "/epic/oauth/v2"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid=secrets.token_hex(16), private=private)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self.private.public_key(), as_dict=True
        )
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class EpicEmulator:
    client_id: str
    client_secret: str
    deployment_id: str
    sandbox_id: str
    product_id: str
    organization_id: str
    app_token_ttl: int
    key: SigningKey = field(default_factory=SigningKey.generate)
    # access token -> expiry (epoch seconds)
    app_tokens: dict[str, float] = field(default_factory=dict)

    def check_client(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, secret = decoded.partition(":")
        return secrets.compare_digest(client_id, self.client_id) and secrets.compare_digest(
            secret, self.client_secret
        )


def epic_state(request: Request) -> EpicEmulator:
    state: EpicEmulator = request.app.state.epic
    return state


class AppTokenRefused(Exception):
    pass


def app_token_holder(request: Request) -> EpicEmulator:
    """Dependency: the request carries a live client-credentials token from this emulator."""
    state = epic_state(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expires_at = state.app_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if expires_at is None or expires_at <= time.time():
        raise AppTokenRefused
    return state


def epic_error(status: int, code: str, message: str, oauth_error: str | None = None) -> Response:
    body: dict[str, Any] = {
        "errorCode": code,
        "errorMessage": message,
        "numericErrorCode": 0,
    }
    if oauth_error:
        body["error"] = oauth_error
    return JSONResponse(body, status_code=status)


router = APIRouter()


@router.get("/auth/v1/oauth/jwks")
@router.get("/epic/oauth/v2/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    return {"keys": [epic_state(request).key.jwk()]}


@router.post("/auth/v1/oauth/token")
async def token(request: Request) -> Response:
    state = epic_state(request)
    if not state.check_client(request.headers.get("authorization")):
        return epic_error(
            401,
            "errors.com.epicgames.oauth.invalid_client",
            "Sorry the client credentials you are using are invalid",
            "invalid_client",
        )
    form = await read_form(request)
    if form.get("grant_type") != "client_credentials":
        return epic_error(
            400,
            "errors.com.epicgames.oauth.unsupported_grant_type",
            "Unsupported grant type",
            "unsupported_grant_type",
        )
    deployment_id = form.get("deployment_id")
    if deployment_id is not None and deployment_id != state.deployment_id:
        return epic_error(
            400,
            "errors.com.epicgames.oauth.invalid_request",
            "Sorry the deployment id you are using is invalid",
            "invalid_request",
        )
    access_token = secrets.token_urlsafe(32)
    expires_at = time.time() + state.app_token_ttl
    state.app_tokens[access_token] = expires_at
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_at": datetime.fromtimestamp(expires_at, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "expires_in": state.app_token_ttl,
            "features": ["AntiCheat", "Connect", "Ecom"],
            "organization_id": state.organization_id,
            "product_id": state.product_id,
            "sandbox_id": state.sandbox_id,
            "deployment_id": state.deployment_id,
        }
    )


class MintIdToken(BaseModel):
    sub: str
    kind: Literal["connect", "eas"]
    aud: str | None = None
    pfdid: str | None = None
    expires_in: int = 3600
    issued_offset: int = 0  # seconds added to `iat` (positive: issued in the future)
    eaid: str | None = None
    eat: str = "epicgames"
    display_name: str | None = None
    platform: str | None = None
    omit_kid: bool = False


emulator_router = APIRouter(prefix="/emulator")


@emulator_router.post("/id-tokens")
async def mint_id_token(body: MintIdToken, request: Request) -> dict[str, str]:
    """What `EOS_Connect_CopyIdToken` / `EOS_Auth_CopyIdToken` hand the game client."""
    state = epic_state(request)
    issued_at = int(time.time()) + body.issued_offset
    claims: dict[str, Any] = {
        "sub": body.sub,
        "aud": body.aud if body.aud is not None else state.client_id,
        "iat": issued_at,
        "exp": issued_at + body.expires_in,
        "pfdid": body.pfdid if body.pfdid is not None else state.deployment_id,
        "pfpid": state.product_id,
        "pfsid": state.sandbox_id,
    }
    base = public_base_url(request)
    if body.kind == "connect":
        act: dict[str, Any] = {"pltfm": body.platform or "other", "dty": "PC"}
        if body.eaid:
            act.update(eat=body.eat, eaid=body.eaid)
        claims.update(iss=base + CONNECT_ISSUER_PATH, act=act)
    else:
        claims.update(
            iss=base + EAS_ISSUER_PATH,
            appid=f"app-{state.client_id}",
            eat=body.eat,
            pltfm=body.platform or "other",
        )
        if body.display_name:
            claims.update(dn=body.display_name, eadn=body.display_name)
    headers = {} if body.omit_kid else {"kid": state.key.kid}
    id_token = jwt.encode(claims, state.key.private, algorithm="RS256", headers=headers)
    return {"id_token": id_token}


@emulator_router.post("/rotate-keys")
async def rotate_keys(request: Request) -> dict[str, str]:
    """Sign with a new key from now on; the key sets publish only the new one."""
    state = epic_state(request)
    state.key = SigningKey.generate()
    return {"kid": state.key.kid}


async def _app_token_refused(request: Request, exc: Exception) -> Response:
    return epic_error(
        401,
        "errors.com.epicgames.common.authentication.token_verification_failed",
        "Sorry your login does not possess the required authorization",
    )


DESCRIPTION = (
    "A local stand-in for Epic Online Services: key sets (JWKS), client-credential app "
    "tokens and ecom entitlements, answering as EOS does. Routes under `/emulator/` exist only "
    "here and play the game client's and the store's side: `POST /emulator/id-tokens` mints "
    "an ID token (`kind` `connect` or `eas`, what `EOS_Connect_CopyIdToken` / "
    "`EOS_Auth_CopyIdToken` give the game), `/emulator/ecom/...` gives an account an "
    "entitlement or claws one back, and `/emulator/rotate-keys` changes the signing key."
)


def create_epic_emulator(
    client_id: str,
    client_secret: str,
    deployment_id: str,
    sandbox_id: str,
    *,
    app_token_ttl: int = 3599,
) -> FastAPI:
    """An EOS product with one client, deployment and sandbox; a fresh RSA key per start."""
    app = FastAPI(
        title="Epic emulator",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    app.state.epic = EpicEmulator(
        client_id=client_id,
        client_secret=client_secret,
        deployment_id=deployment_id,
        sandbox_id=sandbox_id,
        product_id=f"product-{sandbox_id}",
        organization_id=f"organization-{sandbox_id}",
        app_token_ttl=app_token_ttl,
    )
    from playerplatform.platforms.emulators import epic_ecom

    app.state.ecom = epic_ecom.EcomState()
    app.add_exception_handler(AppTokenRefused, _app_token_refused)
    app.include_router(router)
    app.include_router(emulator_router)
    app.include_router(epic_ecom.router)
    app.include_router(epic_ecom.emulator_router)
    return app
