"""Signed upload URLs: a tampered or expired one is refused, and nothing is stored.

The local store's URLs are ours to verify (served by the app). S3 verifies its own presigned
URLs; moto's server does not check signatures, so what S3 refuses is pinned by the size test
in `test_lifecycle.py` (refused at the PUT, or at completion) instead."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.support.ugc import World


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_tampered_upload_url_is_refused(local: World) -> None:
    creator = await local.player()
    data = b"hello there"
    created = await local.draft(creator, data)
    upload = created["upload"]
    signature = dict(parse_qsl(urlsplit(upload["url"]).query))["sig"]
    tampered = {**upload, "url": _with_query(upload["url"], sig=signature[:-2] + "AA")}
    refused = await local.put_file(tampered, data)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    other_key = {**upload, "url": upload["url"].replace("/notes.txt", "/other.txt")}
    assert (await local.put_file(other_key, data)).status_code == 403
    longer = {**upload, "url": _with_query(upload["url"], cl="999999")}
    assert (await local.put_file(longer, data)).status_code == 403
    missing = await local.complete(creator, created["ugc"]["ugc_id"])
    assert missing.status_code == 409


async def test_expired_upload_url_is_refused(local: World) -> None:
    creator = await local.player()
    data = b"too late"
    created = await local.draft(creator, data)
    key = f"ugc/text/{created['ugc']['ugc_id']}/notes.txt"
    expired = await local.runtime.objects.signed_put_url(
        key, content_type="text/plain", content_length=len(data), expires_in=-5
    )
    refused = await local.put_file(expired.as_dict(), data)
    assert refused.status_code == 403 and "expired" in refused.json()["detail"]
    assert not await local.runtime.objects.exists(key)
