"""The HTTP edge: the route class that owns the transaction, and small request helpers.

Every router in the platform uses `TransactionalRoute`: it opens one unit of work per request,
runs the endpoint, and commits *before* the response is sent, so a client never sees a 2xx
for a write that then failed to commit. An `AppError` raised with `commit=True` (a failed
login that must still be audited, a refresh-token reuse that revokes a session) commits too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from starlette.responses import Response

from playerplatform.kit.db import Database, UnitOfWork
from playerplatform.kit.errors import AppError
from playerplatform.kit.hotpath import HotPathRoute

T = TypeVar("T")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TransactionalRoute(HotPathRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        write = not (self.methods or set()) <= READ_METHODS
        single_statement = getattr(self.endpoint, "single_statement_writes", False)

        async def run_in_unit_of_work(request: Request) -> Response:
            uow = request.app.state.runtime.db.unit_of_work(
                write=write, single_statement=single_statement
            )
            request.state.uow = uow

            async def endpoint(_: UnitOfWork) -> Response:
                return await handler(request)

            return await transact(uow, endpoint, keep=lambda response: response.status_code < 400)

        return run_in_unit_of_work


async def in_unit_of_work(
    db: Database, work: Callable[[UnitOfWork], Awaitable[T]], *, single_statement: bool = False
) -> T:
    """Run `work` in a write unit of work as `TransactionalRoute` runs an endpoint (for hot
    paths, which run below it)."""
    return await transact(db.unit_of_work(write=True, single_statement=single_statement), work)


async def transact(
    uow: UnitOfWork,
    work: Callable[[UnitOfWork], Awaitable[T]],
    *,
    keep: Callable[[T], bool] = lambda _: True,
) -> T:
    """Run `work` in `uow`, then close it: committed when `work` returns a result to `keep`
    or raises an `AppError` with `commit=True`, rolled back otherwise."""
    try:
        try:
            result = await work(uow)
        except AppError as exc:
            if exc.commit:
                await uow.commit()
            else:
                await uow.rollback()
            raise
        except BaseException:
            await uow.rollback()
            raise
        if keep(result):
            await uow.commit()
        else:
            await uow.rollback()
        return result
    finally:
        await uow.close()


def single_statement_writes(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint whose writes are each one atomic statement (the sign-in hot path):
    on PostgreSQL its unit of work runs in autocommit, saving the BEGIN and COMMIT round trips.
    Only for endpoints where a crash between two statements leaves nothing inconsistent."""
    endpoint.single_statement_writes = True  # type: ignore[attr-defined]
    return endpoint


async def get_uow(request: Request) -> UnitOfWork:
    """The request's unit of work (dependency)."""
    uow: UnitOfWork = request.state.uow
    return uow


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is on the other end of the request, as the gateway established it."""

    ip: str
    user_agent: str | None
    request_id: str | None


def client_info(request: Request) -> ClientInfo:
    state = request.scope.get("state") or {}
    ip = state.get("client_ip") or (request.client.host if request.client else "unknown")
    user_agent = request.headers.get("user-agent")
    return ClientInfo(
        ip=ip,
        user_agent=user_agent[:256] if user_agent else None,
        request_id=state.get("request_id"),
    )
