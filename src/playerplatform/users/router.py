"""Players' own account, progression and friends, and other players' public profiles.

Private data is only ever reached through `/users/me...`: no route takes another player's id
for anything but the public profile and friend requests.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Header, Path, Request, Response

from playerplatform.auth.deps import (
    Principal,
    hot_caller,
    optional_principal,
    rate_limit,
    require_user,
)
from playerplatform.auth.state import view_key
from playerplatform.kit.db import UnitOfWork
from playerplatform.kit.errors import Forbidden
from playerplatform.kit.hotpath import HotRequest, JsonAnswer, hot_path
from playerplatform.kit.http import TransactionalRoute, get_uow
from playerplatform.kit.textfilter import TextFilter, text_filter
from playerplatform.users import service
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

CanonicalId = Path(min_length=1, max_length=64, description="A player's canonical id.")


async def my_user_id(principal: Principal = Depends(require_user)) -> uuid.UUID:
    """The signed-in player's internal id (dependency)."""
    assert principal.user_id is not None  # require_user only lets user principals through
    return principal.user_id


def _etag(version: int) -> str:
    return f'"{version}"'


async def serve_me(request: HotRequest) -> JsonAnswer | None:
    """`GET /users/me` on the hot path: the token's session and ban state and the cached user
    object come from the process's copies, the read rate limit from its tally; only a cache
    miss touches Redis, and only a Redis miss the database."""
    if request.authorization is None:
        return None  # the endpoint counts the anonymous call and answers 401
    found = await hot_caller(request, "read", extra_keys=_view_keys)
    principal = found.principal
    runtime = request.runtime
    if principal is None or principal.kind != "user" or principal.user_id is None:
        raise Forbidden("This route is for players, not service accounts.")
    cached = found.extras[0] if found.extras else None
    if cached is not None:
        body = cached.encode()
    else:
        body = await service.cached_user_view(runtime.hot, runtime.db, principal.user_id)
    return JsonAnswer(body, found.rate_headers)


def _view_keys(canonical_id: str) -> list[str]:
    return [view_key(canonical_id)]


@router.get("/me", response_model=UserOut)
@hot_path(serve_me)
async def get_me(
    user_id: uuid.UUID = Depends(my_user_id), uow: UnitOfWork = Depends(get_uow)
) -> UserOut:
    return await service.user_view(uow, user_id)


@router.patch("/me", response_model=UserOut)
async def patch_me(
    request: Request,
    patch: ProfilePatch,
    user_id: uuid.UUID = Depends(my_user_id),
    checker: TextFilter = Depends(text_filter),
    uow: UnitOfWork = Depends(get_uow),
) -> UserOut:
    return await service.update_profile(uow, request.app.state.runtime.hot, user_id, patch, checker)


@router.get("/me/progression", response_model=ProgressionOut)
async def get_progression(
    response: Response,
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> ProgressionOut:
    progression = await service.get_progression(uow, user_id)
    response.headers["ETag"] = _etag(progression.version)
    return progression


@router.put(
    "/me/progression",
    response_model=ProgressionOut,
    responses={412: {"description": "stale If-Match"}, 428: {"description": "no If-Match"}},
)
async def put_progression(
    body: ProgressionIn,
    request: Request,
    response: Response,
    if_match: str | None = Header(None, description="The version last read (ETag)."),
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
    user_id: uuid.UUID = Depends(my_user_id), uow: UnitOfWork = Depends(get_uow)
) -> FriendsOut:
    return await service.list_friends(uow, user_id)


@router.put("/me/friends/{canonical_id}", response_model=FriendshipOut)
async def put_friend(
    canonical_id: str = CanonicalId,
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> FriendshipOut:
    return await service.befriend(uow, user_id, canonical_id)


@router.delete("/me/friends/{canonical_id}", status_code=204)
async def delete_friend(
    canonical_id: str = CanonicalId,
    user_id: uuid.UUID = Depends(my_user_id),
    uow: UnitOfWork = Depends(get_uow),
) -> Response:
    await service.unfriend(uow, user_id, canonical_id)
    return Response(status_code=204)


@router.get("/{canonical_id}", response_model=PublicUserOut)
async def get_public_profile(
    canonical_id: str = CanonicalId,
    _caller: Principal | None = Depends(optional_principal),
    uow: UnitOfWork = Depends(get_uow),
) -> PublicUserOut:
    return await service.public_profile(uow, canonical_id)
