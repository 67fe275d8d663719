"""Leaderboard boards on the Redis hot store (see `boards`). Submissions, reads of ranked pages and
removals are Lua scripts, so each is atomic and one round trip. A board's keys share the
hash tag `{season}`; the regional rankings are named inside the scripts from a prefix the
caller passes, which stays within the same slot because it carries the same tag."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from playerplatform.kit.hotstore.redis import RedisHotStore
from playerplatform.leaderboards.boards import (
    Board,
    BoardEntry,
    RankedPage,
    Submission,
    Submitted,
)

_FIELDS = """
local function fields(raw)
  local out, pos = {}, 1
  for i = 1, 5 do
    local tab = string.find(raw, '\\t', pos, true)
    out[i] = string.sub(raw, pos, tab - 1)
    pos = tab + 1
  end
  out[6] = string.sub(raw, pos)
  return out
end
local function rank_in(key, member, desc)
  if desc then return redis.call('ZREVRANK', key, member) end
  return redis.call('ZRANK', key, member)
end
local function page(ranking, entries, start, stop, desc)
  local members
  if desc then
    members = redis.call('ZREVRANGE', ranking, start, stop)
  else
    members = redis.call('ZRANGE', ranking, start, stop)
  end
  if #members == 0 then return {}, {} end
  local ids = {}
  for i, m in ipairs(members) do ids[i] = string.sub(m, 18) end
  return ids, redis.call('HMGET', entries, unpack(ids))
end
"""

# KEYS: entries, dirty, closed, loaded, ranking, regions, version.
# ARGV: id, score, at, member, operator, descending, region, metadata, regional prefix, a new
# version mark.
_SUBMIT = (
    _FIELDS
    + """
if redis.call('EXISTS', KEYS[3]) == 1 then return {'closed'} end
if redis.call('EXISTS', KEYS[4]) == 0 then return {'cold'} end
local id, desc, region = ARGV[1], ARGV[6] == '1', ARGV[7]
local raw = redis.call('HGET', KEYS[1], id)
local old_score, old_text, old_member
if raw then
  local f = fields(raw)
  if f[4] == '1' then return {'removed'} end
  old_text, old_score, old_member, region = f[1], tonumber(f[1]), f[5], f[3]
end
local new_text = ARGV[2]
local new_score = tonumber(new_text)
if ARGV[5] == 'increment' and old_score then
  new_score = old_score + new_score
  new_text = string.format('%.17g', new_score)
end
local improved = old_score == nil or (desc and new_score > old_score)
  or ((not desc) and new_score < old_score)
if ARGV[5] == 'best' and not improved then
  return {'kept', old_text, rank_in(KEYS[5], old_member, desc), 0}
end
local regional = nil
if region ~= '' then regional = ARGV[9] .. region end
if old_member then
  redis.call('ZREM', KEYS[5], old_member)
  if regional then redis.call('ZREM', regional, old_member) end
end
redis.call('ZADD', KEYS[5], new_text, ARGV[4])
if regional then
  redis.call('ZADD', regional, new_text, ARGV[4])
  redis.call('SADD', KEYS[6], region)
end
redis.call('HSET', KEYS[1], id,
  table.concat({new_text, ARGV[3], region, '0', ARGV[4], ARGV[8]}, '\\t'))
redis.call('HSET', KEYS[2], id, ARGV[3] .. ':' .. new_text)
redis.call('SET', KEYS[7], ARGV[10])
local improved_flag = 0
if improved then improved_flag = 1 end
return {'applied', new_text, rank_in(KEYS[5], ARGV[4], desc), improved_flag}
"""
)

# KEYS: ranking, entries, loaded, version. ARGV: start, stop, descending, known version.
# The board's version when it is loaded (see `boards`); just the version when it is `known`.
_RANGE = (
    _FIELDS
    + """
local loaded, version = redis.call('GET', KEYS[3]), ''
if loaded then version = loaded .. ':' .. (redis.call('GET', KEYS[4]) or '0') end
if version ~= '' and version == ARGV[4] then return {version} end
local ids, values = page(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3] == '1')
return {redis.call('ZCARD', KEYS[1]), tonumber(ARGV[1]), ids, values, version}
"""
)

# KEYS: ranking, entries. ARGV: id, radius, descending.
_AROUND = (
    _FIELDS
    + """
