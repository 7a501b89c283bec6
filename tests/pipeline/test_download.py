from __future__ import annotations

import os
import random

import pytest

from gps3async.core.errors import BrokenOutput, IntegrityError
from gps3async.core.plan import ByteRange, plan_fetches, split
from gps3async.runtime.buffers import BufferPool
from gps3async.transfer.download import DownloadStats, download_ranges, restore_object
from gps3async.transfer.upload import upload_stream
from tests.pipeline.fakes import FakeStore, RecordingSink, TrickleSource

CHUNK = 64 * 1024
#: Blocks smaller than the ranges, so range counts stay as they are with 1 MiB blocks and 16 MiB chunks.
BS = CHUNK // 4


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_ranges_arrive_in_order_despite_random_latency(concurrency: int) -> None:
    data = os.urandom(20 * CHUNK + 99)
    store = FakeStore(jitter=0.01, seed=7, objects={"k": data})
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=concurrency, block_size=BS)
    assert sink.data == data
    assert stats.size == len(data) and stats.requests == 21
    assert store.peak_in_flight <= concurrency
    assert stats.peak_buffered_bytes <= CHUNK * (concurrency + 1)


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1])
async def test_small_objects_take_one_request(size: int) -> None:
    data = os.urandom(size)
    store = FakeStore(objects={"k": data})
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=3, block_size=BS)
    assert sink.data == data
    assert stats.requests == (1 if size <= CHUNK else 2)


async def test_a_subset_of_ranges_comes_out_in_the_order_given() -> None:
    data = os.urandom(5 * CHUNK)
    store = FakeStore(jitter=0.005, objects={"k": data})
    wanted = [ByteRange(3 * CHUNK, 4 * CHUNK + 10), ByteRange(5, 17), ByteRange(0, 1)]
    sink = RecordingSink()
    await download_ranges(
        store, "k", split(wanted, CHUNK), sink, pool=BufferPool(3, CHUNK), concurrency=2, etag=None,
        stats=DownloadStats(),
    )  # fmt: skip
    assert sink.data == b"".join(data[r.start : r.end] for r in wanted)


async def test_many_small_ranges_share_gets_that_read_through_the_gaps() -> None:
    data = os.urandom(4 * CHUNK)
    store = FakeStore(jitter=0.002, seed=3, objects={"k": data})
    rng = random.Random(5)
    wanted, position = [], 0
    while True:
        start = position + rng.randint(0, 2048)
        end = start + rng.randint(1, 4000)
        if end > len(data):
            break
        wanted.append(ByteRange(start, end))
        position = end
    wanted.insert(len(wanted) // 2, ByteRange(100, 200))  # a range that goes back starts a new GET
    sink, stats = RecordingSink(), DownloadStats()
    fetches = plan_fetches(wanted, chunksize=CHUNK, max_gap=2048)
    await download_ranges(
        store, "k", fetches, sink, pool=BufferPool(3, CHUNK), concurrency=2, etag=None, stats=stats
    )  # fmt: skip
    assert sink.data == b"".join(data[r.start : r.end] for r in wanted)
    assert stats.size == len(sink.data)
    # 256 KiB of ranges in GETs of up to 64 KiB, plus the range that goes back and the one after it
    assert stats.requests <= 8, "neighbouring ranges come in one GET"


async def test_a_closed_stdout_stops_the_download_with_only_a_prefix_written() -> None:
    data = os.urandom(10 * CHUNK)
    store = FakeStore(latency=0.001, objects={"k": data})
    sink = RecordingSink(close_after=2 * CHUNK)
    with pytest.raises(BrokenOutput):
        await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=3, block_size=BS)
    assert data.startswith(sink.data) and len(sink.data) == 2 * CHUNK
    assert store.in_flight == 0


@pytest.mark.parametrize("size", [10, 5 * CHUNK + 3])
async def test_recorded_digest_is_checked_and_a_flipped_byte_is_caught(size: int) -> None:
    data = os.urandom(size)
    store = FakeStore()
    await upload_stream(store, "k", TrickleSource(data, 4096), chunksize=CHUNK, concurrency=2, block_size=BS)
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert sink.data == data and stats.verified
    store.flip_at = size - 1
    with pytest.raises(IntegrityError, match=r"block \d+ \(bytes \d+-\d+\) does not match the backup's CRC-32C"):
        await restore_object(store, "k", RecordingSink(), chunksize=CHUNK, concurrency=2, block_size=BS)


async def test_objects_without_a_digest_are_checked_by_size_only() -> None:
    data = os.urandom(3 * CHUNK)
    store = FakeStore(objects={"k": data})  # as the Go plugin leaves them: no metadata, no tags
    sink = RecordingSink()
    stats = await restore_object(store, "k", sink, chunksize=CHUNK, concurrency=2, block_size=BS)
    assert sink.data == data and not stats.verified
