"""The local object store's signed-URL endpoints, served at `/objects/{key}` (outside the
API prefix: clients get these URLs from API responses and use them as they would S3's).

No unit of work: these routes never touch the database. The JSON body limit does not apply
here (`local.BODY_LIMIT_EXEMPT`, which the wiring names); an upload is bound to the exact size and
type that were signed.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import FileResponse, Response

from playerplatform.kit.errors import Forbidden, NotFound, PayloadTooLarge
from playerplatform.kit.objects import ObjectNotFound
from playerplatform.kit.objects.keys import InvalidObjectKey, validate_key
from playerplatform.kit.objects.local import ROUTE_PREFIX, LocalObjectStore

router = APIRouter(prefix=ROUTE_PREFIX, tags=["objects"])


def _local_store(request: Request) -> LocalObjectStore:
    store = request.app.state.runtime.objects
    if not isinstance(store, LocalObjectStore):
        raise NotFound("Objects are not served by this app.")
    return store


def _checked_key(key: str) -> str:
    try:
        return validate_key(key)
    except InvalidObjectKey:
        raise Forbidden("The object key is not allowed.")


@router.put("/{key:path}")
async def upload_object(
    key: str,
    request: Request,
    exp: int | None = Query(None),
    ct: str = Query(""),
    cl: int | None = Query(None),
    sig: str | None = Query(None),
) -> dict[str, object]:
    store = _local_store(request)
    key = _checked_key(key)
    store.verify(sig, "PUT", key, exp, ct, str(cl))
    assert cl is not None  # signed, so present
    if request.headers.get("content-type", "") != ct:
        raise Forbidden("The Content-Type header does not match the signed URL.")
    declared = request.headers.get("content-length")
    if declared is not None and (
        not (declared.isascii() and declared.isdigit()) or int(declared) > cl
    ):
        raise PayloadTooLarge("The upload is larger than the signed size.")
    info = await store.write(key, request.stream(), content_type=ct, exact_length=cl)
    return {"key": info.key, "size": info.size, "sha256": info.sha256}


@router.get("/{key:path}")
async def download_object(
    key: str,
    request: Request,
    exp: int | None = Query(None),
    fn: str | None = Query(None),
    cc: str | None = Query(None, max_length=200),
    sig: str | None = Query(None),
) -> Response:
    store = _local_store(request)
    key = _checked_key(key)
    store.verify(sig, "GET", key, exp, fn or "", *([cc] if cc else []))
    try:
        info = await store.head(key)
    except ObjectNotFound:
        raise NotFound("No such object.")
    return FileResponse(
        store.path_of(key),
        media_type=info.content_type,
        filename=fn,
        headers={"Cache-Control": cc or "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
