"""Players' routes of messaging: the inbox, notification preferences and push tokens.

A player only ever reaches their own messages: another player's message id is 404 like an
unknown one, and nothing changes.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from playerplatform.auth.deps import Principal, rate_limit, require_user
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import (
    TransactionalRoute,
    get_uow,
    json_answer,
    single_statement_writes,
)
from playerplatform.kit.idempotency import idempotency_key, idempotent
from playerplatform.kit.pagination import PageParams, page_params
from playerplatform.messaging import inbox, preferences
from playerplatform.messaging.schemas import (
    ClaimOut,
    InboxPage,
    MessageOut,
    PreferencesIn,
    PushTokenIn,
    PushTokenOut,
)
from playerplatform.runtime import Runtime

MESSAGE_ID = r"^m[0-9a-f]{24}$"
MessageId = Path(pattern=MESSAGE_ID, description="A message id from the inbox.")
TOKEN_ID = r"^t[0-9a-f]{24}$"

router = APIRouter(
    tags=["inbox"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def reader(request: Request, principal: Principal = Depends(require_user)) -> inbox.Reader:
    """The signed-in player as their inbox sees them (dependency)."""
    assert principal.user_id is not None
    return await inbox.reader(runtime_of(request), principal.subject, principal.user_id)


@router.get("/inbox", response_model=InboxPage)
async def list_inbox(
    request: Request,
    unread: bool = Query(False, description="Only messages not read yet."),
    kind: Literal["system", "gift", "reward", "moderation", "commerce", "social", "drop"]
    | None = Query(None, description="Only messages of this kind."),
    page: PageParams = Depends(page_params),
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    body = await inbox.list_inbox(
        uow, runtime_of(request), who, unread=unread, kind=kind, page=page
    )
    return json_answer(body)


@router.post("/inbox/read-all", status_code=204)
@single_statement_writes  # one UPDATE
async def read_all(
    who: inbox.Reader = Depends(reader), uow: UnitOfWork = Depends(get_uow)
) -> Response:
    await inbox.mark_all_read(uow, who.user_id)
    return Response(status_code=204)


@router.get("/inbox/{message_id}", response_model=MessageOut)
async def get_message(
    message_id: str = MessageId,
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> MessageOut:
    return await inbox.get_message(uow, who, message_id)


@router.post("/inbox/{message_id}/read", status_code=204)
@single_statement_writes  # one UPDATE (and a SELECT when it changed nothing)
async def read_message(
    message_id: str = MessageId,
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await inbox.mark_read(uow, who.user_id, message_id)
    return Response(status_code=204)


@router.post("/inbox/{message_id}/claim", response_model=None, responses={200: {"model": ClaimOut}})
@single_statement_writes  # one statement on PostgreSQL (see `inbox.claim`)
async def claim_message(
    request: Request,
    message_id: str = MessageId,
    who: inbox.Reader = Depends(reader),
    key: str | None = Depends(idempotency_key),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    rt = runtime_of(request)

    async def run() -> tuple[int, object]:
        out = await inbox.claim(uow, rt, who, message_id)
        return 200, out.model_dump(mode="json")

    return await idempotent(
        request,
        uow,
        scope=f"inbox:{who.user_id.hex}",
        key=key,
        body={"message_id": message_id},
        run=run,
        ttl=rt.settings.commerce_idempotency_ttl_seconds,
        wait=rt.settings.commerce_idempotency_wait_seconds,
    )


@router.delete("/inbox/{message_id}", status_code=204)
async def delete_message(
    message_id: str = MessageId,
    force: bool = Query(False, description="Delete even with attachments not claimed."),
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await inbox.delete(uow, who.user_id, message_id, force=force)
    return Response(status_code=204)


@router.get("/users/me/notification-preferences", response_model=dict[str, dict[str, bool]])
async def get_preferences(
    request: Request,
    principal: Principal = Depends(require_user),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    assert principal.user_id is not None
    rt = runtime_of(request)
    body = await preferences.channels_json(uow, rt.views, rt.settings, principal.user_id)
    return json_answer(body)


@router.put("/users/me/notification-preferences", response_model=dict[str, dict[str, bool]])
async def put_preferences(
    body: PreferencesIn,
    request: Request,
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> dict[str, dict[str, bool]]:
    return await preferences.save_channels(uow, runtime_of(request).settings, who.user_id, body)


@router.post("/users/me/push-tokens", status_code=201, response_model=PushTokenOut)
async def add_push_token(
    body: PushTokenIn,
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> PushTokenOut:
    return await preferences.register_token(uow, who.user_id, body)


@router.delete("/users/me/push-tokens/{token_id}", status_code=204)
async def delete_push_token(
    token_id: str = Path(pattern=TOKEN_ID, description="A token id from registration."),
    who: inbox.Reader = Depends(reader),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await preferences.forget_token(uow, who.user_id, token_id)
    return Response(status_code=204)
