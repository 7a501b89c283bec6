"""Restores check every block before writing it (pure pipeline, small blocks so the cases stay fast)."""

from __future__ import annotations

import hashlib
import os

import crc32c
import pytest

from gps3async.core.errors import IntegrityError
from gps3async.core.integrity.blocks import METADATA_MAX_BLOCKS, BlockList
from gps3async.core.integrity.checksums import DIGEST_SUFFIX, encode_crc32c, expected_digest, parse_document_fields
from gps3async.core.plan import ByteRange, plan_fetches
from gps3async.runtime.buffers import BufferPool
from gps3async.transfer.download import DownloadStats, download_ranges, restore_object
from gps3async.transfer.upload import upload_stream
from tests.pipeline.fakes import FakeStore, RecordingSink, TrickleSource

BS = 4096
PART = 5 * BS + BS // 2  # parts that are not a whole number of blocks: every other part starts mid-block
CHUNK = 3 * BS


async def _backed_up(data: bytes, part: int = PART) -> FakeStore:
    store = FakeStore()
    await upload_stream(store, "k", TrickleSource(data, 1000), chunksize=part, concurrency=2, block_size=BS)
    return store


def _recorded(store: FakeStore) -> BlockList:
    fields = store.metadata.get("k") or parse_document_fields(store.objects["k" + DIGEST_SUFFIX])
    blocks = BlockList.from_fields(fields, len(store.objects["k"]))
    assert blocks is not None
    return blocks


@pytest.mark.parametrize(
    "size", [0, 1, BS - 1, BS, BS + 1, PART - 1, PART, PART + 1, 2 * PART, 2 * PART + BS // 2, 3 * PART + 7]
)
@pytest.mark.parametrize("chunksize", [CHUNK, CHUNK + 100, BS - 1])
async def test_round_trips_check_every_block(size: int, chunksize: int) -> None:
    data = os.urandom(size)
    store = await _backed_up(data)
    blocks = _recorded(store)
    assert len(blocks.crcs) == -(-size // BS)
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=chunksize, concurrency=3, block_size=BS)
    assert sink.data == data and stats.verified
    assert stats.blocks_checked == len(blocks.crcs)
    # ranges are whole blocks (a chunk size that is not a multiple of the block is rounded down, at least one)
    assert all(len(chunk) % BS == 0 for chunk in sink.chunks[:-1])


@pytest.mark.parametrize("flip", [0, BS - 1, BS, 2 * BS + 5, PART + 3, 3 * PART - 1])
async def test_a_corrupted_block_fails_with_only_the_blocks_before_it_written(flip: int) -> None:
    data = os.urandom(3 * PART)
    store = await _backed_up(data)
    store.flip_at = flip
    store.jitter = 0.003
    sink = RecordingSink()
    bad = flip // BS
    with pytest.raises(IntegrityError) as caught:
        await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=3, block_size=BS)
    start, end = bad * BS, min((bad + 1) * BS, len(data)) - 1
    spoiled = bytearray(data[start : end + 1])
    spoiled[flip - start] ^= 0x01
    expected, seen = encode_crc32c(crc32c.crc32c(data[start : end + 1])), encode_crc32c(crc32c.crc32c(spoiled))
    assert str(caught.value) == (
        f"GetObject fake://k: block {bad} (bytes {start}-{end}) does not match the backup's CRC-32C "
        f"(expected CRC-32C {expected}, seen {seen})"
    )
    assert sink.data == data[:start], "exactly the verified blocks before the bad one"


async def test_the_whole_object_crc_still_catches_what_blocks_cannot() -> None:
    data = os.urandom(2 * PART)
    store = await _backed_up(data)
    fields = parse_document_fields(store.objects["k" + DIGEST_SUFFIX])
    fields["gps3async-crc32c"] = "AAAAAA=="  # a record whose whole CRC disagrees with its blocks
    store.objects["k" + DIGEST_SUFFIX] = "".join(f"{n}={v}\n" for n, v in fields.items()).encode()
    sink = RecordingSink()
    with pytest.raises(IntegrityError, match="CRC-32C mismatch"):
        await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert len(sink.data) < len(data), "the last range is held back until the whole object is checked"


async def test_a_wrong_size_fails_before_anything_is_written() -> None:
    data = os.urandom(2 * PART)
    store = await _backed_up(data)
    store.objects["k"] = data + b"x"
    sink = RecordingSink()
    with pytest.raises(IntegrityError, match=f"holds {len(data) + 1} bytes but the backup recorded {len(data)}"):
        await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert sink.data == b""


