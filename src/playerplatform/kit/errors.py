"""One exception family for the whole platform, rendered as RFC 9457 problem+json.

A domain raises `AppError` (or a subclass) naming a stable `code` and an HTTP status; the
handlers installed by `install_error_handlers` turn it, and every framework error, into
`application/problem+json`. Nothing else renders errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import structlog
from asyncpg.exceptions import PostgresConnectionError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from playerplatform.kit.hotstore import UNAVAILABLE

PROBLEM_CONTENT_TYPE = "application/problem+json"
log = structlog.get_logger("playerplatform.errors")


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        commit: bool = False,
    ) -> None:
        self.commit = commit
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail or self.title
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class BadRequest(AppError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class InvalidCredentials(Unauthorized):
    code, title = "invalid_credentials", "Invalid credentials"


class InvalidToken(Unauthorized):
    code, title = "invalid_token", "Invalid token"


class TokenExpired(Unauthorized):
    code, title = "token_expired", "Token expired"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class AccountBanned(AppError):
    status, code, title = 403, "account_banned", "Account banned"


class AccountRestricted(AppError):
    """The caller is under a sanction that covers what they tried (a scoped restriction or a
    mute); `extra` names the scope and when it ends."""

    status, code, title = 403, "restricted", "Restricted by a sanction"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PreconditionRequired(AppError):
    """RFC 6585: the route only takes a conditional request (`If-Match`)."""

    status, code, title = 428, "precondition_required", "Precondition required"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class ValidationFailed(AppError):
    status, code, title = 422, "validation_error", "Validation error"

    def __init__(self, detail: str, *, field: str | None = None, **kwargs: Any) -> None:
        if field is not None:
            extra = dict(kwargs.pop("extra", None) or {})
            extra.setdefault("errors", [{"field": field, "message": detail}])
            kwargs["extra"] = extra
        super().__init__(detail, **kwargs)


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ProviderError(AppError):
    status, code, title = 502, "provider_error", "Upstream provider error"


class Unavailable(AppError):
    """A store the request needs is not answering (503, with `Retry-After`)."""

    status, code, title = 503, "unavailable", "Temporarily unavailable"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    408: ("request_timeout", "Request timeout"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://player-platform.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]  # only the location: a field may be called `body` too
        out.append(
            {
                "field": ".".join(loc) or "body",
                "message": str(err.get("msg", "invalid")),
                "type": str(err.get("type", "value_error")),
            }
        )
    return out


def validation_failed(errors: Sequence[Any]) -> ValidationFailed:
    """A 422 `validation_error` listing `errors` (pydantic's `ValidationError.errors()`), for
    bodies a route parses itself."""
    return ValidationFailed(
        "The request has invalid fields.", extra={"errors": _validation_errors(errors)}
    )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        extra=exc.extra,
        headers=exc.headers,
        instance=request.url.path,
    )


# Conditional-request headers: a route that declares one required answers a request whose
# only fault is its absence with 428 `precondition_required` (RFC 6585), not 422.
PRECONDITION_HEADERS = frozenset({"if-match"})


def _missing_precondition(errors: Sequence[Any]) -> str | None:
    missing = set()
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if not (err.get("type") == "missing" and len(loc) == 2 and loc[0] == "header"):
            return None
        if str(loc[1]).lower() not in PRECONDITION_HEADERS:
            return None
        missing.add(str(loc[1]))
    return min(missing) if missing else None


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    header = _missing_precondition(exc.errors())
    if header is not None:
        return await _app_error(
            request, PreconditionRequired(f"Send {header.title()} with the version you last read.")
        )
    errors = _validation_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400,
            "malformed_json",
            "Malformed JSON",
            "The request body is not valid JSON.",
            extra={"errors": errors},
            instance=request.url.path,
        )
    return problem_response(
        422,
        "validation_error",
        "Validation error",
        "The request has invalid fields.",
        extra={"errors": errors},
        instance=request.url.path,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem_response(
        exc.status_code, code, title, detail, headers=exc.headers, instance=request.url.path
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return problem_response(
        500,
        "internal_error",
        "Internal error",
        "Something went wrong on our side.",
        instance=request.url.path,
    )


async def _store_down(request: Request, exc: Exception) -> Response:
    """A store is down or silent: what needs it answers 503 quickly, and says when to try
    again (the hot store's breaker cool-down; a second otherwise)."""
    retry_after = getattr(exc, "retry_after", None) or 1.0
    log.warning("store_unavailable", path=request.url.path, error_type=type(exc).__name__)
    return await _app_error(
        request,
        Unavailable(
            "A store this request needs is not answering; retry shortly.",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        ),
    )


# A store that is down, silent or refusing connections: the hot store's errors, the database
# driver's (wrapped by SQLAlchemy or raw from the socket), a pool that waited too long, and a
# connection attempt to a silent server (asyncpg raises the builtin TimeoutError, unwrapped).
STORE_DOWN: tuple[type[Exception], ...] = (
    *UNAVAILABLE,
    ConnectionError,
    TimeoutError,
    PostgresConnectionError,  # raised raw when a pooled connection dies mid-operation
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)


async def _database_error(request: Request, exc: Exception) -> Response:
    """A driver error SQLAlchemy could not classify further: a connection that died under the
    statement (SQLAlchemy marks it invalidated) is the database being down; anything else is
    a fault of ours."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return await _store_down(request, exc)
    return await _unexpected_error(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    for unavailable in STORE_DOWN:
        app.add_exception_handler(unavailable, _store_down)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
