"""Pipes moved on the event loop when ready: a tiny stream makes no worker-thread hop; the rest still works."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import anyio
import pytest

from gps3async.transfer.stdio import INLINE_BYTES, FdSink, FdSource


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every worker-thread hop stdio makes (and still make it)."""
    hops: list[Any] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return hops


async def test_a_tiny_stream_already_in_the_pipe_is_read_without_a_thread(no_threads: list[Any]) -> None:
    read_end, write_end = os.pipe()
    data = os.urandom(1024)
    os.write(write_end, data)
    os.close(write_end)
    source = FdSource(read_end, "stdin")
    buf = bytearray(8 << 20)
    assert await source.readinto(buf) == len(data)
    assert bytes(buf[: len(data)]) == data
    assert await source.readinto(buf) == 0
    assert no_threads == []
    os.close(read_end)


async def test_bytes_that_come_later_are_read_in_the_thread_after_those_already_there(no_threads: list[Any]) -> None:
    read_end, write_end = os.pipe()
    first, later = os.urandom(1000), os.urandom(INLINE_BYTES + 5000)
    os.write(write_end, first)

    def write_later() -> None:
        time.sleep(0.2)
        view = memoryview(later)
        while view:
            view = view[os.write(write_end, view) :]
        os.close(write_end)

    writer = threading.Thread(target=write_later)
    writer.start()
    buf = bytearray(len(first) + len(later) + 10)
    got = await FdSource(read_end, "stdin").readinto(buf)
    writer.join()
    assert got == len(first) + len(later)
    assert bytes(buf[:got]) == first + later
    assert len(no_threads) == 1
    os.close(read_end)


async def test_a_read_from_a_silent_pipe_can_still_be_cancelled() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"x" * 10)  # some bytes inline, then the thread waits for more that never come
    started = time.monotonic()
    with anyio.move_on_after(0.3):
        await FdSource(read_end, "stdin").readinto(bytearray(100))
    assert time.monotonic() - started < 2
    os.close(read_end)
    os.close(write_end)


async def test_a_small_write_to_a_pipe_with_room_makes_no_thread_hop_and_a_large_one_arrives_whole(
    no_threads: list[Any],
) -> None:
    read_end, write_end = os.pipe()
    sink = FdSink(write_end, "stdout")
    small = os.urandom(1024)
    await sink.write(bytearray(small))
    assert no_threads == []
    large = os.urandom(3 << 20)  # more than the pipe holds: the reader below makes room
    received = bytearray()

    def read_all() -> None:
        while chunk := os.read(read_end, 1 << 20):
            received.extend(chunk)

    reader = threading.Thread(target=read_all)
    reader.start()
    await sink.write(bytearray(large))
    os.close(write_end)
    reader.join()
    assert bytes(received) == small + large
    assert no_threads
    os.close(read_end)
