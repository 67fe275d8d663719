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
from playerplatform.kit.edge_route import EdgeRoute
from playerplatform.kit.errors import AppError
from playerplatform.kit.replicas import ReadYourWrites

T = TypeVar("T")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TransactionalRoute(EdgeRoute):
    """A route whose endpoint runs in one unit of work (see the module docstring), served by
    FastAPI (`get_route_handler`) or by the fast dispatch (`run_endpoint`) alike."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.writes = not (self.methods or set()) <= READ_METHODS
        self.single_statement = getattr(self.endpoint, "single_statement_writes", False)
        self.replica_reads = getattr(self.endpoint, "replica_reads", False)
        if self.replica_reads and self.writes:
            raise TypeError(f"{path}: only a read-only route may read from a replica")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_unit_of_work(request: Request) -> Response:
            return await self.run_endpoint(request, lambda: handler(request), _status_code)

        return run_in_unit_of_work

    async def run_endpoint(
        self, request: Request, work: Callable[[], Awaitable[T]], status_of: Callable[[T], int]
    ) -> T:
        """Run `work` (the endpoint, its dependencies and its answer) in a new unit of work,
        committed before the answer is sent when its status is below 400. A `replica_reads`
        route's unit reads from a replica when one fits the caller (`kit.replicas`)."""
        runtime = request.app.state.runtime
        reads: ReadYourWrites = runtime.reads
        keep: Callable[[T], bool] = lambda answer: status_of(answer) < 400  # noqa: E731

        async def endpoint(_: UnitOfWork) -> T:
            return await work()

        async def run(uow: UnitOfWork) -> T:
            request.state.uow = uow
            return await transact(uow, endpoint, keep=keep)

        if self.replica_reads and reads.active:
            replica = await reads.replica_for(request.headers.get("authorization"))
            return await runtime.db.read_from(replica, run)
        uow = runtime.db.unit_of_work(write=self.writes, single_statement=self.single_statement)
        answer = await run(uow)
        if self.writes and reads.active and keep(answer):
            writer = _writer(request, uow)
            if writer is not None:
                await reads.remember_write(writer)
        return answer


_WRITER = "http.writer"


def written_for(uow: UnitOfWork, subject: str) -> None:
    """Name the player whose own reads must see what `uow` writes, where the request has no
    caller yet (a sign-in): their replica reads wait for it (`kit.replicas`)."""
    uow.info[_WRITER] = subject


def _writer(request: Request, uow: UnitOfWork) -> str | None:
    """The player a committed write was made for: named by the endpoint, or the caller when
    the unit reached the database."""
    named: str | None = uow.info.get(_WRITER)
    if named is not None:
        return named
    principal = request.scope.get("state", {}).get("principal")
    if uow.touched and principal is not None and principal.kind == "user":
        return str(principal.subject)
    return None


def _status_code(response: Response) -> int:
    return response.status_code


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
    """Mark an endpoint whose writes are each one atomic statement (sign-ins, a spend): on
    PostgreSQL its unit of work runs in autocommit, saving the BEGIN and COMMIT round trips,
    unless something requires a transaction first (`UnitOfWork.require_transaction`: an
    Idempotency-Key's record). Only for endpoints where a crash between two statements leaves
    nothing inconsistent."""
    endpoint.single_statement_writes = True  # type: ignore[attr-defined]
    return endpoint


def replica_reads(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a read-only endpoint whose answer may lag the primary by up to
    `PP_REPLICA_MAX_LAG_SECONDS` (public profiles, catalog, browse, searches): its unit of
    work reads from a PostgreSQL read replica when one is configured, up and fit, and from
    the primary otherwise. The caller's own writes are always seen (`kit.replicas`)."""
    endpoint.replica_reads = True  # type: ignore[attr-defined]
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


def json_answer(body: bytes, status_code: int = 200) -> Response:
    """An answer whose JSON is already encoded (a cached view)."""
    return Response(body, status_code=status_code, media_type="application/json")