async def test_subset_fetches_are_widened_to_whole_blocks_and_checked() -> None:
    data = os.urandom(4 * PART)
    store = await _backed_up(data)
    blocks = _recorded(store)
    wanted = [ByteRange(10, 20), ByteRange(BS + 7, 3 * BS + 1), ByteRange(PART * 2 + 3, PART * 3), ByteRange(5, 6)]
    fetches = list(plan_fetches(wanted, chunksize=CHUNK, max_gap=100, block_size=BS, object_size=len(data)))
    sink, stats = RecordingSink(), DownloadStats()
    await download_ranges(
        store, "k", fetches, sink, pool=BufferPool(3, CHUNK), concurrency=2, etag=None, stats=stats, blocks=blocks
    )
    assert sink.data == b"".join(data[r.start : r.end] for r in wanted)
    assert stats.blocks_checked == sum(-(-f.span.length // BS) for f in fetches)
    store.flip_at = 2 * BS + 9  # inside the second wanted range
    sink = RecordingSink()
    with pytest.raises(IntegrityError, match=r"block 2 \(bytes 8192-12287\)"):
        await download_ranges(
            store, "k", fetches, sink, pool=BufferPool(3, CHUNK), concurrency=2, etag=None, stats=DownloadStats(),
            blocks=blocks,
        )  # fmt: skip
    assert sink.data == data[10:20] + data[BS + 7 : 2 * BS], "only wanted bytes of verified blocks"


def _go_multipart_etag(data: bytes, part: int) -> str:
    digests = b"".join(hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part))
    return f'"{hashlib.md5(digests).hexdigest()}-{len(digests) // 16}"'


@pytest.mark.parametrize("size", [0, 100, CHUNK, 5 * CHUNK + 1])
async def test_go_plugin_single_put_is_checked_against_its_md5_etag(size: int) -> None:
    data = os.urandom(size)
    store = FakeStore(objects={"k": data}, etag=f'"{hashlib.md5(data).hexdigest()}"')
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert sink.data == data and stats.verified
    if size:
        store.flip_at = size - 1
        sink = RecordingSink()
        with pytest.raises(IntegrityError, match="fake://k: the bytes do not match the ETag's MD5"):
            await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
        assert len(sink.data) < size, "the last range waits for the check"
        assert sink.data == data[: len(sink.data)]


async def test_go_plugin_multipart_is_checked_against_its_md5_of_part_md5s() -> None:
    part = 2 * CHUNK + 5
    data = os.urandom(3 * part + 11)
    store = FakeStore(objects={"k": data}, etag=_go_multipart_etag(data, part), head_part_size=part)
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert sink.data == data and stats.verified
    assert store.calls.count("head_part") == 1, "uniform parts: part 1 and the object's size tell the rest"
    store.flip_at = part + 1
    with pytest.raises(IntegrityError, match="parts 1-4 do not match the ETag's MD5 of part MD5s"):
        await restore_object(store, "k", RecordingSink(), chunksize=CHUNK, concurrency=2, block_size=BS)


@pytest.mark.parametrize("etag", ['"fake"', '"0123456789abcdef0123456789abcdef-3"'])
async def test_etags_that_say_nothing_checkable_do_not_fail_a_valid_backup(etag: str) -> None:
    data = os.urandom(3 * CHUNK)
    store = FakeStore(objects={"k": data}, etag=etag)  # head_part_size 0: a store that ignores ?partNumber=
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert sink.data == data and not stats.verified


async def test_a_put_too_long_for_metadata_keeps_its_blocks_in_a_companion() -> None:
    data = os.urandom((METADATA_MAX_BLOCKS + 1) * 16)
    store = FakeStore()
    await upload_stream(store, "k", TrickleSource(data, 1000), chunksize=2 * len(data), concurrency=2, block_size=16)
    assert store.metadata["k"]["gps3async-block-size"] == "16" and "gps3async-block-crc32c" not in store.metadata["k"]
    assert expected_digest(store.metadata["k"]) == (crc32c.crc32c(data), len(data)), "earlier releases check it whole"
    store.flip_at = 100 * 16 + 3
    sink = RecordingSink()
    with pytest.raises(IntegrityError, match=r"block 100 \(bytes 1600-1615\)"):
        await restore_object(store, "k", sink, chunksize=64, concurrency=2, block_size=16)
    assert sink.data == data[:1600]
