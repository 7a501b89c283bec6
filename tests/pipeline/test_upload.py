from __future__ import annotations

import os

import anyio
import pytest

from gps3async.core.errors import PartLimitExceeded, StorageError
from gps3async.core.plan import PartSchedule
from gps3async.transfer.upload import upload_stream
from tests.pipeline.fakes import FailingSource, FakeStore, TrickleSource

CHUNK = 64 * 1024


@pytest.mark.parametrize("concurrency", [1, 3, 6])
async def test_memory_and_requests_stay_bounded_on_a_long_stream(concurrency: int) -> None:
    store = FakeStore(latency=0.001, jitter=0.004, seed=concurrency)
    data = os.urandom(20 * CHUNK + 123)
    stats = await upload_stream(store, "k", TrickleSource(data, 4096), chunksize=CHUNK, concurrency=concurrency)
    assert store.objects["k"] == data
    assert stats.size == len(data) and stats.parts == 21
    assert stats.peak_buffered_bytes <= CHUNK * (concurrency + 1)
    assert store.peak_in_flight <= concurrency
    assert stats.peak_in_flight == store.peak_in_flight
    if concurrency > 1:
        assert store.peak_in_flight > 1, "parts should overlap"


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK], ids=["0", "1", "c-1", "c", "c+1", "3c"]
)
async def test_sizes_around_the_chunk_boundary(size: int) -> None:
    store = FakeStore()
    data = os.urandom(size)
    stats = await upload_stream(store, "k", TrickleSource(data, 1000), chunksize=CHUNK, concurrency=2)
    assert store.objects["k"] == data
    single = size < CHUNK
    assert ("upload_part" in store.calls) is not single
    assert stats.parts == max(1, -(-size // CHUNK))


async def test_one_byte_writes_still_round_trip() -> None:
    store = FakeStore()
    data = os.urandom(2 * 4096 + 7)
    await upload_stream(store, "k", TrickleSource(data, 1), chunksize=4096, concurrency=2)
    assert store.objects["k"] == data


async def test_part_size_grows_past_the_tier_and_memory_keeps_its_budget() -> None:
    store = FakeStore()
    schedule = PartSchedule(1024, flat_parts=4, parts_per_tier=4, max_parts=12)
    data = os.urandom(4 * 1024 + 4 * 2048 + 3 * 4096 + 5)  # reaches the third tier
    stats = await upload_stream(store, "k", TrickleSource(data, 777), chunksize=1024, concurrency=3, schedule=schedule)
    assert store.objects["k"] == data
    assert store.part_sizes.count(1024) == 4 and store.part_sizes.count(2048) == 4
    assert sorted(store.part_sizes)[-1] == 4096
    assert stats.peak_buffered_bytes <= max(1024 * 4, 2 * 4096)


async def test_a_stream_beyond_the_part_limit_fails_and_aborts() -> None:
    store = FakeStore()
    schedule = PartSchedule(1024, flat_parts=2, parts_per_tier=2, max_parts=4)
    with pytest.raises(PartLimitExceeded):
        await upload_stream(
            store, "k", TrickleSource(os.urandom(schedule.capacity() + 1), 4096),
            chunksize=1024, concurrency=2, schedule=schedule,
        )  # fmt: skip
    assert store.aborted and not store.uploads and "k" not in store.objects


async def test_a_failed_part_aborts_the_upload() -> None:
    store = FakeStore(latency=0.001, fail_part=3)
    with pytest.raises(StorageError):
        await upload_stream(store, "k", TrickleSource(os.urandom(10 * CHUNK), 8192), chunksize=CHUNK, concurrency=3)
    assert store.aborted == ["upload-0"] and store.uploads == {}


async def test_a_broken_stdin_aborts_the_upload() -> None:
    store = FakeStore()
    with pytest.raises(OSError, match="stdin went away"):
        await upload_stream(store, "k", FailingSource(os.urandom(3 * CHUNK + 5)), chunksize=CHUNK, concurrency=2)
    assert store.aborted == ["upload-0"] and "k" not in store.objects


async def test_cancellation_from_outside_aborts_the_upload() -> None:
    store = FakeStore(latency=0.05)
    with anyio.move_on_after(0.2):
        await upload_stream(store, "k", TrickleSource(os.urandom(50 * CHUNK), 8192), chunksize=CHUNK, concurrency=2)
    assert store.aborted == ["upload-0"] and "k" not in store.objects
