from __future__ import annotations

import base64
from array import array

import crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gps3async.core.integrity.blocks import (
    BLOCK_CRC_NAME,
    BLOCK_SIZE,
    BLOCK_SIZE_NAME,
    METADATA_MAX_BLOCKS,
    BlockList,
    BlockListBuilder,
    BlockListError,
    align_down,
    block_count,
    check_span,
    decode_block_crcs,
    digest_span,
    encode_block_crcs,
    piece_bounds,
)
from gps3async.core.integrity.checksums import SIZE_NAME, digest_fields, expected_digest

# Small blocks keep hypothesis fast; the arithmetic does not depend on the size.
BS = 16


def _blocks_of(data: bytes, block_size: int) -> list[int]:
    return [crc32c.crc32c(data[i : i + block_size]) for i in range(0, len(data), block_size)]


def _cut(data: bytes, sizes: list[int]) -> list[tuple[int, bytes]]:
    spans, start = [], 0
    for size in sizes:
        if start >= len(data):
            break
        spans.append((start, data[start : start + size]))
        start += size
    if start < len(data):
        spans.append((start, data[start:]))
    return spans


@given(st.binary(max_size=200), st.lists(st.integers(1, 60), max_size=10), st.integers(1, 40))
def test_parts_of_any_size_fold_into_the_blocks_of_the_whole(data: bytes, sizes: list[int], block_size: int) -> None:
    builder = BlockListBuilder(block_size)
    for start, span in _cut(data, sizes):
        digest = digest_span(span, start, block_size)
        assert digest.crc32c == crc32c.crc32c(span)
        builder.add(digest)
    blocks = builder.finish()
    assert list(blocks.crcs) == _blocks_of(data, block_size)
    assert blocks.size == len(data)


@given(st.integers(0, 100), st.integers(0, 100), st.integers(1, 17))
def test_piece_bounds_cut_only_at_block_boundaries(start: int, length: int, block_size: int) -> None:
    bounds = list(piece_bounds(start, length, block_size))
    assert sum(end - begin for begin, end in bounds) == length
    for begin, end in bounds:
        assert begin // block_size == (end - 1) // block_size
    for (_, end), (begin, _) in zip(bounds, bounds[1:], strict=False):
        assert end == begin and end % block_size == 0


@given(st.lists(st.integers(0, 2**32 - 1), max_size=50))
def test_encoding_is_big_endian_base64_and_round_trips(values: list[int]) -> None:
    text = encode_block_crcs(array("I", values))
    assert base64.b64decode(text) == b"".join(value.to_bytes(4, "big") for value in values)
    assert list(decode_block_crcs(text)) == values


def test_malformed_lists_are_refused() -> None:
    with pytest.raises(BlockListError):
        decode_block_crcs("not base64!")
    with pytest.raises(BlockListError):
        decode_block_crcs(base64.b64encode(b"12345").decode())
    with pytest.raises(BlockListError):  # two blocks recorded for a one-block object
        BlockList(BS, BS, array("I", [1, 2]))
    with pytest.raises(BlockListError):
        BlockList.from_fields({BLOCK_SIZE_NAME: "x", BLOCK_CRC_NAME: ""}, 0)
    assert BlockList.from_fields({}, 10) is None


def test_fields_round_trip_and_old_readers_ignore_them() -> None:
    data = bytes(range(256)) * 10
    builder = BlockListBuilder(BS)
    builder.add(digest_span(data, 0, BS))
    blocks = builder.finish()
    fields = {**digest_fields(crc32c.crc32c(data), len(data)), **blocks.fields()}
    again = BlockList.from_fields(fields, int(fields[SIZE_NAME]))
    assert again is not None and list(again.crcs) == list(blocks.crcs) and again.block_size == BS
    # The rule earlier releases parse the companion with: split each line at its first "=".
    document = "".join(f"{name}={value}\n" for name, value in fields.items()).encode("ascii")
    old = dict(line.partition("=")[::2] for line in document.decode("ascii", "replace").splitlines())
    assert expected_digest(old) == (crc32c.crc32c(data), len(data))
    assert BlockList.from_fields(old, len(data)) == blocks  # base64's "=" padding survives the first-"=" split


def test_metadata_bound_keeps_well_inside_two_kilobytes() -> None:
    crcs = array("I", [0xFFFFFFFF] * METADATA_MAX_BLOCKS)
    blocks = BlockList(BLOCK_SIZE, METADATA_MAX_BLOCKS * BLOCK_SIZE, crcs)
    fields = {**digest_fields(0xFFFFFFFF, blocks.size), **blocks.fields()}
    assert blocks.fits_metadata()
    assert sum(len(name) + len(value) for name, value in fields.items()) < 1200
    assert not BlockList(BLOCK_SIZE, blocks.size + 1, array("I", [0] * (METADATA_MAX_BLOCKS + 1))).fits_metadata()


@given(st.binary(min_size=1, max_size=200), st.data())
def test_check_span_finds_the_first_corrupted_block(data: bytes, draw: st.DataObject) -> None:
    builder = BlockListBuilder(BS)
    builder.add(digest_span(data, 0, BS))
    blocks = builder.finish()
    start = draw.draw(st.integers(0, len(data) - 1))
    end = draw.draw(st.integers(start + 1, len(data)))
    clean = check_span(blocks, data[start:end], start)
    assert clean.bad is None and clean.crc32c == crc32c.crc32c(data[start:end])
    whole_blocks = [
        i for i in range(block_count(len(data), BS)) if start <= i * BS and min((i + 1) * BS, len(data)) <= end
    ]
    assert clean.checked == len(whole_blocks)
    flip = draw.draw(st.integers(start, end - 1))
    spoiled = bytearray(data)
    spoiled[flip] ^= 0x01
    found = check_span(blocks, spoiled[start:end], start)
    if flip // BS in whole_blocks:
        assert found.bad is not None and found.bad.index == flip // BS
        assert found.bad.start == flip // BS * BS and found.bad.seen != found.bad.expected
        assert found.bad.where().startswith(f"block {flip // BS} (bytes {found.bad.start}-")
    else:
        assert found.bad is None  # a block read only in part cannot be checked


def test_align_down_keeps_at_least_one_block() -> None:
    assert align_down(5 * BLOCK_SIZE + 7, BLOCK_SIZE) == 5 * BLOCK_SIZE
    assert align_down(100, BLOCK_SIZE) == BLOCK_SIZE
    assert align_down(2 * BLOCK_SIZE, BLOCK_SIZE) == 2 * BLOCK_SIZE


def test_a_block_straddling_two_real_sized_parts() -> None:
    part = 5 * BLOCK_SIZE + BLOCK_SIZE // 2  # 5.5 MiB parts: every second part starts mid-block
    data = bytes(range(251)) * (3 * part // 251 + 1)
    builder = BlockListBuilder()
    for start in range(0, len(data), part):
        builder.add(digest_span(data[start : start + part], start))
    assert list(builder.finish().crcs) == _blocks_of(data, BLOCK_SIZE)
