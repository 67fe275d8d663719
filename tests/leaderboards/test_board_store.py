"""The board store contract: the adapters over both hot stores pass the same tests, and a
property test holds both to a reference sort over random submissions and removals."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playerplatform.kit.hotstore import HotStore
from playerplatform.leaderboards.boards import Board, BoardEntry, BoardStore, Submission
from playerplatform.leaderboards.live import board_store_for
from tests.kit import ADAPTERS, open_hot_store


@pytest.fixture(params=ADAPTERS)
async def hot(request: pytest.FixtureRequest) -> AsyncIterator[HotStore]:
    async with open_hot_store(request.param) as store:
        yield store


@pytest.fixture
def store(hot: HotStore) -> BoardStore:
    return board_store_for(hot)


async def _board(hot: HotStore, *, descending: bool = True) -> Board:
    board = Board(f"t{secrets.token_hex(4)}", descending)
    await hot.set(board.loaded, "1")
    return board


def _sub(member: str, score: float, at: int, operator: Any = "best", **kw: Any) -> Submission:
    return Submission(member, score, at, operator, **kw)


async def test_a_board_refuses_when_cold_or_closed(hot: HotStore, store: BoardStore) -> None:
    board = Board(f"t{secrets.token_hex(4)}", True)
    assert (await store.submit(board, _sub("a", 1, 1))).status == "cold"
    await hot.set(board.loaded, "1")
    applied = await store.submit(board, _sub("a", 1, 1))
    assert (applied.status, applied.rank, applied.improved) == ("applied", 0, True)
    await hot.set(board.closed, "1")
    assert (await store.submit(board, _sub("a", 5, 2))).status == "closed"
    assert [e.score for e in (await store.range(board, 0, 10))[0]] == [1.0]


@pytest.mark.parametrize("descending", [True, False])
async def test_ranks_are_unique_with_the_earlier_score_first(
    hot: HotStore, store: BoardStore, descending: bool
) -> None:
    board = await _board(hot, descending=descending)
    for member, score, at in (("c", 5, 30), ("a", 5, 20), ("b", 7, 10), ("d", 5, 40)):
        await store.submit(board, _sub(member, score, at))
    entries, total = await store.range(board, 0, 99)
    expected = ["b", "a", "c", "d"] if descending else ["a", "c", "d", "b"]
    assert total == 4
    assert [(e.member_id, e.rank) for e in entries] == list(zip(expected, range(4), strict=True))
    assert [e.member_id for e in (await store.range(board, 1, 2))[0]] == expected[1:3]


async def test_operators(hot: HotStore, store: BoardStore) -> None:
    board = await _board(hot)
    assert (await store.submit(board, _sub("a", 10, 1))).score == 10
    kept = await store.submit(board, _sub("a", 8, 2))
    assert (kept.status, kept.score, kept.improved) == ("kept", 10.0, False)
    latest = await store.submit(board, _sub("a", 8, 3, "latest"))
    assert (latest.status, latest.score, latest.improved) == ("applied", 8.0, False)
    summed = await store.submit(board, _sub("a", 0.5, 4, "increment"))
    assert (summed.score, summed.improved) == (8.5, True)
    (entry,) = await store.entries(board, ["a"])
    assert entry is not None and (entry.score, entry.at) == (8.5, 4)


async def test_around_shifts_at_the_edges_and_regions_rank_apart(
    hot: HotStore, store: BoardStore
) -> None:
    board = await _board(hot)
    for i in range(6):
        region = "eu" if i % 2 else "na"
        await store.submit(board, _sub(f"m{i}", i, 100 + i, region=region, metadata='{"i":1}'))
    top, total = await store.around(board, "m5", 1)
    assert total == 6 and [e.rank for e in top] == [0, 1, 2]
    bottom, _ = await store.around(board, "m0", 1)
    assert [e.member_id for e in bottom] == ["m2", "m1", "m0"]
    middle, _ = await store.around(board, "m3", 1)
    assert [e.member_id for e in middle] == ["m4", "m3", "m2"]
    assert (await store.around(board, "nobody", 1)) == ([], 6)
    eu, eu_total = await store.range(board, 0, 9, region="eu")
    assert eu_total == 3 and [e.member_id for e in eu] == ["m5", "m3", "m1"]
    assert eu[0].region == "eu" and eu[0].metadata == '{"i":1}'
    found = await store.entries(board, ["m1", "ghost", "m4"], region="eu")
    assert found[0] is not None and found[0].rank == 2
    assert found[1] is None and found[2] is None  # m4 plays in na


async def test_removed_members_leave_the_rankings_for_good(
    hot: HotStore, store: BoardStore
) -> None:
    board = await _board(hot)
    await store.submit(board, _sub("a", 1, 1, region="eu"))
    await store.submit(board, _sub("b", 2, 2))
    await store.remove(board, "a", at=3)
    await store.remove(board, "never", at=3)
    assert (await store.submit(board, _sub("a", 9, 4))).status == "removed"
    assert (await store.submit(board, _sub("never", 9, 4))).status == "removed"
    assert [e.member_id for e in (await store.range(board, 0, 9))[0]] == ["b"]
    assert (await store.range(board, 0, 9, region="eu")) == ([], 0)
    assert await store.entries(board, ["a"]) == [None]
    _cursor, dirty = await store.dirty(board, 0, 100)
    assert [e.member_id for e, _v in dirty] == ["b"]


async def test_dirty_markers_clear_only_for_the_version_written(
    hot: HotStore, store: BoardStore
) -> None:
    board = await _board(hot)
    for i in range(30):
        await store.submit(board, _sub(f"m{i}", i, i + 1, "latest"))
    seen: dict[str, str] = {}
    cursor = 0
    while True:
        cursor, chunk = await store.dirty(board, cursor, 7)
        seen.update((e.member_id, v) for e, v in chunk)
        if cursor == 0:
            break
    assert len(seen) == 30
    await store.submit(board, _sub("m0", 99, 500, "latest"))  # changed after the read
    assert await store.clean(board, seen) == 29
    _cursor, left = await store.dirty(board, 0, 100)
    assert [(e.member_id, e.score) for e, _v in left] == [("m0", 99.0)]


async def test_load_scan_and_drop(hot: HotStore, store: BoardStore) -> None:
    board = Board(f"t{secrets.token_hex(4)}", False)
    entries = [BoardEntry(f"m{i}", float(i % 3), i, "eu" if i % 2 else None) for i in range(50)]
    entries.append(BoardEntry("gone", 0.0, 1, None, "", True))
    await store.load(board, entries)
    ranked, total = await store.range(board, 0, 99)
    assert total == 50 and ranked[0].member_id == "m0"
    assert (await store.range(board, 0, 99, region="eu"))[1] == 25
    scanned: dict[str, BoardEntry] = {}
    cursor = 0
    while True:
        cursor, chunk = await store.scan(board, cursor, 10)
        scanned.update((e.member_id, e) for e in chunk)
        if cursor == 0:
            break
    assert len(scanned) == 51 and scanned["gone"].removed
    await hot.set(board.closed, "1")
    await store.drop(board)
    assert await store.range(board, 0, 99) == ([], 0)
    assert await store.range(board, 0, 99, region="eu") == ([], 0)
    assert await hot.exists(board.closed)  # the closed flag outlives the board


# Random submissions against a reference sort.

MEMBERS = ["a", "b", "c", "d", "e"]
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("submit"),
            st.sampled_from(MEMBERS),
            st.integers(-3, 3).map(float) | st.sampled_from([0.5, 1e15]),
            st.sampled_from(["x", "y"]),
        ),
        st.tuples(st.just("remove"), st.sampled_from(MEMBERS)),
    ),
    max_size=30,
)


def _reference_apply(
    reference: dict[str, tuple[float, int, str, bool]],
    operator: str,
    descending: bool,
    op: tuple[Any, ...],
    at: int,
) -> None:
    if op[0] == "remove":
        old = reference.get(op[1])
        reference[op[1]] = (old[0], old[1], old[2], True) if old else (0.0, at, "", True)
        return
    _kind, member, score, region = op
    old = reference.get(member)
    if old is not None and old[3]:
        return
    region = old[2] if old else region
    new = old[0] + score if operator == "increment" and old else score
    better = old is None or (new > old[0] if descending else new < old[0])
    if operator != "best" or better:
        reference[member] = (new, at, region, False)


def _reference_order(
    reference: dict[str, tuple[float, int, str, bool]], descending: bool, region: str | None
) -> list[tuple[str, float]]:
    live = [(m, v) for m, v in reference.items() if not v[3] and region in (None, v[2])]
    live.sort(key=lambda mv: ((-mv[1][0] if descending else mv[1][0]), mv[1][1]))
    return [(m, v[0]) for m, v in live]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=operations,
    operator=st.sampled_from(["best", "latest", "increment"]),
    descending=st.booleans(),
)
async def test_random_boards_rank_like_a_reference_sort(
    hot: HotStore,
    store: BoardStore,
    ops: list[tuple[Any, ...]],
    operator: str,
    descending: bool,
) -> None:
    board = await _board(hot, descending=descending)
    reference: dict[str, tuple[float, int, str, bool]] = {}
    for at, op in enumerate(ops, 1):
        if op[0] == "remove":
            await store.remove(board, op[1], at=at)
        else:
            await store.submit(board, _sub(op[1], op[2], at, operator, region=op[3]))
        _reference_apply(reference, operator, descending, op, at)
    for region in (None, "x", "y"):
        expected = _reference_order(reference, descending, region)
        entries, total = await store.range(board, 0, 99, region=region)
        assert total == len(expected)
        assert [(e.member_id, e.score) for e in entries] == expected
        assert [e.rank for e in entries] == list(range(len(expected)))
        found = await store.entries(board, MEMBERS, region=region)
        ranks = {m: i for i, (m, _s) in enumerate(expected)}
        assert [e.rank if e else None for e in found] == [ranks.get(m) for m in MEMBERS]
    await store.drop(board)


async def test_a_page_read_at_a_version_stays_current_until_the_board_changes(
    hot: HotStore, store: BoardStore
) -> None:
    board = await _board(hot)
    await store.submit(board, _sub("a", 5, 1, region="eu"))
    first = await store.page(board, 0, 9, region=None, known=None)
    assert first is not None and first.version
    assert [e.member_id for e in first.entries] == ["a"] and first.total == 1
    # Unchanged: every page of the board (any span, any region) is still current.
    assert await store.page(board, 0, 9, region=None, known=first.version) is None
    assert await store.page(board, 3, 5, region="eu", known=first.version) is None
    assert (await store.submit(board, _sub("a", 1, 2))).status == "kept"  # no change
    assert await store.page(board, 0, 9, region=None, known=first.version) is None

    # Each change to the rankings makes a version of its own.
    seen, known = {first.version}, first.version
    changes = [
        lambda: store.submit(board, _sub("b", 7, 3)),
        lambda: store.submit(board, _sub("b", 8, 4, "latest")),
        lambda: store.remove(board, "a", at=5),
        lambda: store.load(board, [BoardEntry("c", 2.0, 6)]),
    ]
    for change in changes:
        await change()
        read = await store.page(board, 0, 9, region=None, known=known)
        assert read is not None and read.version not in seen
        seen.add(read.version)
        known = read.version
    assert [e.member_id for e in read.entries] == ["b", "c"]

    # A board not loaded has no version (nothing read from it is kept); filled again, its
    # versions are new even though its counter starts again.
    await store.drop(board)
    empty = await store.page(board, 0, 9, region=None, known=known)
    assert empty is not None and empty.version == "" and empty.total == 0
    await store.load(board, [BoardEntry("a", 5.0, 1)])
    await hot.set(board.loaded, "2")
    again = await store.page(board, 0, 9, region=None, known=None)
    assert again is not None and again.version not in seen
