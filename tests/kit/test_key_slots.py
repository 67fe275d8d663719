"""The Redis Cluster slot rule, checked on the key functions themselves: the keys one call
names together hash to one slot, under any namespace prefix (docs/operations.md, "Redis
Cluster", lists them). The cluster run of the suite exercises the same calls on a cluster."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from playerplatform.auth.state import session_key, state_keys, user_key, view_key
from playerplatform.commerce.wallet import ownership_key
from playerplatform.kit.hotstore.redis import RedisHotStore
from playerplatform.kit.idempotency import _cache_key
from playerplatform.kit.views import _generation_key
from playerplatform.kit.views import view_key as cached_view_key
from playerplatform.leaderboards.boards import Board
from playerplatform.ugc.discovery import HOT_CURRENT, HOT_PREVIOUS

PREFIXES = ("pp:", "pptest:abc:", "")


def slots(prefix: str, *keys: str) -> set[int]:
    """The slots of `keys` as the hot store stores them (`RedisHotStore.key`: the prefix in
    front)."""
    return {key_slot((prefix + key).encode()) for key in keys}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_keys_read_or_written_together_share_a_slot(prefix: str) -> None:
    player = "p0a1b2c3d4e5f6a7b8c9d0e1f2"
    groups = [
        [*state_keys(player, "sid-1"), view_key(player), ownership_key(player, "sku-1")],
        [user_key(player), session_key(player, "sid-2")],
        [cached_view_key("profile:x", "public"), _generation_key("profile:x")],
        [_cache_key("actor-1", "key-1"), _cache_key("actor-1", "key-1") + ":lock"],
        [HOT_CURRENT, HOT_PREVIOUS],
    ]
    board = Board("season-1", True)
    groups.append(
        [
            board.entries,
            board.dirty,
            board.closed,
            board.loaded,
            board.ranking(),
            board.ranking("eu"),
            board.regions,
            board.loading,
            board.flushing,
        ]
    )
    for keys in groups:
        assert len(slots(prefix, *keys)) == 1, keys


def test_the_prefix_never_becomes_a_hash_tag() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        RedisHotStore.from_url("redis://127.0.0.1:6379/0", prefix="pp:{x}:")
