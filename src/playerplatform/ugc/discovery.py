"""Browsing and searching published public items, and the hot feed.

The hot feed is a capped list of item ids in the hot store (`ugc:hot:{generation}`, named by
`ugc:{hot}:current`), ranked by counted downloads over the last `PP_UGC_HOT_WINDOW_HOURS`, then
by newest. It is rebuilt from the database when it runs out (`PP_UGC_HOT_FEED_TTL`) by one
process at a time; readers always filter it through the database, so an item removed since
the last rebuild never shows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

import orjson

from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, encode_cursor
from playerplatform.ugc import repository
from playerplatform.ugc.access import LISTINGS_OWNER, items_out
from playerplatform.ugc.models import Ugc
from playerplatform.ugc.schemas import OffsetCursor, TimeCursor, UgcOut, ValueCursor
from playerplatform.users import service as users

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime

# One hash tag: the two pointers are read in one round trip (Redis Cluster too).
HOT_CURRENT = "ugc:{hot}:current"  # the generation to serve; expires after the feed's TTL
HOT_PREVIOUS = "ugc:{hot}:previous"  # the last generation built, served while one rebuilds
HOT_LOCK = "ugc:{hot}:lock"
FIRST_FEED_WAIT_SECONDS = 3.0  # how long a request waits for another to build the first feed
KEEP_OLD_GENERATIONS = 10  # a generation's list outlives its turn by this many TTLs


async def browse(
    uow: UnitOfWork,
    runtime: Runtime,
    page: PageParams,
    *,
    sort: str,
    ugc_type: str | None,
    tag: str | None,
    creator: str | None,
    text: str | None,
) -> Page[UgcOut]:
    """Published public items matching every filter given, in `sort` order."""
    creator_id = None
    if creator:
        user = await users.lookup_by_canonical(uow, creator)
        if user is None:
            return Page[UgcOut](items=[], next_cursor=None)
        creator_id = user.id
    text = text.strip() if text else None
    if sort == "hot":
        return await _browse_hot(
            uow, runtime, page, ugc_type=ugc_type, tag=tag, creator_id=creator_id, text=text
        )
    after: tuple[Any, str] | None = None
    if sort == "newest":
        seen_t = decode_cursor(page.cursor, TimeCursor)
        after = (seen_t.t, seen_t.i) if seen_t else None
    else:
        seen_v = decode_cursor(page.cursor, ValueCursor)
        if seen_v is not None:
            value: float | int = seen_v.v if sort == "top_rated" else int(seen_v.v)
            after = (value, seen_v.i)
    rows = await repository.browse(
        uow,
        sort=sort,
        after=after,
        limit=page.limit + 1,
        ugc_type=ugc_type,
        tag=tag,
        creator_id=creator_id,
        text=text,
    )
    shown = rows[: page.limit]
    next_cursor = None
    if len(rows) > page.limit and shown:
        last = shown[-1]
        if sort == "newest":
            assert last.published_at is not None
            next_cursor = encode_cursor(TimeCursor(t=last.published_at, i=last.public_id))
        else:
            number = last.rating_average if sort == "top_rated" else last.downloads_count
            next_cursor = encode_cursor(ValueCursor(v=float(number), i=last.public_id))
    return Page[UgcOut](items=await items_out(uow, shown), next_cursor=next_cursor)


def _matches(
    item: Ugc,
    *,
    ugc_type: str | None,
    tag: str | None,
    creator_id: Any,
    text: str | None,
) -> bool:
    if item.status != "published" or item.visibility != "public":
        return False
    if ugc_type and item.type != ugc_type:
        return False
    if tag and tag not in item.tags:
        return False
    if creator_id and item.creator_id != creator_id:
        return False
    if text:
        needle = text.lower()
        return needle in item.name.lower() or needle in item.description.lower()
    return True


async def _browse_hot(
    uow: UnitOfWork,
    runtime: Runtime,
    page: PageParams,
    *,
    ugc_type: str | None,
    tag: str | None,
    creator_id: Any,
    text: str | None,
) -> Page[UgcOut]:
    seen = decode_cursor(page.cursor, OffsetCursor)
    offset = seen.o if seen else 0
    ids = await hot_feed_ids(uow, runtime)
    unfiltered = not (ugc_type or tag or creator_id or text)
    window = ids[offset : offset + page.limit + 1] if unfiltered else ids[offset:]
    by_id = {i.public_id: i for i in await repository.items_by_public_ids(uow, window)}
    picked: list[Ugc] = []
    consumed = 0
    for public_id in window:
        consumed += 1
        item = by_id.get(public_id)
        if item is not None and _matches(
            item, ugc_type=ugc_type, tag=tag, creator_id=creator_id, text=text
        ):
            picked.append(item)
            if len(picked) == page.limit:
                break
    more = offset + consumed < len(ids)
    next_cursor = encode_cursor(OffsetCursor(o=offset + consumed)) if more and picked else None
    return Page[UgcOut](items=await items_out(uow, picked), next_cursor=next_cursor)


async def hot_feed_ids(uow: UnitOfWork, runtime: Runtime) -> list[str]:
    """The hot feed's item ids. When it has run out, one process rebuilds it while the
    others keep serving the previous generation (straight from SQL only when there is none)."""
    hot = runtime.hot
    current, previous = await hot.mget([HOT_CURRENT, HOT_PREVIOUS])
    generation = current
    if generation is None:
        generation = await rebuild_hot_feed(uow, runtime) or previous
        if generation is None:
            # The very first feed is being built by another request: wait for it rather than
            # have every waiting request run the ranking query at once.
            generation = await _first_generation(runtime)
        if generation is None:
            return await _ranking(uow, runtime)
    return await hot.lrange(_list_key(generation), 0, runtime.settings.ugc_hot_feed_size - 1)


async def _first_generation(runtime: Runtime) -> str | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FIRST_FEED_WAIT_SECONDS
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        current = await runtime.hot.get(HOT_CURRENT)
        if current is not None:
            return current
    return None


def _list_key(generation: str) -> str:
    return f"ugc:hot:{generation}"


async def _ranking(uow: UnitOfWork, runtime: Runtime) -> list[str]:
    settings = runtime.settings
    since = (utcnow() - dt.timedelta(hours=settings.ugc_hot_window_hours)).date()
    return await repository.hot_ranking(uow, since=since, limit=settings.ugc_hot_feed_size)


async def rebuild_hot_feed(uow: UnitOfWork, runtime: Runtime) -> str | None:
    """Rank, write a new generation of the capped list, then point readers at it. Returns
    the generation, or None when another process holds the rebuild lock."""
    hot, settings = runtime.hot, runtime.settings
    token = secrets.token_hex(8)
    if not await hot.set_if_absent(HOT_LOCK, token, ttl=30):
        return None
    try:
        ranking = await _ranking(uow, runtime)
        key = _list_key(token)
        for public_id in reversed(ranking):  # the list is newest-pushed first
            await hot.push_capped(key, public_id, cap=settings.ugc_hot_feed_size)
        if ranking:
            await hot.expire(key, settings.ugc_hot_feed_ttl * KEEP_OLD_GENERATIONS)
        await hot.set(HOT_CURRENT, token, ttl=settings.ugc_hot_feed_ttl)
        await hot.set(HOT_PREVIOUS, token, ttl=settings.ugc_hot_feed_ttl * KEEP_OLD_GENERATIONS)
        return token
    finally:
        await hot.delete_if_equals(HOT_LOCK, token)


async def hot_feed(uow: UnitOfWork, runtime: Runtime, page: PageParams) -> Page[UgcOut]:
    """`GET /ugc/hot`: the hot feed itself, paged."""
    return await _browse_hot(
        uow, runtime, page, ugc_type=None, tag=None, creator_id=None, text=None
    )


async def browse_json(
    uow: UnitOfWork,
    runtime: Runtime,
    page: PageParams,
    *,
    sort: str,
    ugc_type: str | None,
    tag: str | None,
    creator: str | None,
    text: str | None,
) -> bytes:
    """`GET /ugc`, encoded, from the cached page while it is current: pages are renewed when
    an item is published, removed, hidden or changed, and otherwise live
    `PP_UGC_LISTING_CACHE_SECONDS` (downloads, ratings and the hot order lag that long)."""

    async def load() -> bytes:
        found = await browse(
            uow, runtime, page, sort=sort, ugc_type=ugc_type, tag=tag, creator=creator, text=text
        )
        return found.model_dump_json().encode()

    name = orjson.dumps(["browse", sort, ugc_type, tag, creator, text, page.limit, page.cursor])
    return await runtime.views.read(
        LISTINGS_OWNER, name.decode(), load, ttl=runtime.settings.ugc_listing_cache_seconds
    )


async def hot_feed_json(uow: UnitOfWork, runtime: Runtime, page: PageParams) -> bytes:
    """`GET /ugc/hot`, encoded, cached as `browse_json` pages are."""

    async def load() -> bytes:
        return (await hot_feed(uow, runtime, page)).model_dump_json().encode()

    name = orjson.dumps(["hot", page.limit, page.cursor]).decode()
    return await runtime.views.read(
        LISTINGS_OWNER, name, load, ttl=runtime.settings.ugc_listing_cache_seconds
    )
