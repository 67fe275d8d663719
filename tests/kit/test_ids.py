"""Row ids: version-7 UUIDs, ordered by the millisecond they were made in."""

from __future__ import annotations

import time
import uuid

from playerplatform.kit.db import new_uuid


def test_an_id_is_a_version_7_uuid_carrying_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_uuid()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_made_later_sort_later_and_never_repeat() -> None:
    first = [new_uuid() for _ in range(2000)]
    time.sleep(0.002)
    later = [new_uuid() for _ in range(2000)]
    assert max(first) < min(later)
    assert len(set(first + later)) == 4000
    # Within one millisecond the order is random: 74 of the 128 bits are.
    assert len({u.int & ((1 << 80) - 1) for u in first}) == 2000