local desc = ARGV[3] == '1'
local total = redis.call('ZCARD', KEYS[1])
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {total, -1, {}, {}} end
local rank = rank_in(KEYS[1], fields(raw)[5], desc)
if not rank then return {total, -1, {}, {}} end
local radius = tonumber(ARGV[2])
local width = 2 * radius + 1
local start = rank - radius
if start > total - width then start = total - width end
if start < 0 then start = 0 end
local ids, values = page(KEYS[1], KEYS[2], start, start + width - 1, desc)
return {total, start, ids, values}
"""
)

# KEYS: ranking, entries. ARGV: descending, ids...
_ENTRIES = (
    _FIELDS
    + """
local desc = ARGV[1] == '1'
local out = {}
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[2], ARGV[i])
  local rank = false
  if raw then
    local f = fields(raw)
    if f[4] ~= '1' then rank = rank_in(KEYS[1], f[5], desc) end
  end
  if rank then
    out[#out + 1] = rank
    out[#out + 1] = raw
  else
    out[#out + 1] = -1
    out[#out + 1] = ''
  end
end
return out
"""
)

# KEYS: entries, dirty, ranking, version. ARGV: id, entry when there is none yet, regional
# prefix, a new version mark.
_REMOVE = (
    _FIELDS
    + """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if raw then
  local f = fields(raw)
  redis.call('ZREM', KEYS[3], f[5])
  if f[3] ~= '' then redis.call('ZREM', ARGV[3] .. f[3], f[5]) end
  f[4] = '1'
  redis.call('HSET', KEYS[1], ARGV[1], table.concat(f, '\\t'))
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[4], ARGV[4])
return 1
"""
)

# KEYS: dirty. ARGV: id, version, id, version, ...
_CLEAN = """
local cleaned = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    cleaned = cleaned + 1
  end
end
return cleaned
"""

_LOAD_CHUNK = 1000


class _Scripts:
    def __init__(self, store: RedisHotStore) -> None:
        self.submit = store.script(_SUBMIT)
        self.range = store.script(_RANGE)
        self.around = store.script(_AROUND)
        self.entries = store.script(_ENTRIES)
        self.remove = store.script(_REMOVE)
        self.clean = store.script(_CLEAN)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _new_mark() -> str:
    """A board's version mark after a change: random, not counted, so a change Redis lost
    (a failover before it was replicated) and the change made next never share a mark."""
    return secrets.token_hex(8)


class RedisBoards:
    """The board store over a `RedisHotStore`: its client, key prefix and scripts."""

    def __init__(self, store: RedisHotStore) -> None:
        self.store = store
        self._client = store.client
        self._key = store.key
        self._board_scripts = _Scripts(store)

    def _regional_prefix(self, board: Board) -> str:
        return self._key(board.ranking()) + ":"

    async def submit(self, board: Board, submission: Submission) -> Submitted:
        reply = await self._board_scripts.submit(
            keys=[
                self._key(board.entries),
                self._key(board.dirty),
                self._key(board.closed),
                self._key(board.loaded),
                self._key(board.ranking()),
                self._key(board.regions),
                self._key(board.version),
            ],
            args=[
                submission.member_id,
                repr(float(submission.score)),
                submission.at,
                board.member(submission.member_id, submission.at),
                submission.operator,
                _flag(board.descending),
                submission.region or "",
                submission.metadata,
                self._regional_prefix(board),
                _new_mark(),
            ],
        )
        if len(reply) == 1:
            return Submitted(reply[0])
        status, score, rank, improved = reply
        return Submitted(status, float(score), int(rank), bool(improved))

    @staticmethod
    def _entries_of(reply: list[Any]) -> tuple[list[BoardEntry], int]:
        total, first, ids, values = reply[:4]
        out = [
            BoardEntry.decode(member_id, raw, int(first) + i)
            for i, (member_id, raw) in enumerate(zip(ids, values, strict=True))
            if raw
        ]
        return out, int(total)

    async def range(
        self, board: Board, start: int, stop: int, *, region: str | None = None
    ) -> tuple[list[BoardEntry], int]:
        read = await self.page(board, start, stop, region=region, known=None)
        assert read is not None  # nothing was known
        return read.entries, read.total

    async def page(
        self, board: Board, start: int, stop: int, *, region: str | None, known: str | None
    ) -> RankedPage | None:
        reply = await self._board_scripts.range(
            keys=[
                self._key(board.ranking(region)),
                self._key(board.entries),
                self._key(board.loaded),
                self._key(board.version),
            ],
            args=[start, stop, _flag(board.descending), known or ""],
        )
        if len(reply) == 1:
            return None
        entries, total = self._entries_of(reply)
        return RankedPage(entries, total, str(reply[4]))

    async def around(
        self, board: Board, member_id: str, radius: int, *, region: str | None = None
    ) -> tuple[list[BoardEntry], int]:
        reply = await self._board_scripts.around(
            keys=[self._key(board.ranking(region)), self._key(board.entries)],
            args=[member_id, radius, _flag(board.descending)],
        )
        return self._entries_of(reply)

    async def entries(
        self, board: Board, member_ids: Sequence[str], *, region: str | None = None
    ) -> list[BoardEntry | None]:
        if not member_ids:
            return []
        reply = await self._board_scripts.entries(
            keys=[self._key(board.ranking(region)), self._key(board.entries)],
            args=[_flag(board.descending), *member_ids],
        )
        out: list[BoardEntry | None] = []
        for member_id, rank, raw in zip(member_ids, reply[0::2], reply[1::2], strict=True):
            out.append(BoardEntry.decode(member_id, raw, int(rank)) if int(rank) >= 0 else None)
        return out

    async def remove(self, board: Board, member_id: str, *, at: int) -> None:
        placeholder = BoardEntry(member_id, 0.0, at, None, "", True)
        await self._board_scripts.remove(
            keys=[
                self._key(board.entries),
                self._key(board.dirty),
                self._key(board.ranking()),
                self._key(board.version),
            ],
            args=[
                member_id,
                placeholder.encode(board.member(member_id, at)),
                self._regional_prefix(board),
                _new_mark(),
            ],
        )

    async def dirty(
        self, board: Board, cursor: int, count: int
    ) -> tuple[int, list[tuple[BoardEntry, str]]]:
        following, versions = await self._client.hscan(
            self._key(board.dirty), cursor=cursor, count=count
        )
        if not versions:
            return int(following), []
        ids = list(versions)
        raws = await self._client.hmget(self._key(board.entries), ids)
        out = [
            (BoardEntry.decode(member_id, raw), versions[member_id])
            for member_id, raw in zip(ids, raws, strict=True)
            if raw is not None
        ]
        return int(following), out

    async def clean(self, board: Board, versions: Mapping[str, str]) -> int:
        if not versions:
            return 0
        args = [part for pair in versions.items() for part in pair]
        return int(await self._board_scripts.clean(keys=[self._key(board.dirty)], args=args))

    async def load(self, board: Board, entries: Sequence[BoardEntry]) -> None:
        for begin in range(0, len(entries), _LOAD_CHUNK):
            chunk = entries[begin : begin + _LOAD_CHUNK]
            stored: dict[str, str] = {}
            ranked: dict[str, float] = {}
            regional: dict[str, dict[str, float]] = {}
            for entry in chunk:
                member = board.member(entry.member_id, entry.at)
                stored[entry.member_id] = entry.encode(member)
                if not entry.removed:
                    ranked[member] = entry.score
                    if entry.region:
                        regional.setdefault(entry.region, {})[member] = entry.score
            pipe = self.store.pipeline()
            pipe.hset(self._key(board.entries), mapping=stored)
            if ranked:
                pipe.zadd(self._key(board.ranking()), ranked)
            for region, members in regional.items():
                pipe.zadd(self._key(board.ranking(region)), members)
                pipe.sadd(self._key(board.regions), region)
            pipe.set(self._key(board.version), _new_mark())
            await pipe.execute()

    async def scan(self, board: Board, cursor: int, count: int) -> tuple[int, list[BoardEntry]]:
        following, rows = await self._client.hscan(
            self._key(board.entries), cursor=cursor, count=count
        )
        return int(following), [BoardEntry.decode(k, v) for k, v in rows.items()]

    async def drop(self, board: Board) -> None:
        regions = await self._client.smembers(self._key(board.regions))
        keys = [
            board.ranking(),
            *(board.ranking(r) for r in regions),
            board.entries,
            board.dirty,
            board.regions,
            board.loaded,
            board.version,
        ]
        await self._client.delete(*(self._key(k) for k in keys))
