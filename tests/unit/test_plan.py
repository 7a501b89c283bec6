from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gps3async.core.errors import IntegrityError, PartLimitExceeded, UsageError
from gps3async.core.plan import (
    MAX_PARTS,
    ByteRange,
    PartSchedule,
    check_content_range,
    coalesce,
    parse_offsets,
    plan_fetches,
    plan_ranges,
)

MIB = 1024 * 1024
TIB = 1024**4


@given(st.integers(0, 10**9), st.integers(1, 10**8), st.integers(0, 10**6))
def test_plan_ranges_cover_exactly_and_in_order(size: int, chunk: int, start: int) -> None:
    chunk = max(chunk, size // 2000 + 1)  # keep each example to at most ~2,000 ranges
    ranges = plan_ranges(ByteRange(start, start + size), chunk)
    assert sum(r.length for r in ranges) == size
    assert all(0 < r.length <= chunk for r in ranges)
    position = start
    for rng in ranges:
        assert rng.start == position
        position = rng.end


def test_range_header_is_inclusive() -> None:
    assert ByteRange(0, 10).header() == "bytes=0-9"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 3 10", [ByteRange(3, 10)]),
        ("2 0 700000 900000 900001\n", [ByteRange(0, 700000), ByteRange(900000, 900001)]),
        ("0", []),
    ],
)
def test_offsets_file_is_count_then_half_open_pairs(text: str, expected: list[ByteRange]) -> None:
    assert parse_offsets(text) == expected


@pytest.mark.parametrize("text", ["", "2 0 1", "1 5 3", "x 1 2", "1 -1 4"])
def test_bad_offsets_files(text: str) -> None:
    with pytest.raises(UsageError):
        parse_offsets(text)


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 50)), max_size=20))
def test_coalesce_keeps_the_bytes_in_order_and_is_idempotent(pairs: list[tuple[int, int]]) -> None:
    ranges = [ByteRange(s, s + n) for s, n in pairs]
    merged = coalesce(ranges)
    flat = [i for r in ranges for i in range(r.start, r.end)]
    assert [i for r in merged for i in range(r.start, r.end)] == flat
    assert coalesce(merged) == merged


@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 80)), max_size=30),
    st.integers(1, 300),
    st.integers(0, 200),
)
def test_fetches_deliver_the_wanted_bytes_in_order_within_their_bounds(
    pairs: list[tuple[int, int]], chunk: int, gap: int
) -> None:
    ranges = [ByteRange(s, s + n) for s, n in pairs]
    fetches = list(plan_fetches(ranges, chunksize=chunk, max_gap=gap))
    wanted = [i for r in ranges for i in range(r.start, r.end)]
    assert [i for f in fetches for piece in f.keep for i in range(piece.start, piece.end)] == wanted
    for fetch in fetches:
        assert 0 < fetch.span.length <= chunk
        assert fetch.keep[0].start == fetch.span.start and fetch.keep[-1].end == fetch.span.end
        for before, after in zip(fetch.keep, fetch.keep[1:]):
            assert 0 <= after.start - before.end <= gap, "only small forward gaps are read through"


def test_fetches_read_through_small_gaps_only() -> None:
    ranges = [ByteRange(0, 10), ByteRange(15, 20), ByteRange(100, 110), ByteRange(5, 8)]
    fetches = list(plan_fetches(ranges, chunksize=64, max_gap=5))
    assert [f.span for f in fetches] == [ByteRange(0, 20), ByteRange(100, 110), ByteRange(5, 8)]
    assert fetches[0].keep == (ByteRange(0, 10), ByteRange(15, 20)) and fetches[0].kept == 15


def test_content_range_checks() -> None:
    assert check_content_range("bytes 0-9/100", ByteRange(0, 10), status=206) == 100
    assert check_content_range("bytes 0-4/5", ByteRange(0, 10), status=206) == 5  # clipped at the end
    assert check_content_range("bytes 10-19/100", ByteRange(10, 20), status=200) == 100  # rclone answers 200
    assert check_content_range(None, ByteRange(0, 10), status=200) is None
    with pytest.raises(IntegrityError):
        check_content_range("bytes 5-9/100", ByteRange(0, 10), status=206)
    with pytest.raises(IntegrityError):
        check_content_range(None, ByteRange(10, 20), status=200)


def test_default_schedule_reaches_the_5_tib_object_limit_with_5_mib_parts() -> None:
    schedule = PartSchedule(5 * MIB)
    assert schedule.capacity() >= 5 * TIB
    sizes = [schedule.part_size(n) for n in range(1, MAX_PARTS + 1)]
    assert sizes == sorted(sizes)
    assert sizes[0] == 5 * MIB and max(sizes) <= 5 * 1024**3
    assert sizes[4999] == 5 * MIB and sizes[5000] == 10 * MIB  # flat until the count nears the limit
    assert sizes[5399] == 10 * MIB and sizes[5400] == 20 * MIB


def test_schedule_with_big_chunks_caps_parts_at_5_gib() -> None:
    schedule = PartSchedule(1024 * MIB)
    assert schedule.part_size(MAX_PARTS) == 5 * 1024**3


def test_part_limit_is_an_error() -> None:
    schedule = PartSchedule(5, flat_parts=2, parts_per_tier=2, max_parts=5)
    assert [schedule.part_size(n) for n in range(1, 6)] == [5, 5, 10, 10, 20]
    assert schedule.capacity() == 50
    with pytest.raises(PartLimitExceeded):
        schedule.part_size(6)


@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 80)), max_size=30),
    st.integers(1, 8),
    st.integers(1, 16),
    st.integers(0, 200),
)
def test_block_aligned_fetches_read_whole_blocks_and_still_fit(
    pairs: list[tuple[int, int]], blocks_per_chunk: int, block: int, gap: int
) -> None:
    size = 2080
    ranges = [ByteRange(s, s + n) for s, n in pairs]
    chunk = blocks_per_chunk * block
    fetches = list(plan_fetches(ranges, chunksize=chunk, max_gap=gap, block_size=block, object_size=size))
    wanted = [i for r in ranges for i in range(r.start, r.end)]
    assert [i for f in fetches for piece in f.keep for i in range(piece.start, piece.end)] == wanted
    for fetch in fetches:
        assert 0 < fetch.span.length <= chunk
        assert fetch.span.start % block == 0
        assert fetch.span.end % block == 0 or fetch.span.end == size
        assert fetch.span.start <= fetch.keep[0].start and fetch.keep[-1].end <= fetch.span.end
        assert fetch.span.start > fetch.keep[0].start - block and fetch.span.end < fetch.keep[-1].end + block
