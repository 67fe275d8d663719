"""FCM HTTP v1 emulator: the OAuth2 token endpoint a service account signs in at (JWT bearer
grant, RS256, checked against the account's public key) and `POST /v1/projects/{project}/
messages:send`.

`FcmEmulator` (on `app.state.fcm`) made the service account (`service_account()`: the JSON a
studio downloads, its `token_uri` pointing here), holds the tokens it issued, the messages
delivered, the device tokens that are gone (404 `UNREGISTERED`) and failures scripted per
device token (429/503 with `Retry-After`, answered before the message is taken).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from playerplatform.platforms.emulators import read_form

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def _error(status: int, code: str, message: str, fcm_code: str | None = None) -> JSONResponse:
    details = []
    if fcm_code:
        details.append(
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
        )
    body = {"error": {"code": status, "message": message, "status": code, "details": details}}
    return JSONResponse(body, status_code=status)


@dataclass
class FcmEmulator:
    project_id: str
    base_url: str = ""
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    key_id: str = field(default_factory=lambda: secrets.token_hex(20))
    client_email: str = "push@emulated.iam.gserviceaccount.com"
    access_tokens: dict[str, float] = field(default_factory=dict)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)
    failures: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    def service_account(self) -> dict[str, str]:
        """The service-account JSON file, as Google issues it."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "token_uri": f"{self.base_url}/token",
        }

    def fail(self, token: str, *answers: tuple[int, float | None]) -> None:
        """Answer the next sends to `token` with these (status, Retry-After) first."""
        self.failures.setdefault(token, []).extend(answers)


def create_fcm_emulator(*, project_id: str, base_url: str = "") -> FastAPI:
    app = FastAPI(title="FCM emulator")
    state = FcmEmulator(project_id=project_id, base_url=base_url)
    app.state.fcm = state

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await read_form(request)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                state.key.public_key(),
                algorithms=["RS256"],
                audience=f"{state.base_url}/token",
                issuer=state.client_email,
            )
        except jwt.PyJWTError as exc:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": str(exc)}, status_code=400
            )
        if SCOPE not in str(claims.get("scope", "")).split():
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        issued = "ya29." + secrets.token_urlsafe(32)
        state.access_tokens[issued] = time.time() + 3600
        return JSONResponse({"access_token": issued, "expires_in": 3599, "token_type": "Bearer"})

    @app.post("/v1/projects/{project}/messages:send")
    async def send(project: str, request: Request) -> JSONResponse:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if state.access_tokens.get(bearer, 0) < time.time():
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if project != state.project_id:
            return _error(403, "PERMISSION_DENIED", "Wrong project.", "SENDER_ID_MISMATCH")
        body = await request.json()
        message = body.get("message") if isinstance(body, dict) else None
        device = message.get("token") if isinstance(message, dict) else None
        if not isinstance(device, str) or not device:
            return _error(
                400, "INVALID_ARGUMENT", "The registration token is not valid.", "INVALID_ARGUMENT"
            )
        state.attempts[device] = state.attempts.get(device, 0) + 1
        scripted = state.failures.get(device)
        if scripted:
            status, retry_after = scripted.pop(0)
            response = _error(
                status,
                "UNAVAILABLE" if status >= 500 else "RESOURCE_EXHAUSTED",
                "Try again later.",
                "UNAVAILABLE" if status >= 500 else "QUOTA_EXCEEDED",
            )
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)
            return response
        if device in state.dead:
            return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        assert isinstance(message, dict)
        state.delivered.append(message)
        name = f"projects/{project}/messages/{secrets.randbelow(10**16)}"
        return JSONResponse({"name": name})

    return app
