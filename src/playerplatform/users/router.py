"""Players' own account, progression and friends, and other players' public profiles.

Private data is only ever reached through `/users/me...`: no route takes another player's id
for anything but the public profile and friend requests.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Request, Response

from playerplatform.auth.deps import (
    Principal,
    optional_principal,
    rate_limit,
    require_unrestricted,
    require_user,
)
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.http import (
    TransactionalRoute,
    get_uow,
    json_answer,
    replica_reads,
    single_statement_writes,
)
from playerplatform.kit.textfilter import TextFilter, text_filter
from playerplatform.kit.views import Views
from playerplatform.users import service
from playerplatform.users.schemas import CanonicalIdPath as CanonicalId
from playerplatform.users.schemas import (
    FriendshipOut,
    FriendsOut,
    ProfilePatch,
    ProgressionIn,
    ProgressionOut,
    PublicUserOut,
    UserOut,
)

router = APIRouter(
    prefix="/users",
    tags=["users"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit())],
)


async def my_user_id(principal: Principal = Depends(require_user)) -> uuid.UUID:
    """The signed-in player's internal id (dependency)."""
    assert principal.user_id is not None  # require_user only lets user principals through
    return principal.user_id


def _views(request: Request) -> Views:
    views: Views = request.app.state.runtime.views
    return views


def _etag(version: int) -> str:
    return f'"{version}"'


@router.get("/me", response_model=UserOut)
async def get_me(request: Request, principal: Principal = Depends(require_user)) -> Response:
    runtime = request.app.state.runtime
    assert principal.user_id is not None
    view = await service.cached_user_view(
        runtime.hot, runtime.db, principal.subject, principal.user_id
    )
    return json_answer(view)


@router.patch("/me", response_model=UserOut)
@single_statement_writes
async def patch_me(
    request: Request,
    patch: ProfilePatch,
    principal: Principal = Depends(require_user),
    checker: TextFilter = Depends(text_filter),
    uow: UnitOfWork = Depends(get_uow),
) -> UserOut:
    return await service.update_profile(
        uow, request.app.state.runtime.hot, principal, patch, checker
    )


@router.get("/me/progression", response_model=ProgressionOut)
async def get_progression(
    request: Request,
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    version, body = await service.progression_json(uow, _views(request), user_id)
    answer = json_answer(body)
    answer.headers["ETag"] = _etag(version)
    return answer


@router.put(
    "/me/progression",
    response_model=ProgressionOut,
    responses={412: {"description": "stale If-Match"}, 428: {"description": "no If-Match"}},
)
async def put_progression(
    body: ProgressionIn,
    request: Request,
    response: Response,
    if_match: str = Header(description="The version last read (its ETag); 428 without it."),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> ProgressionOut:
    progression = await service.save_progression(
        uow,
        user_id,
        if_match=if_match,
        data=body.data,
        max_bytes=request.app.state.runtime.settings.progression_max_bytes,
    )
    response.headers["ETag"] = _etag(progression.version)
    return progression


@router.get("/me/friends", response_model=FriendsOut)
async def get_friends(
    request: Request, user_id: uuid.UUID = Depends(my_user_id), uow: UnitOfWork = Depends(get_uow)
) -> Response:
    return json_answer(await service.friends_json(uow, _views(request), user_id))


@router.put("/me/friends/{canonical_id}", response_model=FriendshipOut)
async def put_friend(
    request: Request,
    canonical_id: str = CanonicalId,
    # A social restriction or a mute refuses friend requests (403 `restricted`).
    _sociable: Principal = Depends(require_unrestricted("social")),
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> FriendshipOut:
    return await service.befriend(uow, request.app.state.runtime, user_id, canonical_id)


@router.delete("/me/friends/{canonical_id}", status_code=204)
async def delete_friend(
    canonical_id: str = CanonicalId,
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await service.unfriend(uow, user_id, canonical_id)
    return Response(status_code=204)


@router.get("/{canonical_id}", response_model=PublicUserOut)
@replica_reads
async def get_public_profile(
    request: Request,
    canonical_id: str = CanonicalId,
    _caller: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    return json_answer(await service.public_profile_json(uow, _views(request), canonical_id))
