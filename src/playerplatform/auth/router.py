"""Auth routes: thin — validate, call one service function, return a schema."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import ValidationError

from playerplatform.auth import email as email_auth
from playerplatform.auth import links, providers, second_factor, service
from playerplatform.auth.deps import Principal, rate_limit, require_role, require_user
from playerplatform.auth.schemas import (
    ClientCredentials,
    DeviceLogin,
    EmailLogin,
    EmailRegister,
    EmailVerify,
    EpicLogin,
    LogoutRequest,
    MergeRequest,
    MergeResponse,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceTokenResponse,
    SessionList,
    SteamLogin,
    TokenResponse,
    TotpConfirm,
)
from playerplatform.auth.second_factor import SecondFactorStatus, TotpEnrolment
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.edge_route import parse_json_body
from playerplatform.kit.errors import BadRequest, validation_failed
from playerplatform.kit.http import (
    TransactionalRoute,
    client_info,
    get_uow,
    single_statement_writes,
)
from playerplatform.runtime import Runtime
from playerplatform.users.schemas import UserOut

router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("auth"))],
)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/email/register", status_code=201, response_model=TokenResponse)
async def email_register(
    body: EmailRegister, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> TokenResponse:
    return await email_auth.register(
        uow,
        get_runtime(request),
        client_info(request),
        email=body.email,
        password=body.password,
        display_name=body.display_name,
    )


@router.post("/email/login", response_model=TokenResponse)
async def email_login(
    body: EmailLogin, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> TokenResponse:
    return await email_auth.login(
        uow,
        get_runtime(request),
        client_info(request),
        email=body.email,
        password=body.password,
        totp_code=body.totp_code,
    )


@router.post("/email/verify", response_model=UserOut)
async def email_verify(
    body: EmailVerify, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> UserOut:
    return await email_auth.verify(uow, get_runtime(request), client_info(request), body.token)


@router.post("/email/password-reset", status_code=202)
async def password_reset(
    body: PasswordResetRequest, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> dict[str, str]:
    await email_auth.request_password_reset(
        uow, get_runtime(request), client_info(request), body.email
    )
    return {"status": "accepted"}


@router.post("/email/password-reset/confirm", status_code=204)
async def password_reset_confirm(
    body: PasswordResetConfirm, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> Response:
    await email_auth.confirm_password_reset(
        uow, get_runtime(request), client_info(request), token=body.token, password=body.password
    )
    return Response(status_code=204)


@router.post("/device/login", response_model=TokenResponse)
@single_statement_writes
async def device_login(
    body: DeviceLogin, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> TokenResponse:
    return await service.device_sign_in(
        uow, get_runtime(request), client_info(request), providers.device_identity(body)
    )


@router.post("/steam/login", response_model=TokenResponse)
@single_statement_writes
async def steam_login(
    body: SteamLogin, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> TokenResponse:
    rt = get_runtime(request)
    verified = await providers.steam_identity(rt, body)
    tokens, _ = await service.sign_in(uow, rt, client_info(request), verified)
    return tokens


@router.post("/epic/login", response_model=TokenResponse)
@single_statement_writes
async def epic_login(
    body: EpicLogin, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> TokenResponse:
    rt = get_runtime(request)
    verified = await providers.epic_identity(rt, body)
    tokens, _ = await service.sign_in(uow, rt, client_info(request), verified)
    return tokens


@router.post(
    "/token",
    response_model=ServiceTokenResponse,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": ClientCredentials.model_json_schema()
                },
                "application/json": {"schema": ClientCredentials.model_json_schema()},
            },
            "required": True,
        }
    },
)
async def token(request: Request, uow: UnitOfWork = Depends(get_uow)) -> ServiceTokenResponse:
    """OAuth 2 client credentials for service accounts (form-encoded or JSON)."""
    body = await _client_credentials(request)
    rt = get_runtime(request)
    return await service.service_token(
        uow,
        rt,
        client_info(request),
        client_id=body.client_id,
        client_secret=body.client_secret,
        scope=body.scope,
    )


async def _client_credentials(request: Request) -> ClientCredentials:
    content_type = request.headers.get("content-type", "")
    raw: Any
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            raw = dict(
                parse_qsl((await request.body()).decode("utf-8", "replace"), max_num_fields=16)
            )
        except ValueError:
            raise BadRequest("Too many form fields.") from None
    else:
        raw = parse_json_body(await request.body())  # the edge's parser
    try:
        return ClientCredentials.model_validate(raw)
    except ValidationError as exc:
        raise validation_failed(exc.errors()) from None


@router.post("/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshRequest, request: Request, uow: UnitOfWork = Depends(get_uow)
) -> TokenResponse:
    return await service.refresh(
        uow, get_runtime(request), client_info(request), body.refresh_token
    )


@router.post("/logout", status_code=204)
async def logout(
    request: Request,
    body: LogoutRequest | None = None,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await service.logout(
        uow,
        get_runtime(request),
        client_info(request),
        principal,
        everywhere=bool(body and body.all),
    )
    return Response(status_code=204)


@router.get("/sessions", response_model=SessionList)
async def sessions(
    principal: Principal = Depends(require_user), uow: UnitOfWork = Depends(get_uow)
) -> SessionList:
    return await service.list_sessions(uow, principal)


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(
    request: Request,
    session_id: str = Path(min_length=1, max_length=64),
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await service.end_session(
        uow, get_runtime(request), client_info(request), principal, session_id
    )
    return Response(status_code=204)


_LINK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {**model.model_json_schema(), "title": f"{name} link body"}
                        for name, model in providers.LOGIN_BODIES.items()
                    ]
                }
            }
        },
    }
}


@router.post("/links/{provider}", response_model=UserOut, openapi_extra=_LINK_BODY)
async def link(
    request: Request,
    provider: str = Path(min_length=1, max_length=16),
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> UserOut:
    """Link another identity. The body is that provider's login body (`twitch`: `code,
    redirect_uri`). 409 `identity_in_use` with a `merge_token` when another account owns it."""
    # The edge's parser, whichever path serves the request (its own `json()` is the
    # framework's on the compiled one).
    body = providers.parse_login_body(provider, parse_json_body(await request.body()))
    rt = get_runtime(request)
    client = client_info(request)
    if isinstance(body, EmailLogin):
        verified = await email_auth.verified_for_link(
            uow, rt, client, email=body.email, password=body.password, totp_code=body.totp_code
        )
    elif isinstance(body, DeviceLogin):
        verified = providers.device_identity(body)
    elif isinstance(body, SteamLogin):
        verified = await providers.steam_identity(rt, body)
    elif isinstance(body, EpicLogin):
        verified = await providers.epic_identity(rt, body)
    else:
        verified = await providers.twitch_identity(rt, body)  # type: ignore[arg-type]
    return await links.link(uow, rt, client, principal, verified)


@router.delete("/links/{provider}/{provider_id}", response_model=UserOut)
async def unlink(
    request: Request,
    provider: str = Path(min_length=1, max_length=16),
    provider_id: str = Path(min_length=1, max_length=255),
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> UserOut:
    hot = request.app.state.runtime.hot
    return await links.unlink(uow, hot, client_info(request), principal, provider, provider_id)


@router.post("/merge", response_model=MergeResponse)
async def merge(
    body: MergeRequest,
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> MergeResponse:
    return await links.merge(
        uow, get_runtime(request), client_info(request), principal, body.merge_token
    )


@router.get("/second-factor", response_model=SecondFactorStatus)
async def second_factor_status(
    principal: Principal = Depends(require_user), uow: UnitOfWork = Depends(get_uow)
) -> SecondFactorStatus:
    """Whether the caller has a TOTP second factor: `none`, `pending` or `enabled`."""
    return await second_factor.status(uow, principal)


@router.post("/second-factor/totp", status_code=201, response_model=TotpEnrolment)
async def start_totp(
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> TotpEnrolment:
    """Begin enrolling a TOTP factor: the secret (and its `otpauth://` URI, for a QR code)
    to put into an authenticator app; a first code confirms it."""
    return await second_factor.start_totp(
        uow, get_runtime(request), client_info(request), principal, account=principal.subject
    )


@router.post("/second-factor/totp/confirm", response_model=SecondFactorStatus)
async def confirm_totp(
    body: TotpConfirm,
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> SecondFactorStatus:
    return await second_factor.confirm_totp(
        uow, get_runtime(request), client_info(request), principal, body.code
    )


@router.post("/second-factor/totp/disable", response_model=SecondFactorStatus)
async def disable_totp(
    body: TotpConfirm,
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> SecondFactorStatus:
    return await second_factor.disable_totp(
        uow, get_runtime(request), client_info(request), principal, body.code
    )


admin_router = APIRouter(prefix="/admin", tags=["admin"], route_class=TransactionalRoute)


@admin_router.post(
    "/service-accounts", status_code=status.HTTP_201_CREATED, response_model=ServiceAccountCreated
)
async def create_service_account(
    body: ServiceAccountCreate,
    request: Request,
    principal: Principal = Depends(require_role("admin")),
    uow: UnitOfWork = Depends(get_uow),
) -> ServiceAccountCreated:
    """Create a service account; the secret is shown once."""
    account, secret = await service.create_service_account(
        uow, client_info(request), principal, name=body.name, scopes=body.scopes
    )
    return ServiceAccountCreated(
        client_id=account.client_id, client_secret=secret, name=account.name, scopes=account.scopes
    )
